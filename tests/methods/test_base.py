"""What every method's `iteration` promises so that it can be recorded as a CUDA graph: device
work only. On the CPU the host syncs a GPU would pay for are caught by making each way a tensor
reaches Python raise while an iteration runs, when called from pegasus_lab's own code (torch's
CPU optimizers read their step counts this way; their capturable CUDA forms do not).
And the layout the batches reach the networks in (speed.channels_last)."""
import contextlib
import copy
import functools
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

import pegasus_lab

from pegasus_lab.cli.train import build
from pegasus_lab.speed import Speed
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


# -- the batches' layout ------------------------------------------------------------------------
def test_image_batches_take_the_weights_layout_under_channels_last(tmp_path):
    model = build(compose_config("train", smoke("dcgan"), tmp_path))[1]
    images, labels = torch.rand(4, 3, 16, 16), torch.arange(4)
    batch = (images, labels)
    assert model.in_network_layout(batch) is batch  # plain: as it came
    model.speed = Speed(devices=("cpu",), channels_last=True)
    nhwc, same_labels = model.in_network_layout(batch)
    assert nhwc.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(nhwc, images) and same_labels is labels


def _image_inputs_layouts(model, networks):
    """Record, per network, whether each 4-D input it is called with in training is NHWC."""
    seen = {name: [] for name in networks}
    for name in networks:
        def record(module, args, name=name):
            if module.training:
                seen[name] += [x.is_contiguous(memory_format=torch.channels_last)
                               for x in args if isinstance(x, torch.Tensor) and x.ndim == 4]
        getattr(model, name).register_forward_pre_hook(record)
    return seen


@pytest.mark.parametrize("name, networks, extra", [
    ("dcgan", ["discriminator"], []),
    ("vaegan", ["encoder", "discriminator"], []),
    ("acwgan_gp", ["critic"], []),
    # one critic batch per data batch: the other four drawn from the training set in the step
    ("acwgan_gp", ["critic"], ["data.batch_size=4"]),
])
def test_networks_see_real_and_generated_images_in_one_layout(name, networks, extra, tmp_path):
    # real batches NCHW and generated ones NHWC meant a layout copy at each step's start and,
    # compiled, a graph of its own for each (paper-3's discriminator: 3 graphs, now 2)
    cfg = compose_config("train", [*smoke(name), *extra, "trainer.max_steps=2",
                                   "trainer.max_epochs=1", "logger=none", "callbacks=gan",
                                   "speed.devices=[cpu]", "speed=plain",
                                   "speed.channels_last=true"], tmp_path)
    datamodule, model, trainer = build(cfg)
    seen = _image_inputs_layouts(model, networks)
    trainer.fit(model, datamodule=datamodule)
    for network, layouts in seen.items():
        assert layouts and all(layouts), (network, layouts)


# -- bf16 autocast across several updates in one step ---------------------------------------------
@pytest.mark.parametrize("name", ["dcgan", "cdcgan", "acwgan_gp", "study_acgan", "vaegan"])
def test_every_forward_under_bf16_sees_the_current_weights(name, tmp_path):
    # the whole training step runs in one autocast region; with autocast's cache on, each
    # weight's bf16 cast would be kept until the region ends, so a network updated inside the
    # step (the critic's five updates, the discriminator before the generator's pass through
    # it) would run again on the cast of its old weights. Lightning's bf16-mixed turns the
    # cache off (as methods/step_graph.py does for the recorded iteration): this holds it to
    # that (with the cache on, every method here but the VAE-GAN, whose forwards all come
    # before its updates, fails)
    cfg = compose_config("train", [*smoke(name), "trainer.max_steps=1", "trainer.max_epochs=1",
                                   "logger=none", "callbacks=gan",
                                   "trainer.precision=bf16-mixed"], tmp_path)
    datamodule, model, trainer = build(cfg)
    calls = []

    def record(module, args, kwargs, out):
        if module.training and torch.is_autocast_enabled("cpu"):
            snapshot = copy.deepcopy(module)
            snapshot._forward_hooks.clear()
            calls.append((snapshot, args, kwargs, out))

    networks = [m for n in ("generator", "discriminator", "critic", "encoder", "decoder")
                if isinstance(m := getattr(model, n, None), torch.nn.Module)]
    for network in networks:
        network.register_forward_hook(record, with_kwargs=True)
    trainer.fit(model, datamodule=datamodule)
    assert len(calls) >= 3
    for i, (snapshot, args, kwargs, out) in enumerate(calls):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            again = snapshot(*args, **kwargs)  # the weights it had, cast afresh
        for a, b in zip(torch.utils._pytree.tree_leaves(out),
                        torch.utils._pytree.tree_leaves(again)):
            if isinstance(a, torch.Tensor):
                assert torch.equal(a.detach().float(), b.float()), \
                    f"call {i} of {type(snapshot).__name__} ran on stale weights"


# what messages call the method each model config chooses; a config added later fails below
# until it is named here
METHOD_NAMES = {
    "vae_conv": "VAE", "vae_pixel": "VAE", "study_vae": "VAE", "study_cvae": "conditional VAE",
    "vaegan": "VAEGAN", "dcgan": "DCGAN", "cdcgan": "conditional DCGAN",
    "wgan_gp": "WGAN-GP", "acwgan_gp": "AC-WGAN-GP", "study_wgan": "WGAN",
    "study_acwgan": "AC-WGAN", "study_gan": "GAN", "study_gan_transposed": "GAN",
    "study_acgan": "AC-GAN",
}


@pytest.mark.parametrize("model", sorted(p.stem for p in (Path(__file__).parents[2] / "conf" /
                                                          "model").glob("*.yaml")))
def test_each_model_config_names_its_method_in_messages(tmp_path, model):
    """One class serves several methods (paper-4's GAN is AC-GAN's class without classes):
    messages name the method the config chose, not the class that runs it."""
    network = instantiate(compose_config("train", smoke(model), tmp_path).model)
    assert network.method_name == METHOD_NAMES[model]


@pytest.mark.parametrize("model", sorted(p.stem for p in (Path(__file__).parents[2] / "conf" /
                                                          "model").glob("*.yaml")))
def test_the_model_summary_counts_the_flops_of_generating_one_image(tmp_path, model):
    """Lightning's summary printed "Total FLOPs: 0" for every run: it had no input to run."""
    from lightning.pytorch.utilities.model_summary import ModelSummary
    network = instantiate(compose_config("train", smoke(model), tmp_path).model)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    summary = ModelSummary(network, max_depth=1)
    assert summary.total_flops > 0 and network.training  # its mode as it was
    # no random draw (a conditional model's label is class 0): a seeded run's stream as before
    assert torch.equal(torch.get_rng_state(), state)
    sizes = dict(zip(summary.layer_names, summary.out_sizes))
    generator = "decoder" if "decoder" in sizes else "generator"
    assert sizes[generator][0] == 1  # one image
