"""The quality check end to end on tiny networks and generated data: both speeds train the
same number of iterations and get an FID each."""
import json

import pytest

from bench import quality
from bench.quality import TrainingClock, main, parse_runs, schedule_overrides, table
from pegasus_lab.metrics import distances

TINY = ["data=synthetic", "data.source.per_class=10", "data.source.num_classes=4",
        "model.generator.num_classes=4", "model.generator.width=8", "model.critic.width=8",
        "model.critic_batch_size=4", "model.generator_batch_size=8", "data.batch_size=20",
        "data.cache_dir=null", "trainer.accelerator=cpu"]


def test_fast_and_plain_rows(tmp_path, tiny_fid_weights):
    weights, sha = tiny_fid_weights
    out = tmp_path / "q.json"
    args = ["--iterations", "3", "--samples", "16", "--batch-size", "8", "--fid-weights",
            str(weights), "--fid-sha256", sha, "--out", str(out), "--speeds", "fast,plain,plain@7"]
    for o in TINY:
        args += ["--override", o]
    rows = main(args)
    assert [(r["speed"], r["seed"]) for r in rows] == [("fast", 12345), ("plain", 12345),
                                                       ("plain", 7)]
    assert all(r["iterations"] == 3 and r["fid"] >= 0 and r["num_generated"] == 16
               for r in rows)
    assert rows[2]["fid"] != rows[1]["fid"]  # another seed: other weights, other samples
    text = json.loads(out.read_text())["table"]
    assert "FID fast − plain after 3 iterations (seed 12345)" in text
    assert "FID plain seed 7 − seed 12345" in text


def test_runs_are_presets_with_their_seeds():
    assert parse_runs("fast,plain,fast@1", 5) == [("fast", 5), ("plain", 5), ("fast", 1)]
    with pytest.raises(ValueError, match="no speed preset 'quick'"):
        parse_runs("quick", 5)
    with pytest.raises(ValueError, match="integer"):
        parse_runs("fast@x", 5)


def test_time_to_quality_table():
    rows = [{"speed": "fast", "iterations": 30000, "train_seconds": 420.0, "it_per_s": 71.4,
             "fid": 17.5, "lr_horizon": "run", "startup_seconds": 75.0}]
    text = table(rows, 7)
    assert "the first 10 iterations (compiling and recording included) took 75 s" in text
    assert "FID after 7 min (fast): 17.50" in text
    assert "decayed linearly to 0 over the run" in text


def test_the_schedule_spans_the_paper_or_the_run():
    assert schedule_overrides("paper", 7) == ["model.lr_decay_steps=100000"]
    assert schedule_overrides("run", 7) == ["model.lr_decay_over=time"]
    assert schedule_overrides("run", None) == ["model.lr_decay_steps=null"]  # max_steps


def test_a_timed_run_decays_its_rates_over_the_clock(tmp_path, tiny_fid_weights, monkeypatch):
    # the start-up is timed to the end of a step count: 2 steps take about 1 of the 3 s here
    # (10, the script's, did not fit in them on a loaded 2-core machine)
    monkeypatch.setattr(quality, "STARTUP_STEPS", 2)
    weights, sha = tiny_fid_weights
    args = ["--minutes", str(3 / 60), "--lr-horizon", "run", "--samples", "16",
            "--batch-size", "8", "--speeds", "plain", "--fid-weights", str(weights),
            "--fid-sha256", sha, "--out", str(tmp_path / "q.json")]
    for o in TINY:
        args += ["--override", o]
    (row,) = main(args)
    assert row["lr_horizon"] == "run" and row["train_seconds"] >= 3
    assert 0 < row["startup_seconds"] < row["train_seconds"]  # its first 2 iterations
    # generator's and critic's: the share of the 3 s left when the last step began, at most
    assert len(row["final_lrs"]) == 2 and all(0 <= lr < 0.5 * 2e-4 for lr in row["final_lrs"])
def test_a_run_with_an_average_reports_both_fids(tmp_path, tiny_fid_weights):
    weights, sha = tiny_fid_weights
    args = ["--iterations", "3", "--samples", "16", "--batch-size", "8", "--speeds", "plain",
            "--fid-weights", str(weights), "--fid-sha256", sha, "--out", str(tmp_path / "q.json"),
            "--override", "model.ema_decay=0.5"]
    for o in TINY:
        args += ["--override", o]
    (row,) = main(args)
    assert row["fid_average"] >= 0 and row["fid"] >= 0
    assert row["fid_average"] != row["fid"]  # two generators: the average and the last weights


def test_time_to_quality_table_with_the_average():
    rows = [{"speed": "fast", "iterations": 30000, "train_seconds": 420.0, "it_per_s": 71.4,
             "fid": 17.5, "fid_average": 15.25}]
    text = table(rows, 7)
    assert "FID (EMA)" in text.splitlines()[0]
    assert "FID after 7 min (fast): 17.50" in text and "(EMA): 15.25" in text


def test_the_clock_leaves_out_the_time_paused():
    now = [0.0]
    clock = TrainingClock(10.0, clock=lambda: now[0])
    clock.on_train_start(None, None)
    now[0] = 4.0
    with clock.paused():
        now[0] = 100.0  # a long measurement
    now[0] = 105.0
    assert clock.elapsed() == 9.0

    class Trainer:
        should_stop, global_step = False, 3
    trainer = Trainer()
    clock.on_train_batch_end(trainer, None)
    assert not trainer.should_stop
    now[0] = 106.0
    clock.on_train_batch_end(trainer, None)
    assert trainer.should_stop


def test_a_timed_run_with_a_curve(tmp_path, tiny_fid_weights, monkeypatch):
    # a few seconds of training, the FID every second on the way (not counted as training)
    weights, sha = tiny_fid_weights
    references = []  # the training set's statistics: computed once for all the run's FIDs
    of = distances.Reference.of
    monkeypatch.setattr(distances.Reference, "of",
                        lambda *a, **k: references.append(of(*a, **k)) or references[-1])
    args = ["--minutes", str(4 / 60), "--curve-minutes", str(1 / 60), "--samples", "16",
            "--batch-size", "8", "--speeds", "plain", "--fid-weights", str(weights),
            "--fid-sha256", sha, "--out", str(tmp_path / "q.json"),
            "--override", "model.ema_decay=0.5"]
    for o in TINY:
        args += ["--override", o]
    (row,) = main(args)
    curve = row["curve"]
    marks = [p["minutes"] for p in curve]  # one point per batch at most: on a slow machine
    assert len(marks) >= 2 and marks == sorted(set(marks))  # a mark may be skipped
    assert set(marks) <= {1 / 60, 2 / 60, 3 / 60}
    assert all(p["fid"] >= 0 and p["fid_average"] >= 0 for p in curve)
    steps = [p["iterations"] for p in curve] + [row["iterations"]]
    assert steps == sorted(steps) and steps[0] > 0
    assert row["train_seconds"] >= 4  # four seconds of training, the measurements left out
    assert len(references) == 1  # for two FIDs (generator, average) a point and at the end
    text = json.loads((tmp_path / "q.json").read_text())["table"]
    assert "on the way, after" in text and "FID after" in text
