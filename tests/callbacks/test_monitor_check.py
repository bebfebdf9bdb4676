"""A misspelt validation monitor is said after the sanity check, before any training step."""
from pathlib import Path

import pytest

from pegasus_lab.checkpoints import load_checkpoint
from pegasus_lab.cli.train import train
from pegasus_lab.errors import ConfigError
from tests.conftest import SMOKE, compose_config

SANITY = [*SMOKE, "logger=none", "trainer.num_sanity_val_steps=1",
          "callbacks=[default,early_stopping]"]


@pytest.mark.parametrize("key,kind", [("model_checkpoint", "ModelCheckpoint"),
                                      ("early_stopping", "EarlyStopping")])
def test_a_misspelt_validation_monitor_stops_the_run_before_training(tmp_path, key, kind):
    cfg = compose_config("train", [*SANITY, f"callbacks.{key}.monitor=val/los"], tmp_path)
    with pytest.raises(ConfigError) as caught:
        train(cfg)
    assert str(caught.value) == (f"{kind}(monitor='val/los'): VAE logs no val/los; its "
                                 "validation logs val/kl, val/loss, val/recon (a misspelt "
                                 "monitor?)")
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # no step trained


def test_monitors_the_validation_logs_pass(tmp_path):
    cfg = compose_config("train", [*SANITY, "callbacks.early_stopping.monitor=val/kl",
                                   "callbacks.early_stopping.mode=max"], tmp_path)
    train(cfg)
    last = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 6
