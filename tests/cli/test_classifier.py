"""pegasus-classifier and the pegasus score in pegasus-sample's report, on generated data."""
import json
from pathlib import Path

import pytest

from pegasus_lab.cli.train import train
from tests.conftest import CIFAR_MINI, ROOT, TINY_VAE, compose_config, fid_overrides, run_cli

SYNTH = ["source.num_classes=4", "source.per_class=40", "image_size=16", "cache_dir=null",
         "source.class_names=[horse,bird,airplane,ship]"]


def _synthetic(which, seed):
    return [f"data@{which}=synthetic"] + [f"{which}.{o}" for o in SYNTH] + [
        f"{which}.source.seed={seed}"]


def test_classifier_then_pegasus_report(tmp_path, tiny_fid_weights):
    probe = tmp_path / "probe.pt"
    result = run_cli("pegasus_lab.cli.classifier", *_synthetic("train_data", 0),
                     *_synthetic("test_data", 1), f"pegasus.classifier={probe}",
                     "epochs=60", "lr=1e-2", f"paths.log_dir={tmp_path}",
                     f"paths.data_dir={tmp_path}", *fid_overrides(tiny_fid_weights), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(probe.with_suffix(".json").read_text())
    assert report["test_accuracy"] > 0.9 and report["num_test"] == 160

    cfg = compose_config("train", ["data=image_folder", f"data.source.root={CIFAR_MINI}",
                                   "data.image_size=16", "data.batch_size=8",
                                   "data.cache_dir=null", "trainer=smoke", *TINY_VAE],
                         tmp_path / "vae")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = tmp_path / "grid.png"
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={ckpt}", "mode=interpolate", f"out={out}",
                     "pegasus_score=true", f"pegasus.classifier={probe}",
                     f"paths.log_dir={tmp_path}", *fid_overrides(tiny_fid_weights), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(out.with_suffix(".json").read_text())
    assert len(scores["p_body"]) == len(scores["p_wing"]) == 64
    assert 0 <= scores["pegasus_share"] <= 1
    assert scores["classifier_test_accuracy"] == report["test_accuracy"]


@pytest.mark.parametrize("arg,says", [("epochs=0", "epochs must be a positive integer"),
                                      ("batch_size=0", "batch_size must be a positive integer"),
                                      ("lr=-1e-3", "lr must be positive"),
                                      ("weight_decay=-1", "weight_decay must be 0 or more"),
                                      ("seed=abc", "seed must be an integer from 0 to"),
                                      ("lr=abc", "lr must be a finite number, got 'abc'")])
def test_bad_settings_are_said_before_any_features(tmp_path, arg, says):
    # the FID weights named do not exist: the settings are checked first
    result = run_cli("pegasus_lab.cli.classifier", *_synthetic("train_data", 0),
                     *_synthetic("test_data", 1), arg, f"fid.weights={tmp_path / 'none.pt'}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]


def test_an_unwritable_classifier_path_is_said_before_any_features(tmp_path):
    (tmp_path / "a_file").write_text("x")
    probe = tmp_path / "a_file" / "probe.pt"
    result = run_cli("pegasus_lab.cli.classifier", *_synthetic("train_data", 0),
                     *_synthetic("test_data", 1), f"pegasus.classifier={probe}",
                     f"fid.weights={tmp_path / 'none.pt'}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "a_file is a file, not a folder" in result.stderr
    assert "make fid-weights" not in result.stderr  # said before the weights are looked for
