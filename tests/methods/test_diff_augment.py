import itertools

import pytest
import torch
from hydra.utils import instantiate

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.diff_augment import (DiffAugment, augment_inputs, brightness, contrast,
                                              cutout, require_policies, saturation, translation)
from pegasus_lab.nets.dcgan import DCGANDiscriminator
from tests.conftest import compose_config, smoke
from tests.helpers import fit_steps
from tests.methods.test_wgan import _model as wgan_model


def _images(n=6, c=3, size=16, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_shifts_each_image_by_whole_pixels_within_an_eighth_of_its_side():
    x = _images(n=32)
    out = translation(x, fill=0.0)
    seen = set()
    for image, moved in zip(x, out):
        found = []
        for dy, dx in itertools.product(range(-2, 3), repeat=2):  # 16 px: at most ±2
            expected = torch.zeros_like(image)
            h, w = image.shape[1:]
            expected[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
                image[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
            if torch.equal(moved, expected):
                found.append((dy, dx))
        assert len(found) == 1
        seen.add(found[0])
    assert len(seen) > 5  # drawn per image


def test_cutout_fills_one_square_of_half_the_side_clipped_at_the_borders():
    x = torch.ones(64, 1, 16, 16)
    out = cutout(x, fill=0.5)
    assert set(out.unique().tolist()) <= {0.5, 1.0}
    for image in out[:, 0]:
        rows, cols = torch.nonzero(image == 0.5, as_tuple=True)
        height = int(rows.max() - rows.min()) + 1
        width = int(cols.max() - cols.min()) + 1
        assert len(rows) == height * width  # one rectangle
        assert 4 <= height <= 8 and 4 <= width <= 8  # 8 × 8, clipped to no less than half
    assert (out == 0.5).sum(dim=(1, 2, 3)).max() == 64  # whole where it lies inside


def test_color_transforms_move_what_each_promises():
    x = _images(n=32)
    shift = brightness(x, span=2.0) - x  # one value per image, within ±0.5 for [−1, 1]
    assert torch.allclose(shift, shift[:, :1, :1, :1].expand_as(shift), atol=1e-6)
    assert shift.abs().max() <= 0.5 and shift[:, 0, 0, 0].std() > 0.1
    saturated = saturation(x)  # each pixel's channel mean kept, its spread scaled by [0, 2]
    assert torch.allclose(saturated.mean(1), x.mean(1), atol=1e-6)
    scale = (saturated - x.mean(1, keepdim=True)) / (x - x.mean(1, keepdim=True))
    assert scale.min() >= -1e-4 and scale.max() <= 2 + 1e-4
    contrasted = contrast(x)  # the image's mean kept, its spread scaled by [0.5, 1.5]
    assert torch.allclose(contrasted.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)
    ratio = contrasted.std((1, 2, 3)) / x.std((1, 2, 3))
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 1.5 + 1e-5


def test_the_range_sets_the_brightness_shift_and_the_fill():
    augment = DiffAugment(["color", "cutout"], (0.0, 1.0))
    assert (augment.span, augment.fill) == (1.0, 0.5)
    assert (brightness(_images(), span=1.0) - _images()).abs().max() <= 0.25


def test_every_transform_is_twice_differentiable():
    # the gradient penalty differentiates the critic's input gradient once more
    augment = DiffAugment(["color", "translation", "cutout"], (-1.0, 1.0))
    x = _images(n=2, size=4).double().requires_grad_()  # shifts of ±1, a 2 × 2 cutout

    def seeded(images):  # the same draws at each of the checks' calls
        torch.manual_seed(3)
        return augment(images)

    assert torch.autograd.gradcheck(seeded, (x,))
    assert torch.autograd.gradgradcheck(seeded, (x,))


def test_an_nhwc_batch_stays_nhwc():
    x = _images().contiguous(memory_format=torch.channels_last)
    out = DiffAugment(["color", "translation", "cutout"], (-1.0, 1.0))(x)
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("value,expected", [([], ()), (None, ()), ("cutout", ("cutout",)),
                                            (["translation", "color"], ("translation", "color"))])
def test_policies_read_from_the_config(value, expected):
    assert require_policies("model.diff_augment", value) == expected


@pytest.mark.parametrize("value,message", [
    (["translate"], r"unknown DiffAugment transform 'translate'; valid choices: \['color', "),
    (["cutout", "cutout"], "names 'cutout' twice"),
    (3, r"must be a list of DiffAugment transforms, some of \['color', 'translation', 'cutout'"),
    ([1], "must be a list")])
def test_a_wrong_policy_is_one_clear_error(value, message):
    with pytest.raises(ConfigError, match=message):
        require_policies("model.diff_augment", value)


def test_the_discriminator_sees_augmented_images_in_training_only():
    torch.manual_seed(0)
    net = DCGANDiscriminator(width=8, image_size=16, num_classes=4)
    keys = list(net.state_dict())
    seen = []
    augment_inputs(net, ["translation", "cutout"], (-1.0, 1.0))
    net.register_forward_pre_hook(lambda module, args: seen.append(args))
    x, labels = _images(), torch.tensor([0, 1, 2, 3, 0, 1])
    net.train()
    net(x, labels)
    assert not torch.equal(seen[-1][0], x) and seen[-1][1] is labels  # labels as they were
    net.eval()
    net(x, labels)
    assert seen[-1][0] is x
    assert list(net.state_dict()) == keys  # checkpoints load with it or without


def test_no_policy_puts_nothing_in_front():
    net = DCGANDiscriminator(width=8, image_size=16)
    assert augment_inputs(net, [], (-1.0, 1.0)) is None
    assert not net._forward_pre_hooks


def test_the_functional_critic_update_draws_the_same_augmentations():
    # speed.compile_critic_step's torch.func path against autograd's, augmentation and the
    # gradient penalty's double backward included (the same seed: the same draws)
    torch.manual_seed(0)
    model = wgan_model(4, diff_augment=["color", "translation", "cutout"]).double()
    model.train()
    real, fake = _images(n=4).double(), _images(n=4, seed=1).double()
    labels, alpha = torch.tensor([0, 1, 2, 3]), torch.rand(4, 1, 1, 1).double()
    params = dict(model.critic.named_parameters())
    torch.manual_seed(5)
    out = model.critic_losses(real, labels, fake, alpha)
    expected = torch.autograd.grad(out["critic"], list(params.values()))
    torch.manual_seed(5)
    grads, losses = model.critic_gradients({k: p.detach() for k, p in params.items()}, real,
                                           labels, fake, alpha)
    assert torch.allclose(losses["critic"], out["critic"].detach(), atol=1e-12)
    for (name, g), e in zip(grads.items(), expected):
        assert torch.allclose(g, e, atol=1e-10), name
    torch.manual_seed(6)  # other draws: another loss (the augmentation is in the loss)
    assert not torch.allclose(model.critic_losses(real, labels, fake, alpha)["critic"],
                              out["critic"])


GANS = {"cdcgan": "discriminator", "study_acgan": "discriminator", "acwgan_gp": "critic",
        "study_wgan": "critic"}


@pytest.mark.parametrize("name", sorted(GANS))
def test_each_gan_trains_with_every_transform(tmp_path, name):
    cfg = compose_config("train", [*smoke(name), "model.diff_augment=[color,translation,cutout]"],
                         tmp_path)
    model = instantiate(cfg.model)
    assert model.diff_augment.policies == ("color", "translation", "cutout")
    seen = []
    getattr(model, GANS[name]).register_forward_pre_hook(
        lambda module, args: seen.append(module.training and args[0].detach().clone()))
    assert fit_steps(cfg, tmp_path, 2, model).global_step == 2
    training = [images for images in seen if images is not False]
    assert training  # every image the discriminator saw, augmented: cutout's fill among them
    assert all(((images == 0).flatten(1).sum(1) >= 16).all() for images in training)
    for p in model.parameters():
        assert torch.isfinite(p).all()
