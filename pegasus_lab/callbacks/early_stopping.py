"""Lightning's EarlyStopping, where a run that stopped stays stopped when it is resumed (as
the FID curve's `patience` does). Lightning's own, restored from the checkpoint, trains
one more validation interval and stops again, so running a recipe again (resume=auto)
would add an epoch to a finished run. Here the stop holds while the setting that caused it is
still on: a larger `patience`, or the threshold set to null, lets the resumed run go on.
Lightning's version also restores the old `patience` over the one given for the resumed
run; here the one given is kept."""
from __future__ import annotations

import logging

from lightning.pytorch.callbacks import early_stopping

log = logging.getLogger(__name__)
Reason = early_stopping.EarlyStoppingReason


class EarlyStopping(early_stopping.EarlyStopping):
    def load_state_dict(self, state_dict: dict) -> None:
        patience = self.patience  # this run's setting, not the stored one
        super().load_state_dict(state_dict)
        self.patience = patience

    def on_train_start(self, trainer, pl_module) -> None:
        if self.stopping_reason is Reason.NOT_STOPPED or not self._still_stopped():
            return
        trainer.should_stop = True
        said = (self.stopping_reason_message or self.stopping_reason.name).replace(
            " Signaling Trainer to stop.", "")
        log.info("the run had stopped early at epoch %d (%s): it stays stopped, nothing is "
                 "trained; %s lets it go on", self.stopped_epoch, said, self._going_on())

    def _still_stopped(self) -> bool:
        """Whether the stored stop still holds under this run's settings."""
        if self.stopping_reason is Reason.PATIENCE_EXHAUSTED:
            return self.wait_count >= self.patience
        if self.stopping_reason is Reason.STOPPING_THRESHOLD:
            return self.stopping_threshold is not None
        if self.stopping_reason is Reason.DIVERGENCE_THRESHOLD:
            return self.divergence_threshold is not None
        return self.check_finite

    def _going_on(self) -> str:
        setting = {Reason.PATIENCE_EXHAUSTED: f"patience={self.wait_count + 1} (or more)",
                   Reason.STOPPING_THRESHOLD: "stopping_threshold=null",
                   Reason.DIVERGENCE_THRESHOLD: "divergence_threshold=null",
                   Reason.NON_FINITE_METRIC: "check_finite=false"}[self.stopping_reason]
        return f"callbacks.early_stopping.{setting}"
