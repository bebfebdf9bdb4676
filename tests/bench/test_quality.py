"""The quality check end to end on tiny networks and generated data: both speeds train the
same number of iterations and get an FID each."""
import json

from bench.quality import main, table

TINY = ["data=synthetic", "data.source.per_class=10", "data.source.num_classes=4",
        "model.generator.num_classes=4", "model.generator.width=8", "model.critic.width=8",
        "model.critic_batch_size=4", "model.generator_batch_size=8", "data.batch_size=20",
        "data.cache_dir=null", "trainer.accelerator=cpu"]


def test_fast_and_plain_rows(tmp_path, tiny_fid_weights):
    weights, sha = tiny_fid_weights
    out = tmp_path / "q.json"
    args = ["--iterations", "3", "--samples", "16", "--batch-size", "8", "--fid-weights",
            str(weights), "--fid-sha256", sha, "--out", str(out)]
    for o in TINY:
        args += ["--override", o]
    rows = main(args)
    assert [r["speed"] for r in rows] == ["fast", "plain"]
    assert all(r["iterations"] == 3 and r["fid"] >= 0 and r["num_generated"] == 16
               for r in rows)
    assert "FID fast − plain after 3 iterations" in json.loads(out.read_text())["table"]


def test_time_to_quality_table():
    rows = [{"speed": "fast", "iterations": 30000, "train_seconds": 420.0, "it_per_s": 71.4,
             "fid": 17.5}]
    assert "FID after 7 min (fast): 17.50" in table(rows, 7)


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
