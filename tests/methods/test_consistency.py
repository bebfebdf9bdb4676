"""(Balanced) consistency regularization (methods/consistency.py) and the GANs that take it."""
import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.consistency import Consistency, flip_and_shift
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps


def test_each_image_is_mirrored_or_not_then_shifted_within_an_eighth():
    torch.manual_seed(0)
    x = torch.arange(16.0).repeat(64, 1, 16, 1)  # every row 0…15: a shift moves columns
    moved = flip_and_shift(x, fill=-1.0)
    assert moved.shape == x.shape
    for image in moved:
        row = image[0, 8]  # a middle row: within ±2 pixels of a shift, some of it kept
        kept = row[row >= 0]
        step = kept[1:] - kept[:-1]
        assert (step == 1).all() or (step == -1).all()  # as it was, or mirrored
    mirrored = sum(bool(image[0, 8, 8] > image[0, 8, 9]) for image in moved)
    assert 16 < mirrored < 48  # about half


def test_the_layout_stays_channels_last():
    x = torch.rand(4, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert flip_and_shift(x, 0.0).is_contiguous(memory_format=torch.channels_last)


def test_the_term_is_the_weighted_squared_difference_of_the_two_scores():
    torch.manual_seed(0)
    images = torch.rand(5, 3, 8, 8)
    score = lambda x: x.mean(dim=(1, 2, 3)) * 3.0
    scores = score(images)
    regularizer = Consistency(real_weight=2.0, fake_weight=0.0, input_range=(0.0, 1.0))
    torch.manual_seed(1)
    term = regularizer.term(score, images, scores, real=True)
    torch.manual_seed(1)
    expected = 2.0 * (scores - score(flip_and_shift(images, 0.5))).pow(2).mean()
    assert term.item() == pytest.approx(expected.item())
    assert regularizer.term(score, images, scores, real=False).item() == 0  # weight 0
    assert bool(regularizer) and not Consistency(0.0, 0.0, (0.0, 1.0))


def test_a_score_that_ignores_flips_and_shifts_costs_nothing():
    images = torch.rand(4, 3, 8, 8)
    constant = lambda x: torch.ones(len(x))
    assert Consistency(10.0, 10.0, (0.0, 1.0)).term(constant, images, constant(images),
                                                    real=False).item() == 0


@pytest.mark.parametrize("real,fake", [(-1.0, 0.0), (0.0, "strong")])
def test_bad_weights_are_config_errors(real, fake):
    with pytest.raises(ConfigError, match="consistency_"):
        Consistency(real, fake, (0.0, 1.0))


@pytest.mark.parametrize("name", ["cdcgan", "study_acgan"])
def test_each_gan_trains_with_it_and_logs_it(tmp_path, name):
    torch.manual_seed(0)
    cfg = compose_config("train", [*smoke(name), "model.consistency_real=10",
                                   "model.consistency_fake=10"], tmp_path)
    trainer = fit_steps(cfg, tmp_path, 3)
    assert trainer.callback_metrics["train/d_consistency_step"] > 0


@pytest.mark.parametrize("name", ["dcgan", "study_gan"])
def test_training_with_it_makes_the_discriminator_score_moved_images_alike(tmp_path, name):
    """Ten iterations on one real batch (same seed), without and with a strong weight: the
    discriminator's scores of the images and of moved copies end closer with it."""
    real = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    gaps = {}
    for weight in (0, 50):
        torch.manual_seed(0)
        cfg = compose_config("train", [*smoke(name), f"model.consistency_real={weight}",
                                       "model.discriminator_optimizer.lr=1e-3"], tmp_path)
        model = instantiate(cfg.model)
        optimizers = model.configure_optimizers()
        model.optimizers = lambda: optimizers  # the iteration without a Trainer
        for _ in range(10):
            model.iteration(real, None)
        torch.manual_seed(2)
        probe = Consistency(1.0, 0.0, model.input_range)
        gaps[weight] = probe.term(model.realness, real, model.realness(real), real=True).item()
    assert gaps[50] < 0.5 * gaps[0], gaps
