import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pegasus_lab.checkpoints import load_checkpoint
from pegasus_lab.cli.train import objective, train
from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.metrics import distances
from tests.conftest import SMOKE, compose_config, fid_overrides


def test_fid_is_logged_as_a_curve(tmp_path, tiny_fid_weights, monkeypatch):
    made = []
    original = distances.Reference.of.__func__

    def counted(cls, *args, **kwargs):
        made.append(len(args[0]))
        return original(cls, *args, **kwargs)
    monkeypatch.setattr(distances.Reference, "of", classmethod(counted))
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", "callbacks.fid_curve.every_n_steps=2",
                                   "callbacks.fid_curve.num_samples=24",
                                   *fid_overrides(tiny_fid_weights)], tmp_path)
    train(cfg)
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("metrics/fid")]
    assert steps == [2, 4, 6]  # every 2 of the 6 steps, and not twice at the end
    assert all(e.value > 0 for e in events.Scalars("metrics/fid"))
    assert len(made) == 1  # the training set's statistics, once for the three points
    assert [e.step for e in events.Scalars("metrics/kid")] == steps


def test_kid_can_be_left_out_of_the_curve(tmp_path, tiny_fid_weights, monkeypatch):
    def no_kid(*args, **kwargs):
        raise AssertionError("KID computed with kid=false")
    monkeypatch.setattr(distances, "kid", no_kid)
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", "callbacks.fid_curve.every_n_steps=3",
                                   "callbacks.fid_curve.num_samples=24",
                                   "callbacks.fid_curve.kid=false",
                                   *fid_overrides(tiny_fid_weights)], tmp_path)
    train(cfg)
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/fid")] == [3, 6]
    assert "metrics/kid" not in events.Tags()["scalars"]


def test_missing_weights_stop_the_run_before_training(tmp_path):
    import pytest
    from pegasus_lab.errors import CheckpointError
    cfg = compose_config("train", [*SMOKE, "callbacks=fid",
                                   f"fid.weights={tmp_path / 'none.pt'}"], tmp_path)
    with pytest.raises(CheckpointError, match="make fid-weights"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_manifold_metrics_follow_the_curve_into_the_summary(tmp_path, tiny_fid_weights):
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", "callbacks.fid_curve.every_n_steps=3",
                                   "callbacks.fid_curve.num_samples=24",
                                   "callbacks.fid_curve.kid=false",
                                   "callbacks.fid_curve.manifold={k:3,num_samples:20}",
                                   *fid_overrides(tiny_fid_weights)], tmp_path)
    train(cfg)
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    events.Reload()
    for name in ("precision", "recall", "density", "coverage"):
        assert [e.step for e in events.Scalars(f"metrics/{name}")] == [3, 6], name
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert [step for step, _ in summary["manifold_history"]] == [3, 6]
    last = summary["manifold_history"][-1][1]
    assert all(0 <= last[m] <= 1 for m in ("precision", "recall", "coverage"))
    # the last point joins the run's final metrics: what optimized_metric=metrics/fid returns
    assert summary["metrics"]["metrics/fid"] == summary["fid_history"][-1][1]
    assert all(summary["metrics"][f"metrics/{m}"] == last[m] for m in last)
    cfg.optimized_metric = "metrics/fid"
    assert objective(cfg, summary["metrics"]) == summary["fid_history"][-1][1]


def test_a_resumed_run_keeps_the_points_from_before_it(tmp_path, tiny_fid_weights):
    curve = ["callbacks=fid", "callbacks.fid_curve.every_n_steps=2",
             "callbacks.fid_curve.num_samples=24", "callbacks.fid_curve.kid=false",
             "callbacks.fid_curve.manifold={k:3,num_samples:20}",
             *fid_overrides(tiny_fid_weights)]
    first = compose_config("train", [*SMOKE, *curve, "trainer.max_epochs=1"], tmp_path)
    train(first)  # 3 steps: points at 2 and at the end (3)
    run = Path(first.paths.output_dir)
    resumed = compose_config("train", [*SMOKE, *curve, "trainer.max_epochs=2",
                                       f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"],
                             tmp_path)
    train(resumed)  # steps 4 to 6: points at 4 and 6
    summary = json.loads((run / "summary.json").read_text())
    assert [step for step, _ in summary["fid_history"]] == [2, 3, 4, 6]
    assert [step for step, _ in summary["manifold_history"]] == [2, 3, 4, 6]


def _scripted_run(tmp_path, weights, monkeypatch, scores, every=2):
    """A run whose FID curve takes the values `scores` (a point every `every` steps)."""
    remaining = iter(scores)
    monkeypatch.setattr(distances, "fid", lambda *args, **kwargs: next(remaining))
    cfg = compose_config("train", [*SMOKE, "callbacks=fid",
                                   f"callbacks.fid_curve.every_n_steps={every}",
                                   "callbacks.fid_curve.num_samples=24",
                                   "callbacks.fid_curve.kid=false", *fid_overrides(weights)],
                         tmp_path)
    train(cfg)
    return cfg


def test_the_run_with_the_lowest_fid_so_far_is_kept(tmp_path, tiny_fid_weights, monkeypatch):
    # the points at steps 2, 4 and 6: the best at step 4
    cfg = _scripted_run(tmp_path, tiny_fid_weights, monkeypatch, [50.0, 40.0, 45.0])
    best = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "best-fid.ckpt")
    assert best["global_step"] == 4
    assert best["callbacks"]["FIDCurve"]["history"] == [[2, 50.0], [4, 40.0]]
    assert load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")[
        "global_step"] == 6
    # the final metrics: the last point's FID, and the best one for a sweeper that wants it
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert (summary["metrics"]["metrics/fid"], summary["metrics"]["metrics/fid_best"]) == (
        45.0, 40.0)
    cfg.optimized_metric = "metrics/fid_best"
    assert objective(cfg, summary["metrics"]) == 40.0
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    events.Reload()  # the best so far, beside each point
    assert [(e.step, e.value) for e in events.Scalars("metrics/fid_best")] == [
        (2, 50.0), (4, 40.0), (6, 40.0)]


def test_a_non_finite_point_is_never_the_best(tmp_path, tiny_fid_weights, monkeypatch):
    cfg = _scripted_run(tmp_path, tiny_fid_weights, monkeypatch, [float("nan"), 40.0, 45.0])
    best = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "best-fid.ckpt")
    assert best["global_step"] == 4


def test_a_resumed_run_keeps_a_best_checkpoint_its_last_one_does_not_know(
        tmp_path, tiny_fid_weights, monkeypatch):
    scores = iter([40.0, 45.0, 50.0])  # steps 2, then 4 and 6 after the resume
    monkeypatch.setattr(distances, "fid", lambda *args, **kwargs: next(scores))
    curve = ["callbacks=fid", "callbacks.fid_curve.every_n_steps=2",
             "callbacks.fid_curve.num_samples=24", "callbacks.fid_curve.kid=false",
             "callbacks.fid_curve.at_end=false", *fid_overrides(tiny_fid_weights)]
    first = compose_config("train", [*SMOKE, *curve, "trainer.max_epochs=1"], tmp_path)
    train(first)  # best at step 2 (40); last.ckpt at step 3
    checkpoints = Path(first.paths.output_dir) / "checkpoints"
    last = load_checkpoint(checkpoints / "last.ckpt")
    last["callbacks"]["FIDCurve"]["history"] = []  # as if killed between the two saves
    torch.save(last, checkpoints / "last.ckpt")
    resumed = compose_config("train", [*SMOKE, *curve, "trainer.max_epochs=2",
                                       f"ckpt_path={checkpoints / 'last.ckpt'}"], tmp_path)
    train(resumed)  # 45 and 50: neither beats the 40 the best checkpoint holds
    assert load_checkpoint(checkpoints / "best-fid.ckpt")["global_step"] == 2


@pytest.mark.parametrize("setting,says", [
    ("callbacks.fid_curve.manifold={k:0,num_samples:20}",
     "fid_curve.manifold.k must be a positive integer, got 0"),
    ("fid.batch_size=0", "fid.batch_size must be a positive integer, got 0")])
def test_bad_curve_settings_are_said_when_the_run_is_built(setting, says, tmp_path,
                                                           tiny_fid_weights):
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", *fid_overrides(tiny_fid_weights),
                                   setting], tmp_path)
    with pytest.raises(Exception) as caught:
        train(cfg)
    assert isinstance(find_user_error(caught.value), ConfigError)
    assert says in str(caught.value)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_training_stops_when_the_fid_stops_improving(tmp_path, tiny_fid_weights, monkeypatch,
                                                     caplog):
    caplog.set_level("INFO", logger="pegasus_lab")
    # a point a step; 40 at step 2, then 45 and 41: two points without a lower FID
    scores = iter([50.0, 40.0, 45.0, 41.0, *[30.0] * 10])
    monkeypatch.setattr(distances, "fid", lambda *args, **kwargs: next(scores))
    curve = ["callbacks=fid", "callbacks.fid_curve.every_n_steps=1",
             "callbacks.fid_curve.num_samples=24", "callbacks.fid_curve.kid=false",
             "callbacks.fid_curve.patience=2", *fid_overrides(tiny_fid_weights)]
    cfg = compose_config("train", [*SMOKE, *curve], tmp_path)
    train(cfg)
    run = Path(cfg.paths.output_dir)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["fid_history"] == [[1, 50.0], [2, 40.0], [3, 45.0], [4, 41.0]]
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 4
    assert load_checkpoint(run / "checkpoints" / "best-fid.ckpt")["global_step"] == 2
    assert "no FID below 40.000 (step 2) for 2 points: training stops" in caplog.text
    # resumed with more epochs, it stays stopped; with more patience it goes on
    resume = [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_epochs=3"]
    train(compose_config("train", [*SMOKE, *curve, *resume], tmp_path))
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 4
    train(compose_config("train", [*SMOKE, *curve, *resume,
                                   "callbacks.fid_curve.patience=5"], tmp_path))
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] > 4


def test_patience_must_be_a_positive_count(tmp_path, tiny_fid_weights):
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", "callbacks.fid_curve.patience=0",
                                   *fid_overrides(tiny_fid_weights)], tmp_path)
    with pytest.raises(Exception) as caught:
        train(cfg)
    assert isinstance(find_user_error(caught.value), ConfigError)
    assert "fid_curve.patience must be a positive integer, got 0" in str(caught.value)


@pytest.mark.parametrize("switch", ["at_end", "kid"])
def test_a_switch_that_is_not_true_or_false_is_said_when_built(switch):
    from pegasus_lab.callbacks.fid_curve import FIDCurve
    with pytest.raises(ConfigError, match=f"^fid_curve.{switch} must be true or false"):
        FIDCurve(fid={}, **{switch: "false "})


def test_patience_counts_from_the_lowest_finite_fid():
    from pegasus_lab.callbacks.fid_curve import FIDCurve
    curve = FIDCurve(fid={}, patience=2)
    curve.history = [(1, float("nan")), (2, 40.0), (3, 45.0)]
    assert not curve._out_of_patience(3)  # a NaN point is not the best one
    curve.history.append((4, 40.0))  # equal is no improvement
    assert curve._out_of_patience(4)
    curve.history = [(1, float("nan")), (2, float("inf"))]
    assert not curve._out_of_patience(2)


def test_the_saved_best_s_fid_is_its_lowest_finite_point(tmp_path):
    from types import SimpleNamespace

    from pegasus_lab.callbacks.fid_curve import FIDCurve
    curve = FIDCurve(fid={}, best_checkpoint=str(tmp_path / "best-fid.ckpt"))
    torch.save({"callbacks": {curve.state_key: {"history": [[2, float("nan")], [4, 50.0],
                                                            [6, 40.0]]}}},
               tmp_path / "best-fid.ckpt")
    resumed = SimpleNamespace(ckpt_path=str(tmp_path / "last.ckpt"))
    assert curve._fid_of_saved_best(resumed) == 40.0  # min() over all of them: nan
    assert curve._fid_of_saved_best(SimpleNamespace(ckpt_path=None)) is None  # a new run


def test_a_sigterm_stops_the_run_within_the_training_set_s_features(tmp_path, tiny_fid_weights,
                                                                   caplog):
    """Lightning only takes note of a SIGTERM and stops at the next training step: a run
    killed while the FID curve read the training set's features (hours on a CPU) went on
    reading them all. It now stops at the next batch of images, as `kill` meant."""
    from omegaconf import open_dict
    cfg = compose_config("train", [*SMOKE, "callbacks=fid", *fid_overrides(tiny_fid_weights)],
                         tmp_path)
    with open_dict(cfg):  # the SIGTERM first, then the curve's features
        cfg.callbacks = {"stop": {"_target_": "tests.helpers.TerminateOnTrainStart"},
                         **cfg.callbacks}
    with pytest.raises(SystemExit) as stopped:
        train(cfg)
    assert stopped.value.code == 143
    assert "terminated (SIGTERM) at step 0, before its first checkpoint" in caplog.text
    cache = Path(cfg.fid.cache_dir)
    assert not cache.exists() or not list(cache.glob("features-*.pt"))  # stopped part-way


def test_extraction_stops_where_its_check_raises():
    from pegasus_lab.metrics.features import extract
    seen = []

    def batches():
        for i in range(5):
            seen.append(i)
            yield torch.zeros(2, 3, 8, 8, dtype=torch.uint8)

    def check():
        if len(seen) == 2:
            raise SystemExit(143)
    with pytest.raises(SystemExit):
        extract(torch.nn.Flatten(), batches(), check=check)
    assert seen == [0, 1]
