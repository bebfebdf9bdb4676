"""DiffAugment with an adaptive probability (methods/adaptive_augment.py)."""
import re

import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError, find_user_error
from pegasus_lab.methods.adaptive_augment import SPEED_IMAGES, AdaptiveProbability
from pegasus_lab.methods.diff_augment import DiffAugment
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps


def test_p_rises_while_the_discriminator_calls_too_many_real_images_real_and_falls_after():
    adaptive = AdaptiveProbability(target=0.6)
    confident = torch.tensor([2.0, 1.0, 0.5, 3.0, -1.0])  # r = 0.6 → no move
    adaptive.observe(confident)
    assert adaptive.p.item() == 0
    overfit = torch.ones(100)  # r = 1 > 0.6: up by 100 / SPEED_IMAGES
    for _ in range(3):
        adaptive.observe(overfit)
    assert adaptive.p.item() == pytest.approx(300 / SPEED_IMAGES)
    for _ in range(5):  # r = −1 < 0.6: down, and not below 0
        adaptive.observe(-overfit)
    assert adaptive.p.item() == 0
    adaptive.p.fill_(1.0 - 50 / SPEED_IMAGES)
    adaptive.observe(overfit)
    assert adaptive.p.item() == 1.0  # not above 1


@pytest.mark.parametrize("p,changed", [(0.0, 0), (1.0, 64)])
def test_each_image_is_transformed_with_the_probability(p, changed):
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8) * 2 - 1
    augment = DiffAugment(["color"], (-1.0, 1.0), probability=lambda: torch.tensor(p))
    moved = augment(x)
    assert int((moved != x).flatten(1).any(dim=1).sum()) == changed


def test_about_half_the_images_at_one_half():
    torch.manual_seed(0)
    x = torch.rand(400, 3, 8, 8) * 2 - 1
    moved = DiffAugment(["color"], (-1.0, 1.0), probability=lambda: torch.tensor(0.5))(x)
    assert 150 < int((moved != x).flatten(1).any(dim=1).sum()) < 250


@pytest.mark.parametrize("overrides,says", [
    (["model.diff_augment_target=0.6"], "diff_augment_target steers the probability"),
    (["model.diff_augment=[color]", "model.diff_augment_target=1.5"],
     "diff_augment_target must lie in \\(0, 1\\), got 1.5"),
])
def test_bad_settings_are_config_errors(tmp_path, overrides, says):
    with pytest.raises(Exception) as caught:  # Hydra's, around the model's
        instantiate(compose_config("train", [*smoke("dcgan"), *overrides], tmp_path).model)
    error = find_user_error(caught.value)
    assert isinstance(error, ConfigError) and re.search(says, str(error)), error


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan"])
def test_each_gan_moves_p_with_its_real_logits_and_keeps_it_in_checkpoints(tmp_path, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(name), "model.diff_augment=[translation,cutout]",
                                   "model.diff_augment_target=0.6"], tmp_path)
    model = instantiate(cfg.model)
    seen, observe = [], model.augment_probability.observe
    model.augment_probability.observe = lambda logits: (seen.append(logits.shape),
                                                        observe(logits))
    trainer = fit_steps(cfg, tmp_path, 3, model=model)
    batch = cfg.data.batch_size
    assert seen == [torch.Size([batch])] * 3  # once a step, the real batch's logits
    assert 0 <= trainer.callback_metrics["train/d_augment_p_step"] <= 3 * batch / SPEED_IMAGES
    assert "augment_probability.p" in model.state_dict()


def test_off_by_default():
    model = instantiate(compose_config("train", [*smoke("dcgan"),
                                                 "model.diff_augment=[color]"]).model)
    assert model.augment_probability is None and model.diff_augment.probability is None


def test_the_augmentation_reads_the_buffer_the_module_holds_after_a_move():
    """Moving a module to a device or dtype replaces its buffers: a tensor kept at build time
    would be left behind."""
    model = instantiate(compose_config("train", [*smoke("dcgan"), "model.diff_augment=[color]",
                                                 "model.diff_augment_target=0.6"]).model)
    model.double()
    assert model.diff_augment.probability() is model.augment_probability.p
    assert model.augment_probability.p.dtype == torch.float64
