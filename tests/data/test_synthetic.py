import numpy as np
import pytest

from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.errors import ConfigError


def test_classes_differ_and_are_reproducible():
    a = SyntheticSource(num_classes=3, per_class=5, image_size=16, seed=7)
    b = SyntheticSource(num_classes=3, per_class=5, image_size=16, seed=7)
    assert np.array_equal(a.array(), b.array())
    means = [a.array()[a.labels() == k].mean(axis=(0, 1, 2)) for k in range(3)]
    assert np.abs(means[0] - means[1]).max() > 10


def test_grey_variant_has_one_channel():
    src = SyntheticSource(num_classes=2, per_class=2, image_size=8, channels=1)
    assert src.array().shape == (4, 8, 8, 1)
    assert src.image(0).mode == "L"


def test_splits_differ_and_both_concatenates():
    train = SyntheticSource(num_classes=2, per_class=3, image_size=8, split="train")
    test = SyntheticSource(num_classes=2, per_class=3, image_size=8, split="test")
    both = SyntheticSource(num_classes=2, per_class=3, image_size=8, split="both")
    assert not np.array_equal(train.array(), test.array())
    assert np.array_equal(both.array(), np.concatenate([train.array(), test.array()]))


@pytest.mark.parametrize("setting,says", [
    ({"per_class": 0}, "synthetic data: per_class must be a positive integer, got 0"),
    ({"seed": -1}, "synthetic data: seed must be an integer from 0 to 4294967295, got -1")])
def test_bad_settings_are_said_when_it_is_built(setting, says):
    with pytest.raises(ConfigError, match=f"^{says}$"):
        SyntheticSource(**setting)
