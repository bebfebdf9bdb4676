"""EarlyStopping: a run that stopped stays stopped when resumed, unless its setting changed."""
import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason as Reason

from pegasus_lab.callbacks.early_stopping import EarlyStopping
from pegasus_lab.checkpoints import load_checkpoint
from pegasus_lab.cli.train import _metrics_it_ended_with, train
from tests.conftest import SMOKE, compose_config

# no improvement of 1e9 is ever seen: after the first epoch, one check of patience ends it
STOPS = [*SMOKE, "logger=none", "callbacks=[default,early_stopping]",
         "callbacks.early_stopping.patience=1", "callbacks.early_stopping.min_delta=1e9",
         "trainer.max_epochs=5"]


def test_a_resumed_run_that_stopped_stays_stopped_and_keeps_its_metrics(tmp_path, caplog):
    caplog.set_level("INFO", logger="pegasus_lab")
    cfg = compose_config("train", STOPS, tmp_path)
    first = train(cfg)
    run = Path(cfg.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["global_step"] == 6  # 2 of the 5 epochs
    # run again as a recipe does (resume=auto, the same folder): nothing more is trained
    again = train(compose_config("train", [*STOPS, "resume=auto"], tmp_path))
    assert load_checkpoint(last)["global_step"] == 6
    assert "it stays stopped, nothing is trained; callbacks.early_stopping.patience=2 (or " \
           "more) lets it go on" in caplog.text
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 6
    assert summary["metrics"]["val/loss"] == pytest.approx(first["val/loss"])
    assert again["val/loss"] == pytest.approx(first["val/loss"])
    # a larger patience, given to the resumed run, is the one that counts: training goes on
    train(compose_config("train", [*STOPS, "resume=auto",
                                   "callbacks.early_stopping.patience=3"], tmp_path))
    assert load_checkpoint(last)["global_step"] > 6


@pytest.mark.parametrize("reason,setting,holds", [
    (Reason.PATIENCE_EXHAUSTED, {"patience": 2}, True),
    (Reason.PATIENCE_EXHAUSTED, {"patience": 3}, False),
    (Reason.STOPPING_THRESHOLD, {"stopping_threshold": 1.0}, True),
    (Reason.STOPPING_THRESHOLD, {}, False),
    (Reason.DIVERGENCE_THRESHOLD, {"divergence_threshold": 9.0}, True),
    (Reason.DIVERGENCE_THRESHOLD, {}, False),
    (Reason.NON_FINITE_METRIC, {}, True),
    (Reason.NON_FINITE_METRIC, {"check_finite": False}, False),
    (Reason.NOT_STOPPED, {"patience": 1}, False)])
def test_the_stop_holds_while_the_setting_that_caused_it_is_on(reason, setting, holds):
    stored = EarlyStopping(monitor="val/loss", patience=2)
    stored.wait_count, stored.stopping_reason = 2, reason
    resumed = EarlyStopping(monitor="val/loss", **setting)
    resumed.load_state_dict(stored.state_dict())
    assert resumed.patience == setting.get("patience", 3)  # this run's, not the stored 2

    class Trainer:
        should_stop = False
    trainer = Trainer()
    resumed.on_train_start(trainer, None)
    assert trainer.should_stop is holds


def test_a_finished_run_run_again_keeps_its_summary(tmp_path):
    cfg = compose_config("train", [*SMOKE, "logger=none", "resume=auto"], tmp_path)
    first = train(cfg)
    run = Path(cfg.paths.output_dir)
    recorded = (run / "provenance.json").read_text()
    again = train(cfg)  # max_epochs reached: nothing left to train, as a recipe run again
    # the record still says which code trained the weights: the run again added no part
    assert (run / "provenance.json").read_text() == recorded
    summary = json.loads((run / "summary.json").read_text())
    assert summary["global_step"] == 6
    assert summary["metrics"] == pytest.approx(first) and again == pytest.approx(first)
    assert all(torch.isfinite(torch.tensor(v)) for v in again.values())


def test_the_summary_beside_a_checkpoint_given_by_its_bare_name(tmp_path, monkeypatch):
    """ckpt_path=last.ckpt, read from the folder the command runs in."""
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "summary.json").write_text(json.dumps(
        {"global_step": 6, "metrics": {"val/loss": 2.5}}))
    monkeypatch.chdir(tmp_path / "run" / "checkpoints")
    assert _metrics_it_ended_with("last.ckpt", 6) == {"val/loss": 2.5}
    assert _metrics_it_ended_with("last.ckpt", 7) == {}  # another step's summary: not its own
