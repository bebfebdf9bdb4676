"""Stops a run whose losses become NaN or infinite, naming the step and the loss (whose name
says the network: train/critic, train/generator, train/encoder…). The exception leaves the
checkpoints as they were: the last good one is kept."""
from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.errors import PegasusError
from pegasus_lab.speed import logs_sparsely


class DivergenceError(PegasusError):
    """Training produced a non-finite loss."""


class DivergenceGuard(Callback):
    def __init__(self, every_n_steps: int | None = None) -> None:
        # A check costs one host sync. None: every step, or with speed.sparse_logging on the
        # steps whose losses are logged (a NaN then stops the run at most that many steps late:
        # non-finite weights stay non-finite).
        self.every_n_steps = None if every_n_steps is None else max(int(every_n_steps), 1)

    def _interval(self, trainer, pl_module) -> int:
        if self.every_n_steps is not None:
            return self.every_n_steps
        return max(int(trainer.log_every_n_steps or 1), 1) if logs_sparsely(pl_module) else 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self._interval(trainer, pl_module):
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
