"""pegasus-sample end to end: a tiny run on the real fixture images, then its figures."""
from pathlib import Path

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pegasus_lab.cli import sample
from pegasus_lab.cli.train import train
from pegasus_lab.errors import ConfigError
from tests.conftest import CIFAR_MINI, ROOT, TINY_VAE, compose_config, run_cli

SIDE, PAD = 16, 2


def train_on_fixture(tmp_path, model_overrides, *extra) -> Path:
    """A smoke run on the committed CIFAR-10 images; the run folder."""
    cfg = compose_config("train", [
        "data=image_folder", f"data.source.root={CIFAR_MINI}", f"data.image_size={SIDE}",
        "data.batch_size=8", "data.cache_dir=null", "trainer=smoke", *model_overrides, *extra],
        tmp_path)
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="module")
def trained_ckpt(tmp_path_factory):
    return train_on_fixture(tmp_path_factory.mktemp("run"), TINY_VAE) / "checkpoints" / "last.ckpt"


def _grid_side(n):
    return n * (SIDE + PAD) + PAD


def test_interpolation_grid_png(trained_ckpt, tmp_path):
    out = tmp_path / "grid.png"
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", "mode=interpolate",
                     f"out={out}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size == (_grid_side(8), _grid_side(8))  # 8 horses × 8 weights
    assert list((trained_ckpt.parents[1] / "tensorboard").glob("events.*"))


def test_random_grid_png_next_to_the_run(trained_ckpt, tmp_path):
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", "num_samples=16",
                     f"paths.log_dir={tmp_path}", "tensorboard=false", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = trained_ckpt.parents[1] / "samples" / "grid.png"
    assert out.exists() and str(out) in result.stdout
    assert Image.open(out).size == (_grid_side(4), _grid_side(4))


def test_another_checkpoint_of_the_run_gets_its_own_folder(trained_ckpt, tmp_path):
    best = next(trained_ckpt.parent.glob("best-*.ckpt"))  # the VAE's best by val/loss
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={best}", "num_samples=4",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = trained_ckpt.parents[1] / "samples" / best.stem / "grid.png"
    assert out.exists() and str(out) in result.stdout
    assert Image.open(out).size == (_grid_side(2), _grid_side(2))
    events = EventAccumulator(str(trained_ckpt.parents[1] / "tensorboard"))
    events.Reload()
    assert f"pegasus-sample/{best.stem}/grid" in events.Tags()["images"]


def test_a_truncated_grid_is_kept_beside_the_untruncated_one(trained_ckpt, tmp_path):
    """truncation=t: a figure of its own (its name and TensorBoard tag say t), drawn from the
    same seed's latents within ±t."""
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", "num_samples=4",
                     "truncation=0.5", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = trained_ckpt.parents[1] / "samples" / "grid_truncation0.5.png"
    assert out.exists() and str(out) in result.stdout
    assert Image.open(out).size == (_grid_side(2), _grid_side(2))
    events = EventAccumulator(str(trained_ckpt.parents[1] / "tensorboard"))
    events.Reload()
    assert "pegasus-sample/grid_truncation0.5" in events.Tags()["images"]


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00" * 100)
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={bad}", f"paths.log_dir={tmp_path}",
                     cwd=ROOT)
    assert result.returncode == 2
    assert "cannot read checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_missing_checkpoint(tmp_path):
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={tmp_path / 'none.ckpt'}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and "checkpoint not found" in result.stderr


@pytest.mark.parametrize("args,says", [
    (["num_samples=0"], "mode=grid: num_samples must be a positive integer, got 0"),
    (["mode=walk", "walk.steps=0"], "mode=walk: walk.steps must be an integer of at least 2"),
    (["mode=class_grid", "per_class=-1"], "mode=class_grid: per_class must be"),
    (["mode=pegasus", "blend.top_k=0"], "mode=pegasus: blend.top_k must be"),
    (["mode=critic_picks", "num_samples=64", "num_candidates=10"], "draw at least as many"),
    (["nrow=-3"], "mode=grid: nrow must be a positive integer, got -3"),
    (["seed=abc"], "seed must be an integer from 0 to 4294967295, got 'abc'"),
    (["mode=pegasus", "blend.wing_classes=[]"], "blend: wing_classes must be a list of class"),
    (["mode=nearest", "nearest.features=color"], "unknown nearest.features 'color'"),
    (["tensorboard=flase"], "tensorboard must be true or false, got 'flase'"),
    (["mode=interpolate", "+interpolation.step=8"], "interpolation: PairGridSpec.__init__() got"),
    (["truncation=0"], "truncation must be a positive number (each latent coordinate kept "
                       "within ±truncation), or null for none, got 0"),
    (["mode=pegasus", "truncation=0.5"], "mode=pegasus encodes real images and draws no random "
     "latent, so truncation=0.5 would change nothing: it applies to modes grid, class_grid, "
     "walk, critic_picks, nearest"),
    (["average=maybe"], "average must be true or false, got 'maybe'"),
])
def test_bad_counts_are_said_before_the_checkpoint_loads(args, says, tmp_path):
    # the checkpoint does not exist: the count is checked first
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={tmp_path / 'none.ckpt'}", *args,
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_data_settings_are_refused_where_the_mode_reads_no_images():
    """`+data.…` in grid mode was accepted and changed nothing."""
    for mode in ("grid", "class_grid", "walk", "critic_picks"):
        cfg = compose_config("sample", ["ckpt=none.ckpt", f"mode={mode}", "+data.classes=[horse]"])
        with pytest.raises(ConfigError, match=f"^mode={mode} draws from the model alone, so "
                                              "data.classes would change nothing: the data is "
                                              "read by modes nearest, interpolate, pegasus only"):
            sample._check_counts(cfg)
    for mode in ("nearest", "interpolate", "pegasus"):
        sample._check_counts(compose_config("sample", ["ckpt=none.ckpt", f"mode={mode}",
                                                       "+data.source.root=/elsewhere"]))


def test_a_walk_has_at_least_its_two_ends():
    cfg = compose_config("sample", ["ckpt=none.ckpt", "mode=walk", "walk.steps=1"])
    with pytest.raises(ConfigError, match="mode=walk: walk.steps must be an integer of at least "
                                          "2, got 1"):
        sample._check_counts(cfg)


@pytest.mark.parametrize("value", ["maybe", 1])
def test_pegasus_score_is_auto_true_or_false(value):
    cfg = compose_config("sample", ["ckpt=none.ckpt", "mode=interpolate",
                                    f"pegasus_score={value}"])
    with pytest.raises(ConfigError, match=f"pegasus_score must be auto, true or false, got "
                                          f"{value!r}"):
        sample._check_counts(cfg)


def test_an_unwritable_or_non_png_out_is_said_before_the_checkpoint_loads(tmp_path):
    (tmp_path / "a_file").write_text("x")
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={tmp_path / 'none.ckpt'}",
                     f"out={tmp_path / 'a_file' / 'grid.png'}", f"paths.log_dir={tmp_path}",
                     cwd=ROOT)
    assert result.returncode == 2 and "a_file is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={tmp_path / 'none.ckpt'}",
                     f"out={tmp_path / 'grid.jpg'}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and "grid.jpg must name a .png file" in result.stderr


@pytest.mark.parametrize("device,says", [("gpu", "unknown device 'gpu'"),
                                         ("cuda:99", "this machine has")])
def test_a_device_the_machine_lacks_is_one_clear_error(trained_ckpt, tmp_path, device, says):
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", f"device={device}",
                     f"out={tmp_path / 'g.png'}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "g.png").exists()


def test_unknown_mode(trained_ckpt, tmp_path):
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", "mode=video",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and "valid choices" in result.stderr


def test_pegasus_mode_blends_ranks_and_saves_the_white_one(tmp_path, tiny_fid_weights):
    from tests.conftest import TINY, fid_overrides
    run = train_on_fixture(tmp_path / "train", ["model=vaegan", *TINY["vaegan"]], "callbacks=vaegan")
    assert (run / "images" / "train_discriminator_epoch.png").exists()  # the D-loss curve
    ckpt = run / "checkpoints" / "last.ckpt"
    out = tmp_path / "pegasi.png"
    # no pegasus classifier (whatever a user's data/ holds): ranked by whiteness alone
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={ckpt}", "mode=pegasus", f"out={out}",
                     "blend.count=20", "blend.top_k=4", "blend.large_size=64",
                     f"pegasus.classifier={tmp_path / 'no-probe.pt'}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size == (_grid_side(5), _grid_side(4))  # 20 pegasi, 5 per row
    assert Image.open(tmp_path / "pegasi_top4.png").size == (_grid_side(2), _grid_side(2))
    assert Image.open(tmp_path / "pegasi_best.png").size == (64, 64)  # one image: no frame
    import json
    report = json.loads(out.with_suffix(".json").read_text())
    assert sorted(report["ranking"]) == list(range(20)) and report["ranked_by"] == "whiteness"
    w = report["whiteness"]
    assert w[report["ranking"][0]] == max(w)
    assert len(report["body_index"]) == len(report["wing_index"]) == 20

    # with one: whiteness × min(p_body, p_wing), from the classifier's probabilities
    from pegasus_lab.metrics.pegasus_score import LinearProbe, save_probe
    probe = save_probe(LinearProbe(16, ["airplane", "bird", "horse", "ship"]),
                       tmp_path / "probe.pt", feature_sha256=tiny_fid_weights[1],
                       test_accuracy=0.5)
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={ckpt}", "mode=pegasus", f"out={out}",
                     "blend.count=20", "blend.top_k=4", f"pegasus.classifier={probe}",
                     *fid_overrides(tiny_fid_weights), f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["ranked_by"] == "whiteness × min(p_body, p_wing)"
    score = [w * min(b, g) for w, b, g in zip(report["whiteness"], report["p_body"],
                                              report["p_wing"])]
    assert report["ranking"][0] == max(range(20), key=score.__getitem__)


@pytest.fixture(scope="module")
def gan_ckpt(tmp_path_factory):
    from tests.conftest import smoke
    tmp = tmp_path_factory.mktemp("gan")
    cfg = compose_config("train", [*smoke("acwgan_gp"), "model.ema_decay=0.5"], tmp)
    train(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("mode,args,rows,cols", [
    ("class_grid", ["per_class=3"], 4, 3),          # synthetic data: 4 classes
    ("walk", ["walk.rows=2", "walk.steps=5"], 2, 5),
    ("critic_picks", ["num_candidates=30", "num_samples=9"], 3, 3),
])
def test_paper2_figures(gan_ckpt, tmp_path, mode, args, rows, cols):
    out = tmp_path / f"{mode}.png"
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={gan_ckpt}", f"mode={mode}", *args,
                     f"out={out}", "tensorboard=false", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size == (_grid_side(cols), _grid_side(rows))


def test_class_grid_needs_a_conditional_model(trained_ckpt, tmp_path):
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={trained_ckpt}", "mode=class_grid",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and ("error: a class grid draws a row per class, and the VAE "
                                       "takes no class (a class-conditional model does; "
                                       "mode=grid draws this one's samples)") in result.stderr


def test_pegasi_need_a_model_with_an_encoder(gan_ckpt, tmp_path):
    """A GAN has no encoder: this was an AttributeError traceback."""
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={gan_ckpt}", "mode=pegasus",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: mode=pegasus encodes real images: it needs a model with an encoder" in \
        result.stderr and "Traceback" not in result.stderr


def test_memorisation_check_in_pixel_space(tmp_path):
    from tests.conftest import TINY
    run = train_on_fixture(tmp_path / "train", ["model=dcgan", *TINY["dcgan"]],
                           "data.val_fraction=0.2")
    ckpt = run / "checkpoints" / "last.ckpt"
    out = tmp_path / "nearest.png"
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={ckpt}", "mode=nearest",
                     "nearest.num_generated=30", "nearest.num_pairs=8", "nearest.features=pixels",
                     f"out={out}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Image.open(out).size == (_grid_side(8), _grid_side(2))  # 8 pairs, 4 per row
    assert (tmp_path / "nearest_distances.png").exists()
    import json
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["feature_space"] == "pixels"
    assert len(report["generated_distances"]) == 30 and report["num_heldout"] == 19


def test_average_false_draws_from_the_trained_weights_into_a_figure_of_its_own(gan_ckpt,
                                                                              tmp_path):
    """A GAN trained with model.ema_decay samples from its weights' average; average=false
    from the weights it trained, the same latents, into <mode>_no-average.png beside it."""
    import numpy as np
    common = [f"ckpt={gan_ckpt}", "num_samples=4", "tensorboard=false"]
    averaged = sample.sample(compose_config("sample", common, tmp_path))
    trained = sample.sample(compose_config("sample", [*common, "average=false"], tmp_path))
    assert averaged.name == "grid.png" and trained.name == "grid_no-average.png"
    assert trained.parent == averaged.parent
    assert not np.array_equal(np.asarray(Image.open(averaged)), np.asarray(Image.open(trained)))


def test_average_false_is_refused_for_a_model_that_keeps_none(trained_ckpt, tmp_path):
    cfg = compose_config("sample", [f"ckpt={trained_ckpt}", "average=false", "tensorboard=false"],
                         tmp_path)
    with pytest.raises(ConfigError, match=r"^average=false: the VAE of .*last.ckpt keeps no "
                                          r"average of generator weights \(it was trained with "
                                          r"model.ema_decay=null\)"):
        sample.sample(cfg)
