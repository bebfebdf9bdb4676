"""The sweep table: a multirun's jobs, their differing overrides and final metrics, ranked."""
import csv
import json

import pytest
import yaml

from pegasus_lab.errors import DataError
from pegasus_lab.sweep import (NOT_RUN, UNREADABLE, metric_names, sweep_rows,
                               write_sweep_table)


def _job(sweep, num, overrides, metrics=None):
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "summary.json").write_text(json.dumps(
            {"wall_seconds": 1.5, "epochs": 2, "global_step": 10, "metrics": metrics}))


@pytest.fixture
def sweep(tmp_path):
    common = ["experiment=demo", "+trainer.max_epochs=2"]
    _job(tmp_path, 0, [*common, "model.kl_weight=0.5"],
         {"val/loss": 2.0, "train/loss": 3.0, "train/loss_step": 3.1, "train/loss_epoch": 3.0,
          "loss": 3.1, "metrics/fid": 40.0})
    _job(tmp_path, 1, [*common, "model.kl_weight=1.0"],
         {"val/loss": 1.0, "train/loss": 2.0, "train/loss_step": 2.1, "train/loss_epoch": 2.0,
          "loss": 2.1, "metrics/fid": 50.0})
    _job(tmp_path, 2, [*common, "model.kl_weight=2.0"])  # stopped before its summary
    _job(tmp_path, 10, [*common, "model.kl_weight=4.0"], {"val/loss": float("nan")})
    (tmp_path / "multirun.yaml").write_text("{}")  # Hydra's own file, not a job
    return tmp_path


def test_columns_are_the_differing_overrides_and_the_final_metrics(sweep):
    columns, rows, shared = sweep_rows(sweep)
    assert columns == ["job", "model.kl_weight", "status", "steps", "epochs", "wall_seconds",
                       "val/loss", "metrics/fid", "train/loss_epoch"]
    assert shared == {"experiment": "demo", "trainer.max_epochs": "2"}
    assert [r["job"] for r in rows] == ["0", "1", "2", "10"]  # job order, not name order
    assert [r["model.kl_weight"] for r in rows] == ["0.5", "1.0", "2.0", "4.0"]
    assert rows[2]["status"] == NOT_RUN and rows[2]["val/loss"] is None
    assert (rows[1]["status"], rows[1]["steps"], rows[1]["val/loss"]) == ("ok", 10, 1.0)


def test_a_failed_job_s_status_is_the_last_error_its_log_holds(sweep):
    (sweep / "2" / "train.log").write_text(
        "[2026-11-24 05:36:37,454][pegasus_lab][INFO] - data: ImageDataModule\n"
        "[2026-11-24 05:36:37,470][pegasus_lab][ERROR] - error: batch_size must be a positive "
        "integer, got 0 | or so\n")
    _, rows, _ = sweep_rows(sweep)
    assert rows[2]["status"] == "failed: batch_size must be a positive integer, got 0 | or so"
    md, _ = write_sweep_table(sweep)
    assert "| failed: batch_size must be a positive integer, got 0 \\| or so |" in \
        md.read_text()  # the cell's bar escaped, the table whole


@pytest.mark.parametrize("direction,order", [("minimize", ["1", "0"]), ("maximize", ["0", "1"])])
def test_ranked_by_the_objective_in_the_sweeper_s_direction(sweep, direction, order):
    _, rows, _ = sweep_rows(sweep, "val/loss", direction)
    ranked = sorted((r for r in rows if "rank" in r), key=lambda r: r["rank"])
    assert [r["job"] for r in ranked] == order  # the NaN and the missing one are unranked
    _, rows, _ = sweep_rows(sweep, "metrics/fid", direction)
    assert min((r for r in rows if "rank" in r), key=lambda r: r["rank"])["job"] == \
        ("0" if direction == "minimize" else "1")


def test_tables_written_best_first(sweep):
    md, table = write_sweep_table(sweep, "val/loss")
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["1", "0", "2", "10"]
    assert rows[0]["rank"] == "1" and rows[2]["rank"] == ""
    text = md.read_text()
    assert "Ranked by val/loss (minimize)" in text
    shared = next(line for line in text.splitlines() if line.startswith("Every job:"))
    assert shared == "Every job: `experiment=demo` `trainer.max_epochs=2`"  # kl_weight varies


def test_no_jobs_no_table(tmp_path):
    assert write_sweep_table(tmp_path) is None and not (tmp_path / "sweep.md").exists()


def test_metric_names_drop_step_values_aliases_and_progress_bar_names():
    names = metric_names([{"metrics": {"train/kl": 1, "train/kl_step": 1, "train/kl_epoch": 1,
                                       "val/kl": 1, "W": 1, "train/critic": 1}}])
    assert names == ["val/kl", "train/critic", "train/kl_epoch"]


def test_jobs_in_named_subfolders_too(tmp_path):
    # hydra.sweep.subdir=${hydra.job.override_dirname}, or nested names
    _job(tmp_path, "model.kl_weight=1.0", ["model.kl_weight=1.0"], {"val/loss": 1.0})
    _job(tmp_path / "lr", "a", ["model.kl_weight=0.5"], {"val/loss": 2.0})
    _, rows, _ = sweep_rows(str(tmp_path), "val/loss")
    assert [(r["job"], r["rank"]) for r in rows] == [("lr/a", 2), ("model.kl_weight=1.0", 1)]


def test_jobs_of_another_multirun_inside_the_folder_are_not_its_own(tmp_path):
    """e.g. `pegasus-study sweep_dir=outputs/paper4/study`, a folder holding the timestamped
    studies of earlier runs: their jobs would be rows of this table (and job 0 of this study
    would be checked against theirs)."""
    _job(tmp_path, 0, ["model.kl_weight=1.0"], {"val/loss": 1.0})
    (tmp_path / "multirun.yaml").write_text("{}")
    inner = tmp_path / "2026-11-20_10-00-00"
    _job(inner, 0, ["model.kl_weight=0.5"], {"val/loss": 2.0})
    (inner / "multirun.yaml").write_text("{}")
    _, rows, _ = sweep_rows(str(tmp_path), "val/loss")
    assert [r["job"] for r in rows] == ["0"]
    _, rows, _ = sweep_rows(str(inner), "val/loss")  # and each is its own multirun's
    assert [(r["job"], r["val/loss"]) for r in rows] == [("0", 2.0)]


def test_a_job_s_bad_input_fails_that_job_only_and_the_table_says_so(tmp_path):
    from tests.conftest import ROOT, SMOKE, run_cli
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.train", "-m", *SMOKE, "logger=none",
                     "trainer.max_epochs=1", "data.batch_size=0,8", f"hydra.sweep.dir={sweep}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2  # the first job's batch size, a user error
    said = "batch_size must be a positive integer, got 0"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and said in errors[0]  # when the job failed
    assert errors[1].startswith("error: job 0 failed: ") and said in errors[1]  # at the end
    assert "Traceback" not in result.stderr
    assert f"error: {said}" in (sweep / "0" / "train.log").read_text()
    table = (sweep / "sweep.md").read_text()  # the second job ran after the first failed
    assert table.startswith("# Multirun sweep: 2 jobs\n")
    assert f"| 0 | 0 | failed: {said} |" in table and "| 1 | 8 | ok | 3 | 1 |" in table


@pytest.mark.parametrize("damage", ['{"wall_seconds": 1.5, "epo', "[1, 2]", ""])
def test_a_damaged_summary_is_its_job_s_status_and_the_other_rows_stay(sweep, damage, caplog):
    """One job's summary.json damaged (cut short, edited, a sync conflict) took the whole
    table with it: json.loads raised, and the study's table failed after all its training."""
    (sweep / "1" / "summary.json").write_text(damage)
    _, rows, _ = sweep_rows(sweep)
    assert [r["status"] for r in rows] == ["ok", UNREADABLE, NOT_RUN, "ok"]
    assert rows[1]["val/loss"] is None and rows[0]["val/loss"] == 2.0
    assert f"{sweep / '1' / 'summary.json'} " in caplog.text


@pytest.mark.parametrize("damage,says", [("- a=1\n- [b", "cannot be read: "),
                                         ("a: 1", "is not a list of overrides")])
def test_a_damaged_overrides_file_is_an_error_naming_it(sweep, damage, says):
    (sweep / "2" / ".hydra" / "overrides.yaml").write_text(damage)
    with pytest.raises(DataError, match=f"^{sweep / '2' / '.hydra' / 'overrides.yaml'} {says}"):
        sweep_rows(sweep)


def test_a_table_that_cannot_be_written_does_not_stop_the_sweep(sweep, monkeypatch, caplog):
    from omegaconf import OmegaConf
    from pegasus_lab import sweep as module
    config = OmegaConf.create({"optimized_metric": None, "hydra": {
        "mode": "MULTIRUN", "sweep": {"dir": str(sweep)}, "sweeper": {}}})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "write_text", full_disk)
    module.SweepTable().on_multirun_end(config)
    assert "sweep table not written: OSError" in caplog.text
    monkeypatch.undo()
    module.SweepTable().on_multirun_end(config)
    assert (sweep / "sweep.md").exists()


def test_pegasus_evaluate_results_join_the_job_s_row(sweep):
    (sweep / "0" / "metrics").mkdir()
    (sweep / "0" / "metrics" / "last.json").write_text(json.dumps(
        {"fid": 31.5, "kid_mean": 0.02, "precision": 0.7, "num_real": 50000,
         "reference": "CIFAR-10", "provenance": {"host": "x"}}))
    (sweep / "0" / "metrics" / "best-fid.json").write_text(json.dumps({"fid": 29.0}))
    (sweep / "1" / "metrics").mkdir()
    (sweep / "1" / "metrics" / "last.json").write_text("{not json")  # passed over
    columns, rows, _ = sweep_rows(sweep)
    assert columns[6:10] == ["eval/fid", "eval/kid_mean", "eval/precision",
                             "eval/best-fid/fid"]  # first among the metrics: the headline
    assert (rows[0]["eval/fid"], rows[0]["eval/best-fid/fid"]) == (31.5, 29.0)
    assert rows[1]["eval/fid"] is None and "eval/num_real" not in columns


def test_a_truncated_evaluation_joins_the_row_beside_the_untruncated_one(sweep):
    (sweep / "0" / "metrics").mkdir()
    (sweep / "0" / "metrics" / "last.json").write_text(json.dumps({"fid": 31.5,
                                                                  "truncation": None}))
    (sweep / "0" / "metrics" / "last_truncation0.5.json").write_text(json.dumps(
        {"fid": 27.25, "truncation": 0.5}))
    columns, rows, _ = sweep_rows(sweep)
    assert (rows[0]["eval/fid"], rows[0]["eval/last_truncation0.5/fid"]) == (31.5, 27.25)
    assert not [c for c in columns if c.endswith("/truncation")]


def test_rewritten_for_a_job_as_the_multirun_ranked_it(sweep):
    from pegasus_lab.sweep import rewrite_for_run
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(
        {"optimized_metric": "val/loss", "hydra": {"sweeper": {"direction": "maximize"}}}))
    assert rewrite_for_run(sweep / "1") == sweep / "sweep.md"
    assert "Ranked by val/loss (maximize)" in (sweep / "sweep.md").read_text()
    assert rewrite_for_run(sweep.parent / "elsewhere") is None  # not a multirun's job
