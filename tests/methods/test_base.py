"""What every method's `iteration` promises so that it can be recorded as a CUDA graph: device
work only. On the CPU the host syncs a GPU would pay for are caught by making each way a tensor
reaches Python raise while an iteration runs, when called from pegasus_lab's own code (torch's
CPU optimizers read their step counts this way; their capturable CUDA forms do not)."""
import contextlib
import functools
import sys
from pathlib import Path

import pytest
import torch

import pegasus_lab

from pegasus_lab.cli.train import build
from tests.conftest import compose_config, smoke

TO_PYTHON = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__",
             "nonzero")


@contextlib.contextmanager
def no_host_syncs():
    originals = {name: getattr(torch.Tensor, name) for name in TO_PYTHON}

    package = str(Path(pegasus_lab.__file__).parent)

    def refuse(name):
        def call(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(package):
                raise AssertionError(f"Tensor.{name} in {caller} inside an iteration: a host "
                                     f"sync on a GPU")
            return originals[name](*args, **kwargs)
        return call

    for name in TO_PYTHON:
        setattr(torch.Tensor, name, refuse(name))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)


@pytest.mark.parametrize("name", ["vae_conv", "vaegan", "dcgan", "cdcgan", "acwgan_gp",
                                  "study_acgan", "study_cvae", "study_acwgan"])
def test_iterations_stay_on_the_device(name, tmp_path):
    cfg = compose_config("train", [*smoke(name), "trainer.max_steps=2", "trainer.max_epochs=1",
                                   "logger=none", "callbacks=gan"], tmp_path)
    datamodule, model, trainer = build(cfg)
    seen = []
    iteration = model.iteration

    @functools.wraps(iteration)
    def guarded(*inputs):
        with no_host_syncs():
            out = iteration(*inputs)
        seen.append(sorted(out))
        return out

    model.iteration = guarded
    trainer.fit(model, datamodule=datamodule)
    assert len(seen) == 2 and seen[0]  # both steps ran through the guard and returned losses
