"""Applies the speed switches (pegasus_lab.speed) to a run: backend flags, NHWC weights and
torch.compile at setup, before the optimizers are built; the method reads the rest (fused
optimizers, CUDA graphs, sparse logging) from `pl_module.speed`."""
from __future__ import annotations

import functools

import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.nets.fused_ops import REWRITES
from pegasus_lab.nets.layer_norm import LayerNorm2d
from pegasus_lab.speed import Speed, channels_last, compile_training_calls


class SpeedUp(Callback):
    def __init__(self, speed: Speed) -> None:
        self.speed = speed

    def setup(self, trainer, pl_module, stage: str) -> None:
        speed = self.speed.on(trainer.strategy.root_device)
        speed.apply_backend()
        pl_module.speed = speed
        if stage != "fit":
            return
        # the same functions computed another way (nets/fused_ops.py, nets/layer_norm.py)
        for switch, kinds in (("fused_layers", REWRITES), ("fused_norms", (LayerNorm2d,))):
            if getattr(speed, switch):
                for m in pl_module.modules():
                    if isinstance(m, kinds):
                        m.fused = True
        if speed.channels_last:
            channels_last([pl_module])
        networks = pl_module.compilable_networks() if speed.compile else []
        steps = speed.compile_critic_step and hasattr(pl_module, "compile_steps")
        if networks or steps:
            from torch._dynamo import config as dynamo_config
            # where compilation fails (no Triton for this GPU, an unsupported op) the network
            # runs eagerly, with torch's warning, instead of stopping the run
            dynamo_config.suppress_errors = True
        if networks:
            if pl_module.retains_graph:
                # compiled backward passes may free ("donate") saved buffers unless told that
                # the graph is backpropagated more than once (torch < 2.5 donates none)
                import torch._functorch.config as functorch_config
                if hasattr(functorch_config, "donated_buffer"):
                    functorch_config.donated_buffer = False
            for name in networks:  # training calls compiled, eval calls eager
                compile_training_calls(getattr(pl_module, name),
                                       backend=speed.compile_backend, mode=speed.compile_mode)
        if steps:
            pl_module.compile_steps(functools.partial(
                torch.compile, backend=speed.compile_backend, mode=speed.compile_mode))
