"""A run's config reaches TensorBoard's HPARAMS tab: one session start holding the flattened
config, written as its first step trains (a multirun's jobs compare there while training)."""
from pathlib import Path

import yaml

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from pegasus_lab.cli.train import train
from tests.conftest import SMOKE, compose_config


def _session_starts(run: Path) -> list:
    starts = []
    for events in (run / "tensorboard").glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    starts.append(data.session_start_info)
    return starts


def test_the_run_s_config_is_one_hparams_session(tmp_path):
    cfg = compose_config("train", [*SMOKE, "model.kl_weight=0.5", "trainer.max_epochs=1"],
                         tmp_path)
    train(cfg)
    starts = _session_starts(Path(cfg.paths.output_dir))
    assert len(starts) == 1
    hparams = starts[0].hparams
    assert hparams["model/kl_weight"].number_value == 0.5
    assert hparams["model/_target_"].string_value == cfg.model._target_
    assert hparams["trainer/max_epochs"].number_value == 1
    assert hparams["model/scheduler"].string_value == "null"
    # the code the run came from, to tell runs of different code apart
    from pegasus_lab.provenance import code_label, describe
    assert hparams["code"].string_value == code_label(describe())
    # no hp_metric placeholder among the curves
    tags = {value.tag for events in (Path(cfg.paths.output_dir) / "tensorboard").glob("events.*")
            for event in EventFileLoader(str(events)).Load() for value in event.summary.value}
    assert "hp_metric" not in tags and "val/loss" in tags
    # and in the logger's hparams.yaml, which Lightning wrote as {} before they were logged
    saved = yaml.safe_load((Path(cfg.paths.output_dir) / "tensorboard" / "hparams.yaml")
                           .read_text())
    assert saved["model/kl_weight"] == 0.5 and saved["code"] == code_label(describe())


def test_a_run_run_again_with_nothing_to_train_keeps_the_code_that_trained_it(tmp_path,
                                                                             monkeypatch):
    from pegasus_lab import provenance
    cfg = compose_config("train", [*SMOKE, "trainer.max_epochs=1", "resume=auto"], tmp_path)
    train(cfg)
    first = _session_starts(Path(cfg.paths.output_dir))[0].hparams["code"].string_value
    # run again after a `git pull`: the weights are the old code's, and the tab says so
    monkeypatch.setattr(provenance, "code_label", lambda entry: "newer")
    train(cfg)
    starts = _session_starts(Path(cfg.paths.output_dir))
    assert [s.hparams["code"].string_value for s in starts] == [first]
    # given another epoch, the part the new code trains is a session of its own
    cfg.trainer.max_epochs = 2
    train(cfg)
    starts = _session_starts(Path(cfg.paths.output_dir))
    assert sorted(s.hparams["code"].string_value for s in starts) == sorted([first, "newer"])
