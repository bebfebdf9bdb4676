"""The `fused_optimizers` switch on its own: the time one paper-2 iteration spends in its
optimizer steps (n_critic critic steps and one generator step, torch's Adam with the
experiment's settings) on its networks, for each way torch's Adam can run:

- for_loop: a few kernels per parameter tensor (foreach=False);
- foreach: the multi-tensor kernels, torch's default on a GPU (speed=plain there);
- fused: one fused kernel per step (speed.fused_optimizers).

Timed eagerly, with fixed random gradients: what the steps cost, not what they compute. Inside
a replayed CUDA graph (speed.cuda_graphs) the launches cost less; the kernels and their memory
passes remain. Run by `python -m bench.run --only optimizers`."""
from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from bench.timing import synchronize

VARIANTS = {"for_loop": {"foreach": False}, "foreach": {"foreach": True},
            "fused": {"fused": True}}


def time_optimizer_steps(networks: dict[str, nn.Module], factories: dict[str, Callable],
                         steps: list[str], iters: int, warmup: int = 3) -> dict:
    """Median milliseconds per iteration of `steps` (names of `networks`, each stepping the
    optimizer `factories[name]` builds over that network's parameters), for each of VARIANTS."""
    device = next(next(iter(networks.values())).parameters()).device
    params = {n: [p for p in net.parameters() if p.requires_grad] for n, net in networks.items()}
    generator = torch.Generator(device="cpu").manual_seed(0)
    for p in (p for ps in params.values() for p in ps):
        p.grad = (torch.randn(p.shape, generator=generator) * 1e-3).to(device)
    result: dict = {"steps_per_iteration": len(steps),
                    "parameter_tensors": {n: len(ps) for n, ps in params.items()}}
    for variant, options in VARIANTS.items():
        optimizers = {n: factories[n](params=params[n], **options) for n in networks}
        seconds = []
        for i in range(warmup + iters):
            synchronize(device)
            start = time.perf_counter()
            for name in steps:
                optimizers[name].step()
            synchronize(device)
            seconds.append(time.perf_counter() - start)
        timed = sorted(seconds[warmup:])
        result[f"{variant}_ms"] = 1000 * timed[len(timed) // 2]  # median: robust to hiccups
    result["fused_vs_foreach"] = result["foreach_ms"] / result["fused_ms"]
    return result
