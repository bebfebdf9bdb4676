"""The study's table from job folders as a multirun leaves them: FID, its stability and the
manifold metrics of the last evaluation; n/a for what a job did not measure or a failed job."""
import csv
import json

import yaml

from pegasus_lab.study.table import collect, write_tables


def _job(sweep, number, model, summary, seed=None):
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        [f"model={model}", "+paper4_data=mnist", *([f"seed={seed}"] if seed else [])]))
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))


def test_the_last_evaluation_makes_the_row(tmp_path):
    base = {"wall_seconds": 12.5, "epochs": 3, "global_step": 30}
    _job(tmp_path, 0, "study_gan", {
        **base, "fid_history": [[10, 30.0], [20, 20.0], [30, 22.0]],
        "manifold_history": [[10, {"precision": 0.5, "recall": 0.1, "density": 0.4,
                                   "coverage": 0.2}],
                             [30, {"precision": 0.81234, "recall": 0.2, "density": 1.05,
                                   "coverage": 0.3}]]})
    _job(tmp_path, 1, "study_vae", {**base, "fid_history": []})  # FID not measured
    _job(tmp_path, 2, "study_wgan", None)                         # the job failed
    gan, vae, wgan = collect(tmp_path, stability_epochs=2)
    assert gan["fid"] == 22.0 and gan["fid_stability"] == 1.0
    assert (gan["precision"], gan["recall"], gan["density"], gan["coverage"]) == (
        0.812, 0.2, 1.05, 0.3)
    assert vae["status"] == "ok" and vae["fid"] is None and vae["precision"] is None
    assert wgan["status"].startswith("failed") and wgan["recall"] is None
    md, csv_path = write_tables([gan, vae, wgan], tmp_path, ["a note"])
    table = md.read_text()
    assert "| mnist | study_gan | 22.0 | 1.0 | 0.812 | 0.2 | 1.05 | 0.3 |" in table
    assert "| mnist | study_vae | n/a | n/a | n/a | n/a | n/a | n/a |" in table
    rows = list(csv.DictReader(open(csv_path)))
    assert rows[0]["coverage"] == "0.3" and rows[1]["coverage"] == ""


def test_several_seeds_add_each_pair_s_mean_and_spread(tmp_path):
    def summary(fid):
        return {"wall_seconds": 10.0, "epochs": 3, "global_step": 30,
                "fid_history": [[30, fid]]}
    _job(tmp_path, 0, "study_gan", summary(20.0), seed=1)
    _job(tmp_path, 1, "study_gan", summary(24.0), seed=2)
    _job(tmp_path, 2, "study_vae", summary(50.0), seed=1)
    _job(tmp_path, 3, "study_vae", None, seed=2)  # failed: left out of the mean
    rows = collect(tmp_path)
    assert [r["seed"] for r in rows] == ["1", "2", "1", "2"]
    md, csv_path = write_tables(rows, tmp_path, [])
    table = md.read_text()
    assert "| dataset | model | seeds | fid | fid_stability |" in table
    assert "| mnist | study_gan | 2/2 | 22 ± 2.83 | n/a |" in table
    assert "| mnist | study_vae | 1/2 | 50 | n/a |" in table  # one seed: no spread
    assert "| mnist | study_gan | 2 | 24.0 |" in table  # and each run below, with its seed
    assert list(csv.DictReader(open(csv_path)))[1]["seed"] == "2"


def test_one_seed_keeps_the_plain_table(tmp_path):
    _job(tmp_path, 0, "study_gan", {"wall_seconds": 1.0, "epochs": 1, "global_step": 3,
                                    "fid_history": [[3, 9.0]]})
    md, csv_path = write_tables(collect(tmp_path), tmp_path, [])
    assert "Across seeds" not in md.read_text() and "seed" not in open(csv_path).readline()


def test_a_damaged_summary_is_a_row_saying_so_and_the_table_is_written(tmp_path):
    """After hours of training, one damaged summary.json failed the study with a traceback
    and no table."""
    from pegasus_lab.sweep import UNREADABLE
    base = {"wall_seconds": 12.5, "epochs": 3, "global_step": 30, "fid_history": [[30, 9.0]]}
    _job(tmp_path, 0, "study_gan", base)
    _job(tmp_path, 1, "study_vae", base)
    (tmp_path / "1" / "summary.json").write_text('{"wall_seconds": 12')
    _job(tmp_path, 2, "study_wgan", {"fid_history": []})  # a summary of an older version
    gan, vae, wgan = collect(tmp_path)
    assert (gan["status"], gan["fid"]) == ("ok", 9.0)
    assert (vae["status"], vae["fid"], vae["steps"]) == (UNREADABLE, None, None)
    assert (wgan["status"], wgan["steps"]) == ("ok", None)
    md, _ = write_tables([gan, vae, wgan], tmp_path, [])
    assert md.read_text().count("| mnist |") == 3
