"""pegasus-train end to end on the CPU: runs, multiruns, checkpoints, and user errors."""
import json
import warnings
from pathlib import Path

import pytest
import torch

from pegasus_lab.checkpoints import CONFIG_KEY, load_checkpoint
from pegasus_lab.cli.common import quiet_library_notices
from pegasus_lab.cli.train import build, finished_line, objective, train, train_for_sweeper
from pegasus_lab.errors import ConfigError
from tests.conftest import (CIFAR_MINI, CONF, ROOT, SMOKE, TINY_VAE, compose_config,
                            has_validation_metric, run_cli, smoke)

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
def test_fast_run_writes_checkpoints_logs_and_figures(model, tmp_path):
    cfg = compose_config("train", smoke(model), tmp_path)
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "checkpoints" / "last.ckpt").exists()
    if has_validation_metric(cfg):
        assert any(p.name.startswith("best") for p in (run / "checkpoints").iterdir())
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "images" / "samples_latest.png").exists()
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    ckpt = load_checkpoint(run / "checkpoints" / "last.ckpt")  # weights_only load works
    assert ckpt[CONFIG_KEY]["model"]["_target_"] == cfg.model._target_
    # 2 epochs × 3 batches; GANs stop at max_steps=5, mid-epoch, and that state is saved too
    assert ckpt["global_step"] == (cfg.trainer.max_steps if cfg.trainer.max_steps > 0 else 6)


@pytest.mark.parametrize("model,validates", [("vae_conv", True), ("dcgan", False),
                                             ("acwgan_gp", False)])
def test_only_models_that_validate_get_a_checkpoint_ranked_by_validation(model, validates,
                                                                        tmp_path):
    # callbacks=fid: the default set (best by val/loss) with the curve, on any model
    cfg = compose_config("train", [*smoke(model), "callbacks=fid"], tmp_path)
    _, _, trainer = build(cfg)
    monitors = [c.monitor for c in trainer.checkpoint_callbacks]
    assert ("val/loss" in monitors) == validates
    assert None in monitors  # last.ckpt either way


def test_a_gan_run_shows_no_notice_of_the_validation_step_it_has_not(tmp_path):
    """Lightning warned in every GAN run that the data module has a validation set the
    method has no step for: the GANs validate nothing, by design."""
    cfg = compose_config("train", [*smoke("dcgan"), "logger=none"], tmp_path)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_library_notices()  # as every command does, after the test's filters
        train(cfg)
    assert [str(w.message) for w in seen if "validation_step" in str(w.message)] == []


def test_early_stopping_beside_the_default_callbacks(tmp_path):
    # no improvement of 1e9 is ever seen: after the first epoch, one check of patience ends it
    cfg = compose_config("train", [*SMOKE, "logger=none", "callbacks=[default,early_stopping]",
                                   "callbacks.early_stopping.patience=1",
                                   "callbacks.early_stopping.min_delta=1e9",
                                   "trainer.max_epochs=5"], tmp_path)
    train(cfg)
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 6  # 2 of the 5 epochs, 3 batches each


def test_a_validation_interval_of_zero_is_said_when_the_run_is_built(tmp_path):
    # Lightning takes 0 and divides by it as the first epoch ends
    cfg = compose_config("train", [*SMOKE, "trainer.check_val_every_n_epoch=0"], tmp_path)
    with pytest.raises(ConfigError, match="^trainer.check_val_every_n_epoch must be a "
                                          "positive integer, got 0$"):
        build(cfg)


def test_smoke_run_takes_true_or_false_when_the_run_is_built(tmp_path):
    """resume=auto keeps smoke runs and real runs apart by it: a word counted as true."""
    cfg = compose_config("train", [*SMOKE, "smoke_run=maybe"], tmp_path)
    with pytest.raises(ConfigError, match="^smoke_run must be true or false, got 'maybe'$"):
        build(cfg)


def test_a_trainer_flag_misspelt_is_said_with_the_closest_one(tmp_path):
    cfg = compose_config("train", [*SMOKE, "+trainer.max_epoch=3"], tmp_path)
    with pytest.raises(ConfigError, match=r"^Lightning refuses the run's settings: .*unexpected "
                                          r"keyword argument 'max_epoch'; did you mean "
                                          r"trainer\.max_epochs\?$"):
        build(cfg)


@pytest.mark.parametrize("setting", ["+trainer.gradient_clip_val=0.5",
                                     "+trainer.accumulate_grad_batches=2"])
def test_gradient_clipping_or_accumulation_is_said_to_be_lightning_s_automatic_only(
        setting, tmp_path):
    cfg = compose_config("train", [*SMOKE, setting], tmp_path)
    key, value = setting[len("+trainer."):].split("=")
    with pytest.raises(ConfigError, match=rf"^trainer\.{key}={value}: VAE steps its own "
                                          rf"optimizers \(manual optimization\), where "
                                          rf"Lightning .*; remove trainer\.{key}$"):
        build(cfg)
    off = "0" if "clip" in key else "1"  # the value that leaves it off passes
    build(compose_config("train", [*SMOKE, f"+trainer.{key}={off}"], tmp_path / "off"))


def test_early_stopping_on_a_validation_loss_a_gan_lacks_is_said_before_training(tmp_path):
    cfg = compose_config("train", [*smoke("dcgan"), "callbacks=[gan,early_stopping]"], tmp_path)
    with pytest.raises(ConfigError, match=r"early stopping on val/loss .* DCGAN has no "
                                          r"validation step.*fid_curve.patience"):
        build(cfg)


def test_early_stopping_on_validation_without_held_out_images_is_said_before_training(
        tmp_path):
    cfg = compose_config("train", [*SMOKE, "callbacks=[default,early_stopping]",
                                   "data.val_fraction=0"], tmp_path)
    with pytest.raises(ConfigError, match=r"^early stopping on val/loss needs validation "
                                          r"images, and data.val_fraction=0 holds none out"):
        build(cfg)
    cfg = compose_config("train", [*SMOKE, "callbacks=[default,early_stopping]",
                                   "data.val_fraction=0",
                                   "callbacks.early_stopping.monitor=train/loss_epoch"], tmp_path)
    build(cfg)  # a training loss needs no held-out images


def test_an_experiment_under_debug_smoke_trains_a_few_batches_end_to_end(tmp_path):
    # the demo experiment asks for 200 epochs; debug=smoke (applied after it) for 2 × 3 batches
    cfg = compose_config("train", ["experiment=demo", "debug=smoke", "logger=none"], tmp_path)
    train(cfg)
    run = Path(cfg.paths.output_dir)
    last = load_checkpoint(run / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 6 and cfg.trainer.limit_train_batches == 3
    assert (run / "images" / "interpolation_latest.png").exists()  # the demo's own figures


def test_dataloader_path_trains_too(tmp_path):
    cfg = compose_config("train", [*SMOKE, "data.fast_path=false", "data.num_workers=0",
                                   "logger=none"], tmp_path)
    train(cfg)
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 6


def test_a_run_given_minutes_decays_its_rates_over_them(tmp_path):
    # paper-2's model with a 3-s budget instead of a step count: the run stops on the clock
    # with its learning rates decayed, and the checkpoint keeps the time spent (for a resume)
    cfg = compose_config("train", [*smoke("acwgan_gp"), "trainer.max_steps=-1",
                                   "trainer.max_epochs=-1", "trainer.max_time=00:00:00:03",
                                   "model.lr_decay_over=time", "logger=none"], tmp_path)
    train(cfg)
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] >= 2
    rates = [o["param_groups"][0]["lr"] for o in ckpt["optimizer_states"]]
    # each step's rate is the share of the budget left when it starts: the last one's is small
    assert all(0 <= float(r) < 0.5 * 2e-4 for r in rates)
    timer = next(v for k, v in ckpt["callbacks"].items() if k.startswith("Timer"))
    assert timer["time_elapsed"]["train"] >= 3


def test_finetune_starts_from_the_stage1_weights(tmp_path):
    data = ["data=image_folder", f"data.source.root={CIFAR_MINI}", "data.image_size=16",
            "data.batch_size=8", "data.cache_dir=null", "trainer=smoke", *TINY_VAE]
    stage1 = compose_config("train", data, tmp_path / "one")
    train(stage1)
    last = Path(stage1.paths.output_dir) / "checkpoints" / "last.ckpt"
    stage2 = compose_config("train", ["experiment=paper1_finetune", *data,
                                      f"pretrained_ckpt={last}"],
                            tmp_path / "two")
    # the finetune experiment's data is CIFAR+STL horses/birds; here the fixture stands in
    from hydra.utils import instantiate
    model = instantiate(stage2.model)
    saved = load_checkpoint(last)["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_multirun_from_the_shell(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "-m", *SMOKE, "trainer.max_epochs=1",
                     "model.kl_weight=0.5,1.0", f"paths.log_dir={tmp_path}",
                     "hydra.sweep.dir=" + str(tmp_path / "sweep"), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        run = tmp_path / "sweep" / job
        assert (run / "checkpoints" / "last.ckpt").exists()
        assert (run / ".hydra" / "config.yaml").exists()
        assert list((run / "tensorboard").glob("events.*"))
    assert "kl_weight: 0.5" in (tmp_path / "sweep" / "0" / ".hydra" / "config.yaml").read_text()
    table = (tmp_path / "sweep" / "sweep.md").read_text()  # the jobs side by side
    assert "| job | model.kl_weight | status |" in table
    assert table.count("| ok |") == 2


def test_hydra_job_chdir_still_reads_relative_paths_from_the_launch_folder(tmp_path):
    # hydra.job.chdir=true moves each job into its run folder; a relative data folder, root
    # (PEGASUS_ROOT=., the default) and checkpoint still mean the launch folder, as without it
    import shutil
    shutil.copytree(CIFAR_MINI, tmp_path / "images")
    relative = ["data=image_folder", "data.source.root=images", "data.cache_dir=null",
                "hydra.job.chdir=true"]
    result = run_cli("pegasus_lab.cli.train", "-m", "trainer=smoke", *TINY_VAE, *relative,
                     "data.batch_size=16", "trainer.max_epochs=1", "logger=none",
                     "model.kl_weight=0.5,1.0", "hydra.sweep.dir=sweep", cwd=tmp_path,
                     env={"PEGASUS_ROOT": "."})
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / "sweep" / job / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "sweep" / "0" / "sweep").exists()  # nothing nested in a job
    made = json.loads((tmp_path / "sweep" / "1" / "provenance.json").read_text())["parts"][0]
    assert made["command"][:4] == ["python", "-m", "pegasus_lab.cli.train", "-m"]  # as typed
    result = run_cli("pegasus_lab.cli.sample", "ckpt=sweep/1/checkpoints/last.ckpt",
                     "num_samples=4", "hydra.job.chdir=true", cwd=tmp_path,
                     env={"PEGASUS_ROOT": "."})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "sweep" / "1" / "samples" / "grid.png").exists()


def test_a_sweeper_gets_the_metric_it_names(tmp_path):
    cfg = compose_config("train", [*SMOKE, "logger=none", "optimized_metric=val/loss"], tmp_path)
    value = train_for_sweeper(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert value == summary["metrics"]["val/loss"]
    assert objective(compose_config("train", SMOKE, tmp_path), summary["metrics"]) is None
    # a misspelt name: an error naming what the run did log, not a None handed to the sweeper
    cfg.optimized_metric = "val/los"
    with pytest.raises(ConfigError, match=r"optimized_metric=val/los .*val/loss"):
        objective(cfg, summary["metrics"])


def test_each_lightning_line_is_printed_once_and_kept_in_the_log(tmp_path):
    # a new interpreter, as a user's: Lightning is imported after Hydra sets up logging
    result = run_cli("pegasus_lab.cli.train", *SMOKE, "logger=none", "trainer.max_epochs=1",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=ROOT, fresh=True)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = result.stdout + result.stderr
    assert printed.count("Seed set to 12345") == 1
    assert f"run folder: {tmp_path / 'run'} (checkpoints" in printed  # where to look
    assert printed.count("`Trainer.fit` stopped") == 1
    assert "is deprecated" not in printed  # library notices a user cannot act on
    assert "💡 Tip" not in printed and "litlogger" not in printed  # nor adverts
    assert "Seed set to 12345" in (tmp_path / "run" / "train.log").read_text()


def _user_error(result):
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return errors[0]


def test_unknown_class_is_one_clear_error(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "experiment=demo", "data=image_folder",
                     f"data.source.root={CIFAR_MINI}", f"paths.log_dir={tmp_path}",
                     "interpolation.to_class=pegasus", "trainer=smoke", cwd=ROOT)
    line = _user_error(result)
    assert "pegasus" in line and "valid choices" in line and "horse" in line


def test_corrupt_image_is_one_clear_error_naming_it(tmp_path):
    import shutil
    shutil.copytree(CIFAR_MINI, tmp_path / "images")
    (tmp_path / "images" / "bird" / "0007.jpg").write_bytes(b"\xff\xd8 truncated")
    result = run_cli("pegasus_lab.cli.train", "data=image_folder",
                     f"data.source.root={tmp_path / 'images'}", f"paths.log_dir={tmp_path}",
                     f"paths.data_dir={tmp_path}", "trainer=smoke", cwd=ROOT)
    assert "0007.jpg" in _user_error(result)


def test_missing_data_with_download_off(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "data=cifar10", "data.download=false",
                     f"paths.data_dir={tmp_path}", f"paths.log_dir={tmp_path}", "trainer=smoke",
                     cwd=ROOT)
    line = _user_error(result)
    assert str(tmp_path) in line and "data.download=true" in line


def test_missing_stl10_says_how_to_train_without_it(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "experiment=paper1_pretrain", "data.download=false",
                     f"paths.data_dir={tmp_path}", f"paths.log_dir={tmp_path}", "trainer=smoke",
                     cwd=ROOT)
    line = _user_error(result)
    assert "data.source.optional=[" in line


def test_finetune_without_stage1_checkpoint_is_a_clear_error(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "experiment=paper1_finetune",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert "pretrained_ckpt" in _user_error(result)


def test_unknown_data_config_lists_the_options(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "data=imagenet", f"paths.log_dir={tmp_path}",
                     cwd=ROOT)
    assert result.returncode != 0
    assert "cifar10" in result.stderr and "imagenet" in result.stderr


def test_csv_logger_beside_tensorboard(tmp_path):
    import csv
    cfg = compose_config("train", [*SMOKE, "logger=[tensorboard,csv]"], tmp_path)
    train(cfg)
    run = Path(cfg.paths.output_dir)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    with (run / "csv" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    assert len(val) == 2  # one per epoch
    assert [int(r["step"]) for r in rows if r.get("val/loss")][-1] == 5


def test_a_run_records_the_code_and_libraries_it_ran_with(tmp_path):
    from importlib import metadata

    from pegasus_lab.provenance import code_state
    cfg = compose_config("train", [*SMOKE, "logger=none", "trainer.max_epochs=1"], tmp_path)
    train(cfg)
    run = Path(cfg.paths.output_dir)
    cfg.trainer.max_epochs = 2
    cfg.ckpt_path = str(run / "checkpoints" / "last.ckpt")
    train(cfg)  # resumed: a second part
    parts = json.loads((run / "provenance.json").read_text())["parts"]
    assert len(parts) == 2
    assert parts[0]["packages"]["torch"] == metadata.version("torch")
    assert parts[0]["code"]["commit"] == code_state()["commit"]  # this checkout's, or None


def test_the_finished_line_says_each_value_once_to_six_figures():
    metrics = {"lr-Adam": 0.0010000000474974513, "train/loss": 1819.7720947265625,
               "train/loss_step": 1801.96, "loss": 1801.96, "val/loss": 1939.1519775390625,
               "train/loss_epoch": 1819.7720947265625, "eval/fid_epoch": 40.0}
    assert finished_line(metrics) == ("lr-Adam=0.001 train/loss=1819.77 val/loss=1939.15 "
                                      "eval/fid_epoch=40")
