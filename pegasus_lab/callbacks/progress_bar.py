"""A progress bar that reads the logged values back only in the steps that log them.

Reading a value on the GPU back to Python waits for all the work queued so far (a host sync),
which stalls a loop whose steps are queued ahead, like a replayed CUDA graph. Lightning reads
every value logged with prog_bar=True back after every batch, whether or not it is new. So the
methods log what the bar shows with logger=False only (their `progress_bar_keys`, kept as
tensors among the callback metrics), and this bar converts those values when they are new: in
a step a method logged in (`GenerativeModule.logged_at_step`; with speed.sparse_logging every
trainer.log_every_n_steps steps), whose logging reads its values back anyway, and at epoch and
validation ends. Between those steps it refreshes its counter and rate only.
"""
from __future__ import annotations

from lightning.pytorch.callbacks import TQDMProgressBar

from pegasus_lab.speed import logs_sparsely


class LoggedValuesProgressBar(TQDMProgressBar):
    # the methods log their progress_bar_keys for this bar without prog_bar=True
    # (GenerativeModule.log_for_progress_bar); for any other bar, with it
    reads_progress_bar_keys = True

    def __init__(self, refresh_rate: int = 1, process_position: int = 0,
                 leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position,
                         leave=leave)
        self._in_train_batch = False
        self._shown: dict | None = None
        self._shown_step: object = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._in_train_batch = True
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            bar = self._train_progress_bar
            if logs_sparsely(pl_module) and bar is not None and not bar.disable \
                    and getattr(pl_module, "logged_at_step", None) != self._shown_step:
                # new values on a batch that is no refresh: read them now, in the step whose
                # logging reads them anyway, not on a later one (shown at the next refresh)
                bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        finally:
            self._in_train_batch = False

    def get_metrics(self, trainer, pl_module) -> dict:
        logged = getattr(pl_module, "logged_at_step", None)
        if self._in_train_batch and self._shown is not None and logged == self._shown_step:
            return self._shown  # nothing logged since the last read: nothing to read back
        shown = super().get_metrics(trainer, pl_module)
        values = trainer.callback_metrics
        for key in getattr(pl_module, "progress_bar_keys", ()):
            if key in values:
                shown[key] = float(values[key])
        self._shown, self._shown_step = shown, logged
        return shown
