"""last.ckpt, the state a run resumes from: every N epochs or N training steps as configured,
and once more when training ends, so that a finished run always leaves its final state (when
max_steps or max_time end it between two saves) with what the other callbacks recorded at its
end (the FID curve's last point, measured after the last scheduled save). (A run stopped by an
error keeps its last good one.)"""
from __future__ import annotations

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn


class LastCheckpoint(ModelCheckpoint):
    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        # Lightning's own check would skip a step already saved: the callbacks' end-of-training
        # hooks have run since (checkpoint callbacks run last)
        if (trainer.global_step > 0 and not trainer.fast_dev_run and not trainer.sanity_checking
                and trainer.state.fn == TrainerFn.FITTING):
            self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))
