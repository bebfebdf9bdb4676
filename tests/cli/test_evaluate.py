"""pegasus-evaluate on the CPU with a small stand-in feature network."""
import json
from importlib import metadata
from pathlib import Path

import pytest

from pegasus_lab.cli.train import train
from pegasus_lab.errors import ConfigError
from tests.conftest import (CIFAR_MINI, ROOT, TINY, TINY_VAE, compose_config, fid_overrides,
                            run_cli)

# downloads fail at once (a proxy that refuses): the offline case, whatever the machine
OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "NO_PROXY": "", "no_proxy": ""}
FOLDER = ["data=image_folder", f"data.source.root={CIFAR_MINI}", "data.image_size=16",
          "data.cache_dir=null"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    cfg = compose_config("train", [*FOLDER, "data.batch_size=8", "trainer=smoke", *TINY_VAE],
                         tmp)
    train(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def test_checkpoint_metrics_json_next_to_it(ckpt, tmp_path, tiny_fid_weights,
                                            random_is_weights):
    result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={ckpt}", "num_samples=20",
                     "kid_subset_size=1000", f"paths.log_dir={tmp_path}",
                     f"paths.data_dir={tmp_path}", *fid_overrides(tiny_fid_weights),
                     f"inception_score_weights={random_is_weights}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = ckpt.parents[1] / "metrics" / "last.json"
    metrics = json.loads(out.read_text())
    assert metrics["fid"] > 0 and metrics["num_generated"] == 20 and metrics["num_real"] == 96
    assert metrics["kid_subset_size"] == 20  # guarded: fewer samples than the subset size
    assert metrics["feature_extractor"]["sha256"] == tiny_fid_weights[1]
    # the Inception Score of the 20 samples (few: a full-size InceptionV3 on a CPU), from the
    # network with logits named
    assert metrics["inception_score"] >= 1.0 and metrics["inception_score_std"] >= 0.0
    # k-NN manifold metrics on all 96 real and 20 generated features
    assert metrics["manifold_k"] == 5 and metrics["manifold_num_generated"] == 20
    assert all(0 <= metrics[m] <= 1 for m in ("precision", "recall", "coverage"))
    assert metrics["density"] >= 0
    # what made the numbers: the libraries (FID moves with them), the device, the code
    made = metrics["provenance"]
    assert made["packages"]["torch"] == metadata.version("torch")
    assert made["device"] == "cpu" and "commit" in made["code"] and "diff" not in made["code"]
    events = list((ckpt.parents[1] / "tensorboard").glob("events.*"))
    assert events


def test_real_against_real_through_the_same_path(tmp_path, tiny_fid_weights):
    # without the network with logits (no download in a test): the Inception Score is said to
    # be unavailable, and the rest goes on
    result = run_cli("pegasus_lab.cli.evaluate",
                     "data@reference=image_folder", f"reference.source.root={CIFAR_MINI}",
                     "data@candidate=image_folder", f"candidate.source.root={CIFAR_MINI}",
                     f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}",
                     f"out={tmp_path / 'm.json'}", *fid_overrides(tiny_fid_weights),
                     cwd=ROOT, env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert abs(metrics["fid"]) < 1e-6  # the same images
    assert metrics["precision"] == metrics["recall"] == metrics["coverage"] == 1.0
    assert metrics["inception_score"] is None
    assert metrics["inception_score_unavailable"].startswith("Inception Score unavailable: ")
    # the real-image features were cached for the next evaluation
    assert list((tmp_path / "cache" / "fid").glob("features-*.pt"))


def test_a_quick_check_against_some_of_the_real_images_says_how_many(ckpt, tmp_path,
                                                                       tiny_fid_weights):
    """reference_samples: a recipe smoke-tested on a CPU is not held up for an hour by the
    Inception features of all the real images (README, Debugging a config)."""
    from pegasus_lab.cli.evaluate import evaluate
    cfg = compose_config("evaluate", [f"ckpt={ckpt}", "num_samples=30", "reference_samples=40",
                                      "kid_subset_size=20", "kid_subsets=2",
                                      "inception_score=false", "manifold.num_samples=0",
                                      f"out={tmp_path / 'm.json'}", "fid.cache_dir=null",
                                      *fid_overrides(tiny_fid_weights)], tmp_path)
    results = evaluate(cfg)
    assert results["num_real"] == 40 and results["num_generated"] == 30 and results["fid"] > 0
    assert results["reference_drawn"] == "40 of its 96 images, drawn with seed 0"
    assert json.loads((tmp_path / "m.json").read_text())["num_real"] == 40


def test_some_of_a_candidate_set_against_some_of_the_reference(tmp_path, tiny_fid_weights):
    """candidate_samples: a real set against another on a CPU without the Inception features
    of all of it (candidate=mnist read all 70,000 images whatever num_samples said)."""
    from pegasus_lab.cli.evaluate import evaluate
    from pegasus_lab.metrics.evaluation import drawn_indices
    folder = ["data@reference=image_folder", f"reference.source.root={CIFAR_MINI}",
              "data@candidate=image_folder", f"candidate.source.root={CIFAR_MINI}"]
    cfg = compose_config("evaluate", [*folder, "reference_samples=40", "candidate_samples=30",
                                      "kid_subset_size=20", "kid_subsets=2",
                                      "inception_score=false", "manifold.num_samples=0",
                                      f"out={tmp_path / 'm.json'}", "fid.cache_dir=null",
                                      *fid_overrides(tiny_fid_weights)], tmp_path)
    results = evaluate(cfg)
    assert results["num_real"] == 40 and results["num_generated"] == 30
    assert results["candidate_drawn"] == "30 of its 96 images, drawn with seed 1"
    assert results["fid"] > 0  # the same set, two different draws of it
    assert drawn_indices(96, 30, 1).tolist() != drawn_indices(96, 30, 0)[:30].tolist()
    assert drawn_indices(96, 96, 1) is None and drawn_indices(96, None, 1) is None


def test_a_truncated_draw_is_measured_and_kept_beside_the_untruncated_one(ckpt, tmp_path,
                                                                          tiny_fid_weights):
    """truncation=t: the same seed's latents within ±t, into <ckpt>_truncation<t>.json and
    TensorBoard's eval/last_truncation<t>/… (as the sweep table names them), so a sweep over t
    keeps every result; another checkpoint's are eval/<its name>/…"""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pegasus_lab.cli.evaluate import evaluate
    common = [f"ckpt={ckpt}", "num_samples=30", "reference_samples=40", "kid_subset_size=20",
              "kid_subsets=2", "inception_score=false", "manifold.num_samples=0",
              "fid.cache_dir=null", *fid_overrides(tiny_fid_weights)]
    plain = evaluate(compose_config("evaluate", common, tmp_path))
    truncated = evaluate(compose_config("evaluate", [*common, "truncation=0.5"], tmp_path))
    assert plain["truncation"] is None and truncated["truncation"] == 0.5
    assert truncated["fid"] != plain["fid"]
    metrics = ckpt.parents[1] / "metrics"
    assert json.loads((metrics / "last.json").read_text())["fid"] == plain["fid"]
    assert json.loads((metrics / "last_truncation0.5.json").read_text())["fid"] == \
        truncated["fid"]
    events = EventAccumulator(str(ckpt.parents[1] / "tensorboard"))
    events.Reload()
    assert {"eval/fid", "eval/last_truncation0.5/fid"} <= set(events.Tags()["scalars"])
    assert "eval/last_truncation0.5/truncation" not in events.Tags()["scalars"]
    best = next(ckpt.parent.glob("best-*.ckpt"))  # the VAE's best by val/loss
    evaluate(compose_config("evaluate", [*common, f"ckpt={best}"], tmp_path))
    events.Reload()
    assert f"eval/{best.stem}/fid" in events.Tags()["scalars"]


def test_a_candidate_image_set_has_no_latents_to_truncate(tmp_path):
    from pegasus_lab.cli.evaluate import _check_counts
    cfg = compose_config("evaluate", ["data@candidate=image_folder", "truncation=0.5"])
    with pytest.raises(ConfigError, match=r"^truncation draws a checkpoint's samples nearer the "
                                          r"mode of its latent; a candidate image set "):
        _check_counts(cfg)


def test_a_gan_s_trained_weights_are_measured_beside_their_average(tmp_path, tiny_fid_weights):
    """A GAN trained with model.ema_decay is measured on its weights' average; average=false on
    the weights it trained, into <ckpt>_no-average.json and eval/last_no-average/…"""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from pegasus_lab.cli.evaluate import evaluate
    run = compose_config("train", [*FOLDER, "data.batch_size=8", "trainer=smoke", "model=dcgan",
                                   *TINY["dcgan"], "model.ema_decay=0.5"], tmp_path / "train")
    train(run)
    gan = Path(run.paths.output_dir) / "checkpoints" / "last.ckpt"
    common = [f"ckpt={gan}", "num_samples=30", "reference_samples=40", "kid_subset_size=20",
              "kid_subsets=2", "inception_score=false", "manifold.num_samples=0",
              "fid.cache_dir=null", *fid_overrides(tiny_fid_weights)]
    averaged = evaluate(compose_config("evaluate", common, tmp_path))
    trained = evaluate(compose_config("evaluate", [*common, "average=false"], tmp_path))
    assert averaged["from_average"] is True and trained["from_average"] is False
    assert trained["fid"] != averaged["fid"]
    metrics = gan.parents[1] / "metrics"
    assert json.loads((metrics / "last_no-average.json").read_text())["fid"] == trained["fid"]
    assert json.loads((metrics / "last.json").read_text())["fid"] == averaged["fid"]
    events = EventAccumulator(str(gan.parents[1] / "tensorboard"))
    events.Reload()
    assert {"eval/fid", "eval/last_no-average/fid"} <= set(events.Tags()["scalars"])


def test_average_false_needs_a_model_that_keeps_an_average(ckpt, tmp_path, tiny_fid_weights):
    from pegasus_lab.cli.evaluate import _check_counts, evaluate
    cfg = compose_config("evaluate", [f"ckpt={ckpt}", "average=false",
                                      *fid_overrides(tiny_fid_weights)], tmp_path)
    with pytest.raises(ConfigError, match=r"^average=false: the VAE of .* keeps no average"):
        evaluate(cfg)
    assert not (ckpt.parents[1] / "metrics" / "last_no-average.json").exists()
    cfg = compose_config("evaluate", ["data@candidate=image_folder", "average=false"])
    with pytest.raises(ConfigError, match=r"^average=false measures a checkpoint's trained "
                                          r"generator .*; a candidate image set"):
        _check_counts(cfg)


def test_missing_weights_is_one_clear_error(ckpt, tmp_path):
    result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={ckpt}", f"paths.log_dir={tmp_path}",
                     f"fid.weights={tmp_path / 'none.pt'}", cwd=ROOT)
    assert result.returncode == 2
    assert "make fid-weights" in result.stderr and "Traceback" not in result.stderr


def test_missing_checkpoint_is_said_before_the_networks_load(tmp_path):
    # neither FID weights nor the Inception Score's download are reached: the FID file named
    # here does not exist either, and a download would be refused
    result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={tmp_path / 'typo.ckpt'}",
                     f"paths.log_dir={tmp_path}", f"fid.weights={tmp_path / 'none.pt'}",
                     cwd=ROOT, env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    assert result.returncode == 2, result.stderr[-3000:]
    assert "checkpoint not found" in result.stderr and "Traceback" not in result.stderr
    assert "make fid-weights" not in result.stderr and "Downloading" not in result.stderr


def test_a_missing_candidate_folder_is_said_before_the_networks_load(tmp_path):
    # it was said after the Inception Score's download and the reference's features (minutes
    # for 50k images on a CPU): the FID file named here does not exist, a download is refused
    result = run_cli("pegasus_lab.cli.evaluate",
                     "data@reference=image_folder", f"reference.source.root={CIFAR_MINI}",
                     "data@candidate=image_folder", f"candidate.source.root={tmp_path / 'typo'}",
                     f"paths.log_dir={tmp_path}", f"fid.weights={tmp_path / 'none.pt'}",
                     cwd=ROOT, env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"image folder not found: {tmp_path / 'typo'}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "make fid-weights" not in result.stderr and "Downloading" not in result.stderr


@pytest.mark.parametrize("arg,says", [
    ("num_samples=1", "num_samples must be an integer of at least 2, got 1"),
    ("kid_subsets=0", "kid_subsets must be a positive integer, got 0"),
    ("kid_subset_size=-5", "kid_subset_size must be a positive integer, got -5"),
    ("manifold.k=0", "manifold.k must be a positive integer, got 0"),
    ("manifold.num_samples=-1", "manifold.num_samples must be 0 or a positive integer, got -1"),
    ("seed=1.5", "seed must be an integer from 0 to 4294967295, got 1.5"),
    ("per_class=yes", "per_class must be true or false, got 'yes'"),
    ("reference_samples=1", "reference_samples must be an integer of at least 2, got 1"),
    ("reference_samples=all", "reference_samples must be an integer of at least 2, got 'all'"),
    ("candidate_samples=100", "candidate_samples limits a candidate image set (data@candidate=…"
     "); a checkpoint's samples are num_samples"),
    ("fid.batch_size=0", "fid.batch_size must be a positive integer, got 0"),
    ("fid.precision=bf16", "fid.precision must be one of ['fp32', 'tf32'], got 'bf16'"),
    ("truncation=-1", "truncation must be a positive number (each latent coordinate kept "
                      "within ±truncation), or null for none, got -1"),
])
def test_bad_counts_are_said_first(arg, says, tmp_path):
    result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={tmp_path / 'typo.ckpt'}", arg,
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and says in result.stderr, result.stderr[-3000:]


def test_an_unwritable_out_is_said_before_anything_loads(tmp_path):
    result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={tmp_path / 'typo.ckpt'}",
                     f"out={tmp_path}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "is a folder: give a file name in it" in result.stderr
    assert "checkpoint not found" not in result.stderr


def test_nothing_to_evaluate(tmp_path):
    result = run_cli("pegasus_lab.cli.evaluate", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and "nothing to evaluate" in result.stderr


def test_evaluating_a_multirun_job_fills_its_row_in_the_sweep_table(tmp_path, tiny_fid_weights):
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.train", "-m", *FOLDER, "data.batch_size=8", "trainer=smoke",
                     *TINY_VAE, "trainer.max_epochs=1", "logger=none", "seed=1,2",
                     f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        result = run_cli("pegasus_lab.cli.evaluate", f"ckpt={sweep / job}/checkpoints/last.ckpt",
                         "num_samples=20", "inception_score=false", "tensorboard=false",
                         f"paths.log_dir={tmp_path}", *fid_overrides(tiny_fid_weights),
                         cwd=ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
    fids = [json.loads((sweep / job / "metrics" / "last.json").read_text())["fid"]
            for job in ("0", "1")]
    table = (sweep / "sweep.md").read_text()
    assert "| job | seed | status | steps | epochs | wall_seconds | eval/fid |" in table
    across = table[table.index("## Across seeds"):]  # and their mean over the two seeds
    assert f"{sum(fids) / 2:.6g} ± " in across
