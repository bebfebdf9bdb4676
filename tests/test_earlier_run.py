"""A run that starts from step 0 in a folder holding an earlier run's outputs first moves them
into <run>/earlier/<time>/: the two runs' logs, provenance and checkpoints do not mix, and
nothing is deleted."""
import csv
import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pegasus_lab.cli.train import train
from pegasus_lab.earlier_run import EARLIER, set_earlier_run_aside
from tests.conftest import SMOKE, compose_config


def test_what_an_earlier_run_left_is_moved_and_hydra_s_own_files_stay(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("new")
    (tmp_path / "train.log").write_text("both runs")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"old")
    (tmp_path / "summary.json").write_text("{}")
    aside = set_earlier_run_aside(tmp_path)
    assert aside.parent == tmp_path / EARLIER
    assert (aside / "checkpoints" / "last.ckpt").read_bytes() == b"old"
    assert (aside / "summary.json").is_file() and not (tmp_path / "summary.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra", EARLIER, "train.log"]
    (tmp_path / "summary.json").write_text("{}")  # a third run in the same second
    again = set_earlier_run_aside(tmp_path)
    assert again != aside and again.parent == aside.parent and (again / "summary.json").is_file()


def test_a_new_folder_has_nothing_to_set_aside(tmp_path):
    assert set_earlier_run_aside(tmp_path / "none") is None
    (tmp_path / ".hydra").mkdir()
    assert set_earlier_run_aside(tmp_path) is None
    assert not (tmp_path / EARLIER).exists()


def test_a_run_from_step_0_in_an_earlier_run_s_folder_logs_alone(tmp_path):
    """`make reproduce-paper-N RESUME=false`: the second run's TensorBoard curves, metrics.csv
    and provenance are its own; the first run's are under earlier/; resuming moves nothing."""
    run = [*SMOKE, "logger=[tensorboard,csv]", "callbacks.image_grids.every_n_epochs=100",
           "trainer.max_epochs=1"]
    first = compose_config("train", run, tmp_path)
    train(first)
    out = Path(first.paths.output_dir)
    first_last = (out / "checkpoints" / "last.ckpt").read_bytes()
    train(compose_config("train", [*run, "resume=false", "seed=7"], tmp_path))
    (aside,) = (out / EARLIER).iterdir()
    assert (aside / "checkpoints" / "last.ckpt").read_bytes() == first_last
    assert len(json.loads((aside / "provenance.json").read_text())["parts"]) == 1
    assert len(json.loads((out / "provenance.json").read_text())["parts"]) == 1
    with open(out / "csv" / "metrics.csv", newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["train/loss_step"]]
    assert steps == [0, 1, 2]  # not 0, 1, 2, 0, 1, 2
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss_step")] == [0, 1, 2]
    train(compose_config("train", [*run, "trainer.max_epochs=2", "resume=true"], tmp_path))
    assert len(list((out / EARLIER).iterdir())) == 1
    assert len(json.loads((out / "provenance.json").read_text())["parts"]) == 2
