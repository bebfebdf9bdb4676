"""The generator's weight average (methods/ema.py)."""
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.ema import EMA
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 2))


def test_an_update_moves_the_average_towards_the_weights_and_copies_the_buffers():
    online = _net()
    ema = EMA(online, decay=0.75)
    start = [p.detach().clone() for p in ema.shadow.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
        online.train()(torch.randn(5, 3, 4, 4))  # batch norm's statistics move, its count too
    ema.update(online)
    for s, p0, p in zip(ema.shadow.parameters(), start, online.parameters()):
        assert torch.allclose(s, 0.75 * p0 + 0.25 * p)
    buffers = dict(online.named_buffers())
    for name, b in ema.shadow.named_buffers():
        assert torch.equal(b, buffers[name]) and b.dtype == buffers[name].dtype, name
    assert int(dict(ema.shadow.named_buffers())["1.num_batches_tracked"]) == 1
    # the average is its own memory: training on does not move it until the next update
    with torch.no_grad():
        next(online.parameters()).add_(1.0)
    assert not torch.equal(next(ema.shadow.parameters()), next(online.parameters()))


def test_the_average_is_for_inference_only():
    ema = EMA(_net(), decay=0.9)
    ema.train()
    assert not ema.shadow.training
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_a_network_without_buffers_updates_too():
    online = nn.Linear(3, 2)
    ema = EMA(online, decay=0.5)
    with torch.no_grad():
        online.weight.fill_(2.0)
    before = ema.shadow.weight.detach().clone()
    ema.update(online)
    assert torch.allclose(ema.shadow.weight, 0.5 * before + 1.0)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 2.0])
def test_a_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):  # a config value: said, no traceback
        EMA(nn.Linear(2, 2), decay)


GANS = ["cdcgan", "study_acgan", "acwgan_gp"]  # DCGAN's, AC-GAN's and WGAN's classes


@pytest.mark.parametrize("name", GANS)
def test_each_gan_samples_from_its_generator_s_average_outside_training(tmp_path, name):
    cfg = compose_config("train", [*smoke(name), "model.ema_decay=0.5"], tmp_path)
    model = instantiate(cfg.model)
    start = [p.detach().clone() for p in model.generator_ema.parameters()]
    fit_steps(cfg, tmp_path, 2, model)
    moved = [not torch.equal(a, p) for a, p in zip(start, model.generator_ema.parameters())]
    assert all(moved)  # updated with each generator step
    model.eval()
    z = torch.randn(4, model.latent_dim)
    labels = torch.tensor([0, 1, 0, 1]) if model.num_classes else None
    with torch.no_grad():
        assert torch.equal(model.generate(z, labels), model.generator_ema(z, labels))
        assert not torch.allclose(model.generate(z, labels), model.generator.eval()(z, labels))
        model.sample_from_average = False  # the trained weights themselves (bench.quality)
        assert torch.equal(model.generate(z, labels), model.generator(z, labels))


@pytest.mark.parametrize("name", GANS)
def test_without_a_decay_there_is_no_average(tmp_path, name):
    model = instantiate(compose_config("train", smoke(name), tmp_path).model)
    assert model.generator_ema is None
    assert not any("generator_ema" in k for k in model.state_dict())


def test_a_run_started_from_another_s_weights_averages_from_them(tmp_path):
    # the other run kept no average: this one's starts at the generator it loads
    cfg = compose_config("train", smoke("cdcgan"), tmp_path)
    other = fit_steps(cfg, tmp_path, 2).lightning_module
    torch.save({"state_dict": other.state_dict()}, tmp_path / "other.ckpt")
    cfg = compose_config("train", [*smoke("cdcgan"), "model.ema_decay=0.5",
                                   f"model.init_from={tmp_path / 'other.ckpt'}"], tmp_path)
    model = instantiate(cfg.model)
    for a, p in zip(model.generator_ema.shadow.parameters(), other.generator.parameters()):
        assert torch.equal(a, p)

