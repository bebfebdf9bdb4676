"""A run resumed from a checkpoint older than its logs (killed or preempted after it) logs the
steps it trains again once: TensorBoard hides the earlier events of those steps, metrics.csv
drops their rows. (The SIGKILL case end to end: tests/cli/test_reliability.py.)"""
import csv
import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pegasus_lab.cli.train import train
from pegasus_lab.csv_logger import ContinuingCSVLogger
from pegasus_lab.errors import DataError
from pegasus_lab.resumed_logs import logged_step
from tests.conftest import SMOKE, compose_config


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_rows_of_the_steps_trained_again_are_dropped(tmp_path):
    logger = ContinuingCSVLogger(tmp_path, name="csv", version="")
    for step in range(6):
        logger.log_metrics({"train/loss": float(step)}, step=step)
    logger.save()
    assert logger.experiment.drop_from(6) == 0  # nothing past the end
    assert logger.experiment.drop_from(4) == 2
    rows = _rows(tmp_path / "csv" / "metrics.csv")
    assert [r["step"] for r in rows] == ["0", "1", "2", "3"]
    assert list(rows[0]) == ["step", "train/loss"]  # the header as it was


def test_the_logged_step_is_lightning_s_count_of_batches_that_stepped():
    loops = {"fit_loop": {"epoch_loop.state_dict": {"_batches_that_stepped": 7}}}
    assert logged_step({"global_step": 7, "loops": loops}) == 7
    assert logged_step({"global_step": 5}) == 5  # a checkpoint without loop state


def test_a_run_resumed_from_an_older_checkpoint_logs_each_step_once(tmp_path):
    run = [*SMOKE, "logger=[tensorboard,csv]", "callbacks.image_grids.every_n_epochs=100"]
    cfg = compose_config("train", [*run, "trainer.max_epochs=1"], tmp_path)
    train(cfg)
    out = Path(cfg.paths.output_dir)
    ckpt = out / "checkpoints" / "last.ckpt"
    shutil.copy(ckpt, tmp_path / "epoch1.ckpt")  # step 3
    again = [*run, "trainer.max_epochs=2", "resume=true"]  # the same run folder
    train(compose_config("train", again, tmp_path))  # steps 3–5 logged, then the "kill"
    shutil.copy(tmp_path / "epoch1.ckpt", ckpt)  # back to step 3: steps 3–5 trained again
    csv_path = out / "csv" / "metrics.csv"
    logged = csv_path.read_text()
    with pytest.raises(DataError):  # a resume that fails before training drops nothing
        train(compose_config("train", [*again, "data.classes=[nope]"], tmp_path))
    assert csv_path.read_text() == logged
    train(compose_config("train", again, tmp_path))
    steps = [int(r["step"]) for r in _rows(csv_path) if r["train/loss_step"]]
    assert steps == [0, 1, 2, 3, 4, 5]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss_step")] == [0, 1, 2, 3, 4, 5]
