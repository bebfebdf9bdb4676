"""The CSV logger: a run resumed in its own folder continues its metrics.csv."""
import csv
from pathlib import Path

from pegasus_lab.cli.train import train
from pegasus_lab.csv_logger import ContinuingCSVLogger
from tests.conftest import SMOKE, compose_config


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_second_writer_appends_and_widens_the_header(tmp_path):
    first = ContinuingCSVLogger(tmp_path, name="csv", version="")
    first.log_metrics({"train/loss": 2.0}, step=1)
    first.save()
    second = ContinuingCSVLogger(tmp_path, name="csv", version="")
    second.log_metrics({"train/loss": 1.5}, step=2)
    second.save()
    second.log_metrics({"train/loss": 1.0, "val/loss": 1.2}, step=3)  # a name new to the file
    second.save()
    rows = _rows(tmp_path / "csv" / "metrics.csv")
    assert [(r["step"], r["train/loss"], r["val/loss"]) for r in rows] == [
        ("1", "2.0", ""), ("2", "1.5", ""), ("3", "1.0", "1.2")]


def test_a_resumed_run_keeps_the_rows_from_before_it(tmp_path):
    run = [*SMOKE, "logger=csv", "trainer.max_epochs=1"]
    train(compose_config("train", run, tmp_path))
    cfg = compose_config("train", [*run, "trainer.max_epochs=2", "resume=true"], tmp_path)
    train(cfg)
    rows = _rows(Path(cfg.paths.output_dir) / "csv" / "metrics.csv")
    assert [r["epoch"] for r in rows if r.get("val/loss")] == ["0", "1"]
