"""Paper-0's pegasi: which images are encoded, how their latents are mixed, how they are ranked."""
import numpy as np
import pytest
import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.latent.pegasus_maker import PegasusSpec, make_pegasi, rank_pegasi

CLASSES = ["airplane", "bird", "horse", "cat"]


class IndexedImages:
    """40 images, 10 per class; image i is flat grey level 5·i, so a picture names its source."""
    classes = CLASSES
    value_range = (-1.0, 1.0)

    def __init__(self):
        self.labels = torch.arange(40) % len(CLASSES)
        self.images = (torch.arange(40) * 5).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 4, 4)

    def class_indices(self, name, where=""):
        return np.nonzero(self.labels.numpy() == CLASSES.index(name))[0]

    def uint8_images(self, indices):
        sel = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return self.images[sel], self.labels[sel]


class MeanCoder(nn.Module):
    """Encodes an image to its mean grey level and decodes a latent to a flat image of it."""
    device = torch.device("cpu")

    def __init__(self):
        super().__init__()
        self.modes_seen = []

    def encode(self, x):
        self.modes_seen.append(self.training)
        mean = x.mean(dim=(1, 2, 3)).unsqueeze(1)
        return mean, torch.zeros_like(mean)

    def generate(self, z):
        return z.view(-1, 1, 1, 1).expand(-1, 3, 4, 4)

    def to_unit(self, x):
        return (x + 1) / 2


def _level(index):  # image `index` in the data's [-1, 1] range
    return index * 5 / 255 * 2 - 1


def test_each_pegasus_is_065_of_a_horse_and_035_of_a_wing():
    data, model = IndexedImages(), MeanCoder()
    images, made = make_pegasi(model, data, PegasusSpec(count=8, seed=3))
    assert images.shape == (8, 3, 4, 4)
    labels = data.labels.numpy()
    assert {CLASSES[labels[i]] for i in made["body_index"]} == {"horse"}
    assert {CLASSES[labels[i]] for i in made["wing_index"]} <= {"bird", "airplane"}
    assert len(set(made["body_index"])) == 8  # distinct horses while the class has enough
    expected = torch.tensor([(0.65 * _level(b) + 0.35 * _level(w) + 1) / 2
                             for b, w in zip(made["body_index"], made["wing_index"])])
    assert torch.allclose(images[:, 0, 0, 0], expected, atol=1e-6)
    assert torch.all(images == images[:, :1, :1, :1])


def test_encoded_in_eval_mode_and_the_mode_restored():
    model = MeanCoder().train()
    make_pegasi(model, IndexedImages(), PegasusSpec(count=4))
    assert model.modes_seen == [False, False] and model.training


def test_more_pegasi_than_horses_reuses_horses_and_the_seed_fixes_the_choice():
    data = IndexedImages()
    _, made = make_pegasi(MeanCoder(), data, PegasusSpec(count=25, seed=1))
    assert len(made["body_index"]) == 25 and len(set(made["body_index"])) <= 10
    assert make_pegasi(MeanCoder(), data, PegasusSpec(count=25, seed=1))[1] == made
    assert make_pegasi(MeanCoder(), data, PegasusSpec(count=25, seed=2))[1] != made


def test_wings_from_the_named_classes_only():
    data = IndexedImages()
    _, made = make_pegasi(MeanCoder(), data, PegasusSpec(count=30, wing_classes=["bird"]))
    assert {CLASSES[data.labels[i]] for i in made["wing_index"]} == {"bird"}


def test_a_model_without_an_encoder_or_with_classes_is_one_error():
    class Generator(nn.Module):  # a GAN: latents in, images out, nothing to encode with
        device = torch.device("cpu")
    conditional = MeanCoder()
    conditional.num_classes = 4
    with pytest.raises(ConfigError, match="^make_pegasi encodes real images: .* the Generator "
                                          "has none"):
        make_pegasi(Generator(), IndexedImages(), PegasusSpec())
    with pytest.raises(ConfigError, match="^make_pegasi decodes blends .* the MeanCoder decodes "
                                          "each latent with one of its 4 classes"):
        make_pegasi(conditional, IndexedImages(), PegasusSpec())


def test_ranked_by_whiteness_alone_or_times_the_weaker_class_probability():
    whiteness = torch.tensor([0.2, 0.9, 0.5])
    order, score = rank_pegasi(whiteness)
    assert order.tolist() == [1, 2, 0] and torch.equal(score, whiteness)
    # the whitest is no horse (p_body 0.1): with the classifier the white winged horse wins
    p_body, p_wing = torch.tensor([0.9, 0.1, 0.8]), torch.tensor([0.5, 0.9, 0.6])
    order, score = rank_pegasi(whiteness, p_body, p_wing)
    assert order.tolist() == [2, 0, 1]
    assert score.tolist() == pytest.approx([0.1, 0.09, 0.3])


@pytest.mark.parametrize("setting,says", [
    ({"seed": -1}, "seed must be an integer from 0 to 4294967295, got -1"),
    ({"wing_classes": []}, "wing_classes must be a list of class names, e.g. [bird,airplane]"),
    ({"wing_classes": "bird"}, "wing_classes must be a list of class names"),
    ({"body_class": None}, "body_class must be a class name, got None"),
    ({"count": 0}, "count must be a positive integer, got 0"),
    ({"top_k": -1}, "top_k must be a positive integer, got -1"),
    ({"large_size": 0}, "large_size must be a positive integer, got 0"),
    ({"body_weight": "abc"}, "body_weight must be a finite number in [0.0, 1.0], got 'abc'"),
    ({"method": "nope"}, "method: unknown interpolation 'nope'"),
])
def test_a_bad_setting_is_said_when_the_spec_is_built(setting, says):
    with pytest.raises(ConfigError) as err:
        PegasusSpec(**setting)
    assert str(err.value).startswith(f"blend: {says}")


def test_classes_named_by_digits_may_be_given_as_numbers():
    """`blend.body_class=3` for a digits data set: Hydra gives the number 3, the class is '3'."""
    spec = PegasusSpec(body_class=3, wing_classes=[7, "1"])
    assert spec.body_class == "3" and spec.wing_classes == ["7", "1"]
    with pytest.raises(ConfigError, match=r"^blend: body_class must be a class name, got True"):
        PegasusSpec(body_class=True)
    with pytest.raises(ConfigError, match=r"^blend: wing_classes must be a list of class names"):
        PegasusSpec(wing_classes=[7, None])
