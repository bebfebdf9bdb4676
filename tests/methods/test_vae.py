from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.distributions import Normal, kl_divergence

from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.vae import VAE, kl_to_standard_normal
from pegasus_lab.nets.vae_conv import ConvDecoder, ConvEncoder
from pegasus_lab.speed import channels_last
from pegasus_lab.cli.train import train
from tests.conftest import SMOKE, compose_config
from tests.helpers import CopyRecorder


def _vae(latent=4, **kw):
    nets = dict(image_size=16, latent_dim=latent, width=8, hidden_dim=32)
    return VAE(ConvEncoder(**nets), ConvDecoder(**nets),
               optimizer=lambda params: torch.optim.Adam(params, lr=2e-3), **kw)


def test_closed_form_kl_matches_torch_distributions():
    mu, logvar = torch.randn(5, 7), torch.randn(5, 7)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), ref, atol=1e-5)


@pytest.mark.parametrize("reconstruction", ["bce", "mse"])
def test_an_nhwc_iteration_copies_only_at_the_linear_layers(reconstruction):
    # speed.channels_last (paper-1, paper-4): the only layout copies are where 2×2 NHWC
    # activations meet a linear layer (the encoder's flatten, the gradient of the decoder's
    # view); the per-pixel loss of NHWC reconstructions is summed without copying the
    # images (flatten(1) of an NHWC tensor did)
    torch.manual_seed(0)
    nets = dict(image_size=32, latent_dim=4, width=8, hidden_dim=32)  # 2×2 at the bottom
    model = VAE(ConvEncoder(**nets), ConvDecoder(**nets), optimizer=torch.optim.Adam,
                reconstruction=reconstruction)
    channels_last([model])
    optimizer = torch.optim.Adam(model.parameters())
    model.optimizers = lambda: optimizer
    x = torch.rand(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with CopyRecorder() as recorder:
        model.iteration(x, torch.zeros(4, dtype=torch.long))
    assert [(c.operator, c.shape[2:], c.node) for c in recorder.copies] == [
        ("clone", (2, 2), ""), ("clone", (2, 2), "ViewBackward0")]


def test_loss_is_pixel_sum_bce_plus_kl_batch_mean():
    torch.manual_seed(0)
    model = _vae()
    x = torch.rand(3, 3, 16, 16)
    torch.manual_seed(1)
    out = model.losses(x)
    torch.manual_seed(1)
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    p = model.decode(z)
    bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3)).mean()
    assert torch.allclose(out["recon"], bce, rtol=1e-4)
    assert torch.allclose(out["loss"], out["recon"] + out["kl"])


def test_loss_falls_on_a_learnable_set():
    torch.manual_seed(0)
    model = _vae()
    # two fixed images: a VAE memorises them quickly
    x = torch.zeros(8, 3, 16, 16)
    x[:4, :, :8] = 1.0
    x[4:, :, :, :8] = 1.0
    opt = model.optimizer_factory(model.parameters())
    losses = []
    for _ in range(60):
        loss = model.losses(x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


def test_bce_needs_unit_range_and_latents_must_agree():
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        _vae(input_range=(-1, 1))
    with pytest.raises(ConfigError, match="latent"):
        VAE(ConvEncoder(image_size=16, latent_dim=3), ConvDecoder(image_size=16, latent_dim=4),
            optimizer=torch.optim.Adam)


def test_a_conditional_vae_s_class_count_is_said_with_its_own_key(tmp_path):
    """The encoder holds a conditional VAE's class count (the decoder follows it): the error
    named model.generator.num_classes, which a VAE does not have."""
    from tests.conftest import smoke
    cfg = compose_config("train", [*smoke("study_cvae"), "model.encoder.num_classes=10"],
                         tmp_path)  # the synthetic data has 4 classes
    with pytest.raises(ConfigError, match=r"^the data has 4 classes, the model 10: set "
                                          r"model\.encoder\.num_classes=4$"):
        train(cfg)


def test_initial_weights_must_fit(tmp_path):
    from pegasus_lab.errors import CheckpointError
    small = _vae(latent=4)
    torch.save({"state_dict": small.state_dict()}, tmp_path / "small.ckpt")
    fresh = _vae(latent=4)
    fresh.load_initial_weights(str(tmp_path / "small.ckpt"))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                 small.state_dict().values()))
    with pytest.raises(CheckpointError, match="do not fit"):
        _vae(latent=6).load_initial_weights(str(tmp_path / "small.ckpt"))
    with pytest.raises(CheckpointError, match="not found"):
        _vae(init_from=str(tmp_path / "nope.ckpt"))


def test_a_learning_rate_schedule_from_the_config(tmp_path):
    """`model.scheduler`: a `_partial_` scheduler, stepped once an epoch; a name, or a
    scheduler left without a key it needs, is a config error."""
    step_lr = "{_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,step_size:1,gamma:0.5}"
    cfg = compose_config("train", [*SMOKE, f"model.scheduler={step_lr}", "logger=none"],
                         tmp_path)
    train(cfg)
    saved = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt",
                       weights_only=False)
    assert saved["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(
        cfg.model.optimizer.lr * 0.5 ** cfg.trainer.max_epochs)
    for scheduler, says in (("cosine", "scheduler must be a config with a _target_"),
                            ("{_target_:torch.optim.lr_scheduler.StepLR,_partial_:true}",
                             "model.scheduler: StepLR.__init__() missing 1 required")):
        cfg = compose_config("train", [*SMOKE, f"model.scheduler={scheduler}"], tmp_path)
        with pytest.raises(Exception) as err:  # the name when built, the key when training
            instantiate(cfg.model).configure_optimizers()
        assert says in str(find_user_error(err.value))


PLATEAU = ("{_target_:torch.optim.lr_scheduler.ReduceLROnPlateau,_partial_:true,"
           "mode:max,patience:0,factor:0.5}")


def test_a_plateau_schedule_without_a_validation_loss_says_it_never_stepped(tmp_path, caplog):
    cfg = compose_config("train", [*SMOKE, f"model.scheduler={PLATEAU}", "logger=none",
                                   "data.val_fraction=0", "trainer.max_epochs=1"], tmp_path)
    train(cfg)
    assert "ReduceLROnPlateau never stepped: this run computed no val/loss" in caplog.text


def test_a_plateau_schedule_steps_with_each_validation_loss(tmp_path, caplog):
    """ReduceLROnPlateau watches val/loss, stepped after each validation (not the sanity
    check) and before that validation's checkpoint is written. mode=max with patience 0: the
    falling loss of the second epoch halves the rate once."""
    run = [*SMOKE, f"model.scheduler={PLATEAU}", "logger=none"]
    cfg = compose_config("train", [*run, "trainer.num_sanity_val_steps=1"], tmp_path)
    metrics = train(cfg)
    saved = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt",
                       weights_only=False)
    assert saved["lr_schedulers"][0]["best"] > metrics["val/loss"]
    assert saved["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(
        cfg.model.optimizer.lr * 0.5)
    train(compose_config("train", [*run, "resume=true"], tmp_path))  # finished: no epoch left
    assert "never stepped" not in caplog.text
