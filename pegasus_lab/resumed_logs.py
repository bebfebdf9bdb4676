"""A resumed run's logs without the steps it trains again.

A run killed (or preempted) after its last checkpoint had logged the steps past it; resumed
from that checkpoint, it trains those steps again and logs them a second time: TensorBoard's
curves would turn back on themselves and metrics.csv hold two rows for a step. Before the
resumed run logs anything, its TensorBoard logs get a restart marker at the step it goes on
from (TensorBoard then hides the earlier events of that step and later, as torch's
SummaryWriter(purge_step=…) does), and metrics.csv loses those rows: when training starts, so
that a resumed run failing before it leaves the logs as they were."""
from __future__ import annotations

import logging

from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class DropReplayedLogs(Callback):
    """`drop_logs_from(trainer, step)` once the resumed run starts training at `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_start(self, trainer, pl_module) -> None:
        drop_logs_from(trainer, self.step)


def logged_step(checkpoint: dict) -> int:
    """The first step a run resumed from `checkpoint` logs: Lightning logs at its count of
    batches that stepped (the trainer's global step in every method here)."""
    loop = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop.get("_batches_that_stepped", checkpoint.get("global_step", 0)))


def drop_logs_from(trainer, step: int) -> None:
    """Hide (TensorBoard) or remove (CSV) what the trainer's loggers hold of steps ≥ `step`."""
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog

    from pegasus_lab.csv_logger import ContinuingCSVLogger
    from pegasus_lab.images import tensorboard_writers
    if not trainer.is_global_zero:
        return
    for writer in tensorboard_writers(trainer):
        writer._get_file_writer().add_event(
            Event(step=step, session_log=SessionLog(status=SessionLog.START)))
        writer.flush()
    for logger in trainer.loggers:
        if isinstance(logger, ContinuingCSVLogger):
            dropped = logger.experiment.drop_from(step)
            if dropped:
                log.info("metrics.csv: %d rows of steps ≥ %d dropped (trained again from the "
                         "checkpoint)", dropped, step)
