"""The LeCam regularizer (methods/lecam.py) and the GANs that take it."""
import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.lecam import LeCam
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps


def test_the_averages_move_first_then_each_term_is_the_one_sided_square():
    lecam = LeCam(weight=0.5, decay=0.75)
    lecam.real_average.fill_(2.0)
    lecam.fake_average.fill_(-1.0)
    real = torch.tensor([3.0, -2.0, 1.0], requires_grad=True)  # mean 2/3
    fake = torch.tensor([0.0, 4.0], requires_grad=True)        # mean 2
    real_term, fake_term = lecam(real, fake)
    real_average, fake_average = 0.75 * 2.0 + 0.25 * (2 / 3), 0.75 * -1.0 + 0.25 * 2.0
    assert lecam.real_average.item() == pytest.approx(real_average)
    assert lecam.fake_average.item() == pytest.approx(fake_average)
    # real logits above the generated ones' average are pulled down; those below it are free
    expected_real = 0.5 * ((3.0 - fake_average) ** 2 + 0 + (1.0 - fake_average) ** 2) / 3
    # generated logits below the real ones' average are pulled up
    expected_fake = 0.5 * ((real_average - 0.0) ** 2 + 0) / 2
    assert real_term.item() == pytest.approx(expected_real)
    assert fake_term.item() == pytest.approx(expected_fake)
    (real_term + fake_term).backward()
    assert real.grad[0] > 0 and real.grad[1] == 0 and fake.grad[0] < 0 and fake.grad[1] == 0


@pytest.mark.parametrize("weight,decay,message", [
    (-1.0, 0.99, "lecam_weight must be"), (0.1, 1.0, r"lecam_decay must lie in \(0, 1\)"),
    (0.1, 0.0, "lecam_decay must"), (0.1, True, "lecam_decay must"),
    (0.1, "fast", "lecam_decay must")])
def test_bad_settings_are_config_errors(weight, decay, message):
    with pytest.raises(ConfigError, match=message):
        LeCam(weight, decay)


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan"])
def test_each_gan_trains_with_it_and_keeps_its_averages(tmp_path, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(name), "model.lecam_weight=0.3"], tmp_path)
    trainer = fit_steps(cfg, tmp_path, 3)
    model = trainer.lightning_module
    assert trainer.callback_metrics["train/d_lecam_step"] > 0
    state = model.state_dict()  # in checkpoints: a resumed run goes on with them
    assert state["lecam.real_average"] != 0 and state["lecam.fake_average"] != 0


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan"])
def test_off_by_default_and_then_nothing_is_added(tmp_path, name):
    model = instantiate(compose_config("train", smoke(name), tmp_path).model)
    assert model.lecam is None and not any("lecam" in k for k in model.state_dict())


def test_a_run_started_from_weights_without_it_takes_it_on(tmp_path):
    cfg = compose_config("train", smoke("cdcgan"), tmp_path)
    torch.save({"state_dict": instantiate(cfg.model).state_dict()}, tmp_path / "other.ckpt")
    model = instantiate(compose_config("train", [
        *smoke("cdcgan"), "model.lecam_weight=0.3", f"model.init_from={tmp_path / 'other.ckpt'}"],
        tmp_path).model)
    assert model.lecam.real_average == 0  # its averages start afresh


def test_a_bad_decay_is_said_while_the_regularizer_is_off(tmp_path):
    cfg = compose_config("train", [*smoke("dcgan"), "model.lecam_decay=2"], tmp_path)
    with pytest.raises(Exception) as caught:  # Hydra's, around the model's
        instantiate(cfg.model)
    error = find_user_error(caught.value)
    assert isinstance(error, ConfigError) and "lecam_decay must lie in (0, 1), got 2" in \
        str(error)
