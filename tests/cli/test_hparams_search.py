"""Hyperparameter searches (conf/hparams_search/, Hydra's Optuna sweeper): the configs name
fields the experiments have, and a search over a tiny VAE keeps its best trial."""
import csv
import json
import math
import weakref

import pytest
import torch
import yaml
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from pegasus_lab.cli import train as train_cli
from pegasus_lab.cli.train import _worst_for_search, train_for_sweeper
from tests.conftest import ROOT, SMOKE, compose_config, compose_with_hydra, run_cli

SEARCHES = [("vae_optuna", "paper1_pretrain"), ("vae_optuna", "demo"),
            ("wgan_fid_optuna", "paper2_cifar10"), ("wgan_fid_optuna", "paper2_stl10"),
            ("gan_fid_optuna", "paper3_cifar10"), ("gan_fid_optuna", "paper3_stl10"),
            ("gan_fid_optuna", "paper4 model=study_acgan")]


@pytest.mark.parametrize("search,experiment", SEARCHES)
def test_a_search_sweeps_fields_its_experiment_has(search, experiment):
    cfg = compose_with_hydra([f"experiment={experiment.split()[0]}", *experiment.split()[1:],
                              f"hparams_search={search}"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.optimized_metric and sweeper.direction == "minimize"
    for key, space in sweeper.params.items():
        assert OmegaConf.select(cfg, key, default="absent") != "absent", key
        value = OmegaConf.select(cfg, key)
        if "interval(" in space:  # a number's range: the field is a number
            assert isinstance(value, (int, float)) and not isinstance(value, bool), key
    if search.endswith("fid_optuna"):  # the metric it minimises comes from this callback
        assert cfg.callbacks.fid_curve.at_end and not cfg.callbacks.fid_curve.every_n_steps


@pytest.mark.parametrize("experiment", ["paper3_cifar10", "paper4 model=study_gan"])
def test_each_category_of_the_gan_search_is_a_value_its_models_take(experiment):
    """A trial is the config with one value of each parameter: every category builds."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.utils import instantiate
    cfg = compose_with_hydra([f"experiment={experiment.split()[0]}", *experiment.split()[1:],
                              "hparams_search=gan_fid_optuna", "model.generator.width=8",
                              "model.discriminator.width=8"])
    parser, built = OverridesParser.create(), 0
    for key, space in cfg.hydra.sweeper.params.items():
        if "choice(" not in space:
            continue
        for value in parser.parse_override(f"{key}={space}").sweep_iterator():
            trial = OmegaConf.masked_copy(cfg, ["model", "data"])
            OmegaConf.update(trial, key, value)
            instantiate(trial.model)
            built += 1
    assert built >= 10


def test_an_optuna_search_keeps_its_best_trial(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.train", "hparams_search=vae_optuna", *SMOKE, "logger=none",
                     "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2",
                     "model.encoder.latent_dim=choice(4,8)", "model.encoder.width=choice(4,8)",
                     f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = {job: json.loads((sweep / job / "summary.json").read_text())["metrics"]["val/loss"]
              for job in ("0", "1", "2")}
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(losses.values()))
    best_job = min(losses, key=losses.get)
    trial = yaml.safe_load((sweep / best_job / ".hydra" / "overrides.yaml").read_text())
    for key, value in best["best_params"].items():
        assert f"{key}={value}" in trial, key
    with (sweep / "sweep.csv").open() as f:  # the sweep table ranks the trials the same way
        first = next(csv.DictReader(f))
    assert (first["rank"], first["job"]) == ("1", best_job)


def test_a_search_is_not_resumed_as_a_repeatable_multirun_is(tmp_path):
    # job N of a resumed multirun continues job N's folder: another trial's model in a search
    result = run_cli("pegasus_lab.cli.train", "hparams_search=vae_optuna", *SMOKE, "logger=none",
                     "resume=true", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2
    assert "error: a search (OptunaSweeper) cannot be resumed" in result.stderr


def test_a_diverging_job_scores_the_worst_and_the_sweep_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.train", "-m", *SMOKE, "logger=none",
                     "optimized_metric=val/loss", "model.optimizer.lr=1e12,1e-3",
                     f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (sweep / "0" / "train.log").read_text()
    assert "training diverged" in log and "scores inf and the search goes on" in log
    assert (sweep / "1" / "summary.json").exists()  # the next job ran


TRIAL_MODELS: list[weakref.ref] = []


class RunsOutOfGpuMemory(Callback):
    """What torch raises when a CUDA allocation fails, at the trial's second step."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        TRIAL_MODELS.append(weakref.ref(pl_module))
        if trainer.global_step == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB."
                                              "\nIf reserved but unallocated memory is large …")


OUT_OF_MEMORY = [*SMOKE, "logger=none", "optimized_metric=val/loss",
                 f"+callbacks.oom._target_={__name__}.RunsOutOfGpuMemory"]


def test_a_trial_out_of_gpu_memory_scores_the_worst_and_lets_its_model_go(tmp_path, monkeypatch,
                                                                          caplog):
    monkeypatch.setattr(train_cli, "_worst_for_search", lambda cfg: math.inf)  # a search's trial
    TRIAL_MODELS.clear()
    assert train_for_sweeper(compose_config("train", OUT_OF_MEMORY, tmp_path)) == math.inf
    assert "CUDA out of memory. Tried to allocate 20.00 GiB.; this trial scores inf and the " \
           "search goes on" in caplog.text
    # nothing keeps the failed trial's model alive, so its GPU memory can go to the next trial
    assert TRIAL_MODELS and TRIAL_MODELS[0]() is None


def test_out_of_gpu_memory_outside_a_search_stays_an_error(tmp_path):
    with pytest.raises(torch.cuda.OutOfMemoryError):
        train_for_sweeper(compose_config("train", OUT_OF_MEMORY, tmp_path))


@pytest.mark.parametrize("overrides,worst", [
    (["hparams_search=vae_optuna"], math.inf),
    (["hparams_search=vae_optuna", "hydra.sweeper.direction=maximize"], -math.inf),
    (["hparams_search=vae_optuna", "hydra.sweeper.direction=[minimize,maximize]"], None),
    (["hparams_search=vae_optuna", "optimized_metric=null"], None),
    (["optimized_metric=val/loss", "hydra.mode=MULTIRUN"], math.inf),  # the basic sweeper
    (["optimized_metric=val/loss", "hydra.mode=RUN"], None),  # one run: divergence is an error
])
def test_a_diverged_trial_scores_the_worst_for_the_search_s_direction(overrides, worst):
    cfg = compose_with_hydra(overrides)
    HydraConfig.instance().set_config(cfg)
    try:
        assert _worst_for_search(cfg) == worst
    finally:
        HydraConfig.instance().cfg = None
