"""What DCGAN and (AC-)GAN share (methods/adversarial_pair.py): the R1 penalty's switch."""
import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.penalties import r1_penalty
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps


def _model(tmp_path, name, *overrides):
    return instantiate(compose_config("train", [*smoke(name), *overrides], tmp_path).model)


def _input_gradient_norm(model, real):
    real = real.clone().requires_grad_(True)
    return r1_penalty(model.realness(real), real).item()


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan"])
def test_each_gan_trains_with_r1_and_logs_it(tmp_path, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(name), "model.r1_gamma=10"], tmp_path)
    trainer = fit_steps(cfg, tmp_path, 3)
    assert trainer.callback_metrics["train/d_r1_step"] > 0
    assert trainer.lightning_module.compilable_networks() == ["generator"]  # double backward


@pytest.mark.parametrize("name", ["dcgan", "study_gan"])
def test_off_by_default_with_both_networks_compilable(tmp_path, name):
    model = _model(tmp_path, name)
    assert model.r1_gamma == 0 and model.compilable_networks() == ["generator", "discriminator"]
    real = torch.rand(2, 3, 16, 16)
    assert model.real_input(real) is real  # no input gradient is taken


@pytest.mark.parametrize("name", ["dcgan", "study_gan"])
def test_training_with_r1_flattens_the_discriminator_around_the_real_images(tmp_path, name):
    """Ten training iterations on one real batch (same seed) with γ = 0 and with γ = 50: the
    penalty leaves the discriminator's scores flatter around the real images."""
    real = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    norms = {}
    for gamma in (0, 50):
        torch.manual_seed(0)
        model = _model(tmp_path, name, f"model.r1_gamma={gamma}",
                       "model.generator_optimizer.lr=1e-3", "model.discriminator_optimizer.lr=1e-3")
        optimizers = model.configure_optimizers()
        model.optimizers = lambda: optimizers  # the iteration without a Trainer
        for _ in range(10):
            model.iteration(real, None)
        norms[gamma] = _input_gradient_norm(model, real)  # in training mode, as penalised
    assert norms[50] < 0.5 * norms[0], norms


@pytest.mark.parametrize("gamma", [-1, "strong", True])
def test_a_bad_gamma_is_a_config_error(tmp_path, gamma):
    with pytest.raises(Exception) as caught:  # Hydra's, around the model's
        _model(tmp_path, "dcgan", f"model.r1_gamma={gamma}")
    error = find_user_error(caught.value)
    assert isinstance(error, ConfigError) and "r1_gamma must be a finite number" in str(error)
