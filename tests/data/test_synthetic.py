import numpy as np

from pegasus_lab.data.synthetic import SyntheticSource


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
