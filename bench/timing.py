"""Timers that run inside the real Trainer: the device is synchronised only at the two ends of
what is measured, so the loop in between runs as it does for users."""
from __future__ import annotations

import time
import warnings

import torch
from lightning.pytorch.callbacks import Callback


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class SyncCount:
    """Counts the host syncs torch reports on CUDA (its sync debug mode set to warn) between
    start() and stop(), and how many steps (`step()` marks their bounds) had at least one: the
    steps that waited for the GPU (a logging step reads several values back, one wait). Off
    CUDA it counts nothing (None)."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.steps: int | None = None
        self._catch = self._records = None
        self._seen = 0

    def start(self, device: torch.device) -> None:
        if device.type != "cuda":
            return
        self._catch = warnings.catch_warnings(record=True)
        self._records = self._catch.__enter__()
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        self.count, self.steps, self._seen = 0, 0, 0

    def step(self) -> None:
        if self._records is None:
            return
        syncs = [w for w in self._records[self._seen:] if "synchroniz" in str(w.message)]
        self._seen = len(self._records)
        self.count += len(syncs)
        self.steps += bool(syncs)

    def stop(self) -> None:
        if self._catch is None:
            return
        self.step()
        torch.cuda.set_sync_debug_mode("default")
        self._catch.__exit__(None, None, None)
        self._catch = self._records = None


class IterationTimer(Callback):
    """Training steps per second between global step `warmup` and `warmup + measure`, then
    stops the run; on CUDA also how many host syncs the timed steps made."""

    def __init__(self, warmup: int, measure: int) -> None:
        self.warmup, self.measure = int(warmup), int(measure)
        self.started: float | None = None
        self.seconds: float | None = None
        # from the fit's start (the sanity check's validation included) to the end of the
        # warm-up steps (compiling, recording)
        self.startup: float | None = None
        self._train_start: float | None = None
        self.syncs = SyncCount()

    def on_fit_start(self, trainer, pl_module) -> None:
        self._train_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self.warmup and self.started is None:
            synchronize(pl_module.device)
            self.started = time.perf_counter()
            if self._train_start is not None:
                self.startup = self.started - self._train_start
            self.syncs.start(pl_module.device)
        elif step == self.warmup + self.measure and self.started is not None:
            self.syncs.stop()
            synchronize(pl_module.device)
            self.seconds = time.perf_counter() - self.started
            trainer.should_stop = True

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        # a step's syncs: from its start to the next one's (its logging comes after its hooks)
        self.syncs.step()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.syncs.stop()

    def on_train_end(self, trainer, pl_module) -> None:
        self.syncs.stop()

    @property
    def per_second(self) -> float | None:
        return None if not self.seconds else self.measure / self.seconds


class EpochTimer(Callback):
    """Seconds per whole epoch (training, validation, checkpoints, figures): the time between
    the starts of consecutive epochs, and from the last start to the end of training. The first
    epoch's time starts with the fit, so it holds what a user waits for before it: Lightning's
    sanity-check validation batches (and whatever they compile)."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self._first_epoch = True

    def _mark(self, pl_module) -> None:
        synchronize(pl_module.device)
        self.marks.append(time.perf_counter())

    def on_fit_start(self, trainer, pl_module) -> None:
        self._mark(pl_module)
        self._first_epoch = True

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if not self._first_epoch:  # the first epoch counts from the fit's start
            self._mark(pl_module)
        self._first_epoch = False

    def on_train_end(self, trainer, pl_module) -> None:
        self._mark(pl_module)

    @property
    def epoch_seconds(self) -> list[float]:
        return [b - a for a, b in zip(self.marks, self.marks[1:])]
