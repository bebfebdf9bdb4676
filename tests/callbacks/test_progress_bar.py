"""A training loop reads tensors back to Python (a host sync on a GPU) only in the steps whose
losses are logged and at epoch ends: the progress bar shows the logged values without
Lightning's read-back of prog-bar values after every batch."""
import sys
from pathlib import Path

import lightning
import pytest
import torch
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

import pegasus_lab
from pegasus_lab.callbacks.progress_bar import LoggedValuesProgressBar
from pegasus_lab.cli.train import build
from tests.conftest import compose_config, smoke
from tests.methods.test_base import TO_PYTHON

WATCHED = (str(Path(pegasus_lab.__file__).parent), str(Path(lightning.__file__).parent))


class _Reads(Callback):
    """Which batches read a tensor back into Python from pegasus_lab's or Lightning's code
    (torch's CPU optimizers read their step counts: not a GPU run's concern), and which
    batches logged their losses."""

    def __init__(self):
        self.batch, self.reads, self.logged, self.epoch_ends = None, set(), set(), set()
        self.originals = {}

    def on_train_start(self, trainer, module):
        logging_due = module.logging_due

        def recorded():
            due = logging_due()
            if due:
                self.logged.add(self.batch)
            return due
        module.logging_due = recorded
        for name in TO_PYTHON:
            self.originals[name] = getattr(torch.Tensor, name)
            setattr(torch.Tensor, name, self._watch(name))

    def _watch(self, name):
        original = self.originals[name]

        def call(*args, **kwargs):
            if sys._getframe(1).f_code.co_filename.startswith(WATCHED):
                self.reads.add(self.batch)
            return original(*args, **kwargs)
        return call

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.batch = (trainer.current_epoch, batch_idx)

    def on_train_epoch_end(self, trainer, module):
        self.epoch_ends.add(self.batch)  # epoch means, the bar's epoch-end refresh

    def on_train_end(self, trainer, module):
        self.epoch_ends.add(self.batch)  # a run stopped by max_steps mid-epoch

    def restore(self):
        for name, fn in self.originals.items():
            setattr(torch.Tensor, name, fn)
        self.originals = {}


FAST_ON_CPU = ["speed.devices=[cpu]", "speed.compile=false", "speed.compile_critic_step=false",
               "speed.bf16=false", "trainer.limit_val_batches=0", "trainer.log_every_n_steps=5",
               "logger=none", "callbacks.progress_bar.refresh_rate=1"]
RUNS = {"vaegan": ["trainer.limit_train_batches=1.0", "trainer.max_epochs=1"],
        "vae_conv": ["trainer.limit_train_batches=1.0", "trainer.max_epochs=1"],
        "acwgan_gp": ["trainer.limit_train_batches=1.0", "trainer.max_steps=16",
                      "trainer.max_epochs=3"],
        "dcgan": ["trainer.limit_train_batches=1.0", "trainer.max_epochs=1"],
        "study_acgan": ["trainer.limit_train_batches=1.0", "trainer.max_epochs=1"],
        "study_wgan": ["trainer.limit_train_batches=1.0", "trainer.max_steps=16",
                       "trainer.max_epochs=3"]}


def _run(tmp_path, name, patch_module=None, overrides=()):
    cfg = compose_config("train", [*smoke(name), *FAST_ON_CPU, *RUNS[name], *overrides],
                         tmp_path)
    datamodule, model, trainer = build(cfg)
    if patch_module:
        patch_module(model)
    reads = _Reads()
    trainer.callbacks.append(reads)
    try:
        trainer.fit(model, datamodule=datamodule)
    finally:
        reads.restore()
    assert model.speed.sparse_logging and trainer.global_step >= 15
    bar = next((c for c in trainer.callbacks if isinstance(c, TQDMProgressBar)), None)
    return reads, bar, model


@pytest.mark.parametrize("name", sorted(RUNS))
def test_values_are_read_only_in_the_steps_that_log_them(name, tmp_path):
    reads, bar, model = _run(tmp_path, name)
    assert len(reads.logged) >= 3
    assert reads.reads & reads.logged  # the watch sees reads: the bar's, where they belong
    assert reads.reads <= reads.logged | reads.epoch_ends
    assert isinstance(bar, LoggedValuesProgressBar)
    assert set(model.progress_bar_keys) <= set(bar._shown)  # and the bar shows the values


def test_a_value_logged_for_lightnings_bar_is_read_back_after_every_batch(tmp_path):
    # why the methods do not log with prog_bar=True: Lightning then reads the value back after
    # every batch, logged in it or not
    def prog_bar_logging(model):
        log = model.log
        model.log = lambda name, value, **kw: log(name, value, **{**kw, "prog_bar": True})
    reads, _, _ = _run(tmp_path, "vaegan", prog_bar_logging)
    assert len(reads.reads - reads.logged) >= 10


def test_another_bar_shows_the_values_at_lightnings_read_back_cost(tmp_path):
    # a user's own choice of bar (Lightning's stock one here) still shows the losses: logged
    # with prog_bar=True for it, at the cost of Lightning's read-back after every batch
    reads, bar, model = _run(tmp_path, "acwgan_gp", overrides=[
        "callbacks.progress_bar._target_=lightning.pytorch.callbacks.TQDMProgressBar"])
    assert type(bar) is TQDMProgressBar
    assert set(model.progress_bar_keys) <= set(bar.get_metrics(bar.trainer, model))
    assert reads.reads - reads.logged


def test_without_a_bar_nothing_is_read_back_for_one(tmp_path):
    # as the benchmark runs (bench/run.py): a value logged for a bar that is not there must
    # not bring Lightning's read-back after every batch
    reads, bar, model = _run(tmp_path, "acwgan_gp", overrides=[
        "+trainer.enable_progress_bar=false", "~callbacks.progress_bar"])
    assert bar is None and model.trainer.progress_bar_callback is None
    assert reads.reads <= reads.logged | reads.epoch_ends


def test_the_bar_is_lightnings_with_the_same_options():
    bar = LoggedValuesProgressBar(refresh_rate=7, leave=True)
    assert isinstance(bar, TQDMProgressBar) and bar.refresh_rate == 7 and bar._leave
