"""Stops a run whose losses become NaN or infinite, naming the step and the loss (whose name
says the network: train/critic, train/generator, train/encoder…). The exception leaves the
checkpoints as they were: the last good one is kept."""
from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.errors import PegasusError


class DivergenceError(PegasusError):
    """Training produced a non-finite loss."""


class DivergenceGuard(Callback):
    def __init__(self, every_n_steps: int = 1) -> None:
        # every step costs one host sync; every_n_steps > 1 for the fastest runs
        self.every_n_steps = max(int(every_n_steps), 1)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps:
            return
        losses = {k: v for k, v in trainer.callback_metrics.items()
                  if k.startswith("train/") and not k.endswith("_epoch")
                  and isinstance(v, torch.Tensor) and v.numel() == 1}
        if not losses or bool(torch.stack([v.float() for v in losses.values()]).isfinite().all()):
            return
        bad = {k: float(v) for k, v in losses.items() if not math.isfinite(float(v))}
        name = next(iter(bad))
        last = None
        for cb in trainer.checkpoint_callbacks:
            last = getattr(cb, "last_model_path", None) or getattr(cb, "best_model_path", None)
            if last:
                break
        raise DivergenceError(
            f"training diverged at step {trainer.global_step}: {name} is {bad[name]} "
            f"(network: {name.split('/', 1)[1].removesuffix('_step')}; all non-finite: "
            f"{sorted(bad)}); stopped. Last good checkpoint: {last or 'none written yet'}")
