"""One training iteration recorded as a CUDA graph and replayed (speed.cuda_graphs).

A WGAN-GP iteration launches thousands of small kernels (five critic updates with a double
backward, one generator update); replaying them as one graph removes the per-kernel launch cost.
torch.compile cannot trace the gradient penalty's double backward; a graph records it as it is.
Every method's `iteration` (methods/base.py `run_iteration`) goes through here.

What a recorded iteration needs, and how it gets it:
- static shapes: the inputs are copied into buffers recorded once; a call with other shapes
  runs eagerly;
- optimizers safe to record: `make_capturable` keeps their step counts and learning rates in
  device tensors (a scheduler then updates the rate in place, outside the graph);
- randomness: drawn inside the graph from the CUDA generator, which graphs advance per replay;
- no host syncs inside (nothing calls .item()); the returned tensors are the graph's outputs,
  overwritten by the next replay.
The first `warmup` calls run eagerly on a side stream (optimizer state, cuDNN's algorithm
choice), as CUDA graphs require. If recording fails the iteration stays eager, with a warning.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import torch


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Prepare `optimizer` (its state possibly restored from a checkpoint) for recording: the
    capturable flag, and learning rate and step counts as tensors on `device`."""
    for group in optimizer.param_groups:
        if "capturable" in group:
            group["capturable"] = True
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)
        else:
            group["lr"] = group["lr"].to(device)
    for state in optimizer.state.values():
        step = state.get("step")
        if isinstance(step, torch.Tensor) and step.device != device:
            state["step"] = step.to(device=device, dtype=torch.float32)


class GraphedIteration:
    """Calls fn(*inputs) → dict of tensors: eagerly off CUDA, else warm-up, record, replay."""

    def __init__(self, fn: Callable[..., dict[str, torch.Tensor]], warmup: int = 3) -> None:
        self.fn, self.warmup = fn, max(int(warmup), 1)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self.static_inputs: list[torch.Tensor] = []
        self.static_outputs: dict[str, torch.Tensor] = {}

    @property
    def recorded(self) -> bool:
        return self.graph is not None

    @staticmethod
    def _autocast():
        # a recorded graph must not rely on autocast's cache of cast weights
        if not torch.is_autocast_enabled("cuda"):
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False)

    def __call__(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.failed or not self._applies(inputs[0]):
            return self.fn(*inputs)
        if self.graph is not None:
            if [x.shape for x in inputs] != [x.shape for x in self.static_inputs]:
                return self.fn(*inputs)
            for static, x in zip(self.static_inputs, inputs):
                static.copy_(x)
            self.graph.replay()
            return self.static_outputs
        if self.calls < self.warmup:
            self.calls += 1
            return self._warmup(inputs)
        return self._record(inputs)

    def _record(self, inputs) -> dict[str, torch.Tensor]:
        static = [x.detach().clone() for x in inputs]
        try:
            graph, outputs = self._capture(static)
        except RuntimeError as err:  # recording executes nothing: the eager call is still due
            self.failed = True
            warnings.warn(f"recording the training iteration as a CUDA graph failed; "
                          f"training on without (speed.cuda_graphs=false hides this): {err}")
            return self.fn(*inputs)
        self.graph, self.static_inputs, self.static_outputs = graph, static, outputs
        graph.replay()  # the recorded call's own iteration
        return self.static_outputs

    # -- the CUDA specifics (tests stand in for them on the CPU) -------------------------------
    @staticmethod
    def _applies(x: torch.Tensor) -> bool:
        return x.device.type == "cuda"

    def _warmup(self, inputs) -> dict[str, torch.Tensor]:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), self._autocast():
            out = self.fn(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self, static_inputs):
        graph = torch.cuda.CUDAGraph()
        with self._autocast(), torch.cuda.graph(graph):
            outputs = self.fn(*static_inputs)
        return graph, outputs
