"""last.ckpt, the state a run resumes from: every N epochs or N training steps as configured,
and once more when training ends between two of those (max_steps, max_time), so that a
finished run always leaves its final state. (A run stopped by an error keeps its last good
one.)"""
from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if trainer.global_step > 0 and not self._should_skip_saving_checkpoint(trainer):
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))
