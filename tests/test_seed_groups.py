"""A multirun over seeds: each setting's mean ± standard deviation over its finished seeds."""
import csv
import math

import pytest

from pegasus_lab.seed_groups import seed_groups
from pegasus_lab.sweep import sweep_rows, write_sweep_table
from tests.test_sweep import _job


@pytest.fixture
def seeds(tmp_path):
    # two learning rates × three seeds; lr 1e-4's third seed never finished
    fid = {("1e-4", 1): 30.0, ("1e-4", 2): 34.0, ("2e-4", 1): 20.0, ("2e-4", 2): 26.0,
           ("2e-4", 3): 29.0}
    num = 0
    for lr in ("1e-4", "2e-4"):
        for seed in (1, 2, 3):
            metrics = {"metrics/fid": fid[lr, seed]} if (lr, seed) in fid else None
            _job(tmp_path, num, ["experiment=paper2_cifar10", f"model.lr={lr}", f"seed={seed}"],
                 metrics)
            num += 1
    return tmp_path


def _by_lr(groups):
    return {g["model.lr"]: g for g in groups}


def test_a_setting_s_seeds_are_averaged_over_those_that_finished(seeds):
    columns, groups = seed_groups(*sweep_rows(seeds)[:2])
    assert columns == ["model.lr", "seeds", "wall_seconds mean", "wall_seconds std",
                       "metrics/fid mean", "metrics/fid std"]
    slow, fast = _by_lr(groups)["1e-4"], _by_lr(groups)["2e-4"]
    assert (slow["seeds"], fast["seeds"]) == ("2/3", "3/3")
    assert slow["metrics/fid mean"] == 32.0 and slow["metrics/fid std"] == pytest.approx(
        math.sqrt(8))  # sample standard deviation: ((30-32)² + (34-32)²) / (2-1)
    assert fast["metrics/fid mean"] == 25.0 and fast["metrics/fid std"] == pytest.approx(
        math.sqrt((25 + 1 + 16) / 2))
    assert fast["wall_seconds mean"] == 1.5 and fast["wall_seconds std"] == 0.0


@pytest.mark.parametrize("direction,first", [("minimize", "2e-4"), ("maximize", "1e-4")])
def test_settings_are_ranked_by_their_mean_objective(seeds, direction, first):
    columns, rows, _ = sweep_rows(seeds, "metrics/fid", direction)
    # the best single job is lr 2e-4's seed 1 (20) either way round; the mean decides
    group_columns, groups = seed_groups(columns, rows, "metrics/fid", direction)
    assert group_columns[0] == "rank"
    assert [(g["rank"], g["model.lr"]) for g in groups][0] == (1, first)


def test_a_diverged_seed_makes_its_setting_s_mean_nan_and_unranked(seeds):
    _job(seeds, 6, ["experiment=paper2_cifar10", "model.lr=4e-4", "seed=1"],
         {"metrics/fid": 10.0})
    _job(seeds, 7, ["experiment=paper2_cifar10", "model.lr=4e-4", "seed=2"],
         {"metrics/fid": float("nan")})
    _, groups = seed_groups(*sweep_rows(seeds, "metrics/fid")[:2], "metrics/fid")
    diverged = _by_lr(groups)["4e-4"]
    assert math.isnan(diverged["metrics/fid mean"]) and "rank" not in diverged
    assert groups[-1] is diverged  # after the ranked ones, not first on its lucky seed


def test_seed_alone_is_one_setting(tmp_path):
    for seed in (1, 2):
        _job(tmp_path, seed, [f"seed={seed}"], {"val/loss": float(seed)})
    columns, groups = seed_groups(*sweep_rows(tmp_path)[:2])
    assert columns[0] == "seeds" and len(groups) == 1
    assert groups[0]["val/loss mean"] == 1.5 and groups[0]["seeds"] == "2/2"


def test_no_seed_no_second_table(tmp_path):
    _job(tmp_path, 0, ["model.lr=1"], {"val/loss": 1.0})
    _job(tmp_path, 1, ["model.lr=2"], {"val/loss": 2.0})
    assert seed_groups(*sweep_rows(tmp_path)[:2]) is None
    md, _ = write_sweep_table(tmp_path)
    assert "Across seeds" not in md.read_text() and not (tmp_path / "sweep_seeds.csv").exists()


def test_sweep_md_shows_mean_and_std_and_the_csv_both_columns(seeds):
    md, _ = write_sweep_table(seeds, "metrics/fid")
    text = md.read_text()
    assert "## Across seeds" in text and "ranked by the mean metrics/fid" in text
    assert "| rank | model.lr | seeds | wall_seconds | metrics/fid |" in text
    assert "| 1 | 2e-4 | 3/3 | 1.5 ± 0 | 25 ± 4.58 |" in text
    assert "| 2 | 1e-4 | 2/3 | 1.5 ± 0 | 32 ± 2.83 |" in text
    with (seeds / "sweep_seeds.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["model.lr"] for r in rows] == ["2e-4", "1e-4"]
    assert float(rows[0]["metrics/fid std"]) == pytest.approx(4.58258, rel=1e-5)


def test_jobs_that_ran_different_code_are_told_apart_and_not_averaged_together(seeds):
    import json
    for num in range(6):  # lr 1e-4's jobs before a fix, lr 2e-4's after it
        commit = ("a" if num < 3 else "b") * 40
        (seeds / str(num) / "provenance.json").write_text(json.dumps(
            {"parts": [{"code": {"commit": commit, "dirty": num == 5}}]}))
    columns, rows, _ = sweep_rows(seeds)
    assert columns[:5] == ["job", "model.lr", "seed", "code", "status"]
    assert [r["code"] for r in rows][2:] == ["a" * 12, "b" * 12, "b" * 12, "b" * 12 + "+changes"]
    _, groups = seed_groups(columns, rows)
    assert [(g["model.lr"], g["code"], g["seeds"]) for g in groups] == [
        ("1e-4", "a" * 12, "2/3"), ("2e-4", "b" * 12, "2/2"),
        ("2e-4", "b" * 12 + "+changes", "1/1")]


def test_one_code_for_all_jobs_adds_no_column(seeds):
    import json
    for num in range(6):
        (seeds / str(num) / "provenance.json").write_text(json.dumps(
            {"parts": [{"code": {"commit": "c" * 40, "dirty": False}}]}))
    assert "code" not in sweep_rows(seeds)[0]
