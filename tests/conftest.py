"""Shared test helpers: composing the real Hydra configs with tiny, CPU-sized overrides."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests import cores

_WORKER_THREADS = cores.share_between_workers()  # before torch is imported

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from tests import warm_cli

if _WORKER_THREADS is not None:
    torch.set_num_threads(_WORKER_THREADS)  # should a plugin have imported torch earlier

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CIFAR_MINI = FIXTURES / "cifar10_mini"

# Each model small enough to train in a second on 16² images.
TINY = {
    "vae_conv": ["model.encoder.width=8", "model.encoder.hidden_dim=32",
                 "model.encoder.latent_dim=8"],
    "vae_pixel": ["model.encoder.width=8", "model.encoder.latent_dim=8"],
    "vaegan": ["model.encoder.width=8", "model.encoder.latent_dim=8",
               "model.discriminator.width=8", "model.discriminator.hidden_dim=16"],
}
_TINY_GAN = ["model.generator.width=8", "model.generator.latent_dim=8", "model.critic.width=8",
             "model.critic_batch_size=4", "model.generator_batch_size=8", "data.batch_size=20",
             "trainer.max_steps=5", "callbacks=gan"]
TINY["wgan_gp"] = _TINY_GAN
TINY["acwgan_gp"] = [*_TINY_GAN, "model.generator.num_classes=4"]  # synthetic: 4 classes
TINY["dcgan"] = ["model.generator.width=8", "model.generator.latent_dim=8",
                 "model.discriminator.width=8", "callbacks=gan"]
TINY["cdcgan"] = [*TINY["dcgan"], "model.generator.num_classes=4"]
_STUDY_GAN = ["model.generator.width=8", "model.generator.latent_dim=8", "callbacks=gan",
              "+study_num_classes=4"]
TINY.update({
    "study_vae": ["model.encoder.width=8", "model.encoder.latent_dim=4"],
    "study_cvae": ["model.encoder.width=8", "model.encoder.latent_dim=4", "+study_num_classes=4"],
    "study_gan": [*_STUDY_GAN, "model.discriminator.width=8"],
    "study_gan_transposed": [*_STUDY_GAN, "model.discriminator.width=8"],
    "study_acgan": [*_STUDY_GAN, "model.discriminator.width=8"],
    "study_wgan": [*_STUDY_GAN, "model.critic.width=8", "trainer.max_steps=5"],
    "study_acwgan": [*_STUDY_GAN, "model.critic.width=8", "trainer.max_steps=5"],
})
TINY_VAE = TINY["vae_conv"]
SMOKE_DATA = ["trainer=smoke", "data=synthetic", "data.image_size=16", "data.batch_size=8",
              "logger=tensorboard"]
SMOKE = [*SMOKE_DATA, *TINY_VAE]


def smoke(model: str) -> list[str]:
    """Overrides for a seconds-long CPU run of `model` on synthetic data."""
    return [f"model={model}", *SMOKE_DATA, *TINY[model]]


# the config each console script composes
ENTRY_CONFIGS = {"pegasus-train": "train", "pegasus-sample": "sample",
                 "pegasus-evaluate": "evaluate", "pegasus-study": "study",
                 "pegasus-classifier": "classifier", "pegasus-explore": "explore"}


# what a `make` run passes down to the makes it starts: its flags, and each variable set on its
# command line, as that variable in the environment; under `make test ARGS="-k x"` the
# Makefile's recipes would append `-k x` to every command they print
MAKE_ENV_KEYS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def make_env() -> dict[str, str]:
    """This environment without what an enclosing `make` passes down, nor the Makefile's
    settings (`NAME ?= default`), for a test that runs `make` and means the Makefile's own
    defaults."""
    settings = re.findall(r"^(\w+) *\?=", (ROOT / "Makefile").read_text(), re.MULTILINE)
    drop = {*MAKE_ENV_KEYS, *settings}
    return {k: v for k, v in os.environ.items() if k not in drop}


def shell_commands(text: str) -> list[tuple[str, list[str]]]:
    """(entry point, arguments) of each pegasus-* command in shell text (continued lines
    joined, comments dropped), in order."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        program = words[0].rsplit("/", 1)[-1] if words else ""
        if program in ENTRY_CONFIGS:
            commands.append((program, words[1:]))
    return commands


def as_one_run(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """A command's arguments as one run composes them: `-m` dropped and each swept key at its
    first value (lists left whole); Hydra's own `hydra.*` settings returned apart."""
    sweep, overrides, hydra_settings = "-m" in args, [], {}
    for arg in args:
        if arg == "-m":
            continue
        key, _, value = arg.partition("=")
        if key.startswith("hydra."):
            hydra_settings[key] = value
        elif sweep and "," in value and not value.startswith("["):
            overrides.append(f"{key}={value.split(',')[0]}")
        else:
            overrides.append(arg)
    return overrides, hydra_settings


def has_validation_metric(cfg) -> bool:
    """Whether the run ranks checkpoints by a validation metric (GANs keep the last only)."""
    return bool(cfg.callbacks.get("model_checkpoint"))


def compose_config(name: str = "train", overrides: list[str] = (), tmp_path: Path | None = None
                   ) -> DictConfig:
    """The config pegasus-train (or -sample) would see, its paths moved under tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides))
    if tmp_path is not None:
        with open_dict(cfg):
            cfg.paths.root_dir = str(ROOT)
            cfg.paths.data_dir = str(tmp_path / "data")
            cfg.paths.log_dir = str(tmp_path / "outputs")
            cfg.paths.output_dir = str(tmp_path / "run")
    return cfg


def compose_with_hydra(overrides: list[str], name: str = "train") -> DictConfig:
    """The config with its `hydra` node (launcher, sweeper, callbacks), as a run would see it."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides), return_hydra_config=True)


def run_cli(module: str, *args: str, cwd: Path, env: dict | None = None,
            timeout: int = 600, fresh: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m module args…` as a user would, capturing its output: in a process
    forked from an interpreter that has the heavy imports done (tests/warm_cli.py), or with
    `fresh` in a new interpreter. The Python commands it starts itself (a DDP run's second
    rank, pegasus-study's multirun) are forked the same way, or with `fresh` new
    interpreters too."""
    full_env = {**os.environ, "PEGASUS_ROOT": str(cwd), "PYTHONUNBUFFERED": "1",
                **(env or {})}
    if not fresh and warm_cli.available():
        return warm_cli.run(module, list(args), cwd, full_env, timeout)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput") and \
            session.config.getoption("numprocesses", None):
        return  # pytest-xdist's controller: its workers run the tests, each with its server
    warm_cli.start()  # its imports run while the first tests do


@pytest.fixture
def cifar_mini() -> Path:
    return CIFAR_MINI


SHARED_FID_PARTS = ROOT.parent / "shared" / "data" / "fid-inception"


class _TinyInception(torch.nn.Module):
    """Stands in for InceptionV3 in tests: 299² [-1, 1] input → 16 features."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = torch.nn.AvgPool2d(13, 13)
        self.conv = torch.nn.Conv2d(3, 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(self.pool(x))).mean((2, 3))


@pytest.fixture(scope="session")
def tiny_fid_weights(tmp_path_factory) -> tuple[Path, str]:
    """A small TorchScript feature network saved like the real weights, and its sha256."""
    from pegasus_lab.metrics.inception import sha256_of
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny-inception.pt"
    torch.jit.script(_TinyInception().eval()).save(str(path))
    return path, sha256_of(path)


@pytest.fixture(scope="session")
def random_is_weights(tmp_path_factory) -> Path:
    """torch-fidelity's InceptionV3 with its classifier, randomly initialised (the real weights
    are a download), saved as its weights file: ~95 MB, once per session. The classifier's
    weights are large enough that the logits differ from image to image. Skipped where
    torch-fidelity is not installed (a dependency, but the lent GPU machine runs the tests
    without it, as the package itself then runs without the Inception Score)."""
    from unittest import mock

    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
    net_class = tf_inception.FeatureExtractorInceptionV3
    torch.manual_seed(0)
    with mock.patch.object(tf_inception, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(net_class, "load_state_dict", lambda self, state: None):
        net = net_class("inception-v3-compat", ["logits_unbiased"])
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
    torch.nn.init.normal_(net.fc.weight, std=3.0)
    path = tmp_path_factory.mktemp("is-weights") / "random-inception-with-logits.pth"
    torch.save(net.state_dict(), path)
    return path


def fid_overrides(weights: tuple[Path, str]) -> list[str]:
    return [f"fid.weights={weights[0]}", f"fid.sha256={weights[1]}", "fid.batch_size=16"]
