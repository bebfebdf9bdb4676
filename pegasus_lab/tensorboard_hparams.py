"""A run's config in TensorBoard's HPARAMS tab, so the jobs of a multirun compare side by side.

Lightning writes TensorBoard's hyperparameter summary only together with metric values (a
placeholder `hp_metric` of -1 by default, which this project turns off to keep the curves
clean), so without this the tab stays empty. One session start per run is enough: with no
experiment summary, TensorBoard offers every scalar the runs log (val/loss, metrics/fid, …)
as a metric column, at its last value, and the tab fills in while the jobs still train."""
from __future__ import annotations

from collections.abc import Mapping


def write_session_start(trainer, hparams: Mapping[str, int | float | str | bool]) -> None:
    """Write the session start (the run's hyperparameters) to each TensorBoard log of `trainer`."""
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    from pegasus_lab.images import tensorboard_writers
    writers = tensorboard_writers(trainer) if trainer.is_global_zero else []
    if not writers:
        return
    _, session_start, _ = hparams_summaries(dict(hparams), {})
    for writer in writers:
        writer._get_file_writer().add_summary(session_start)
        writer.flush()
