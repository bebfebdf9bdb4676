"""Precision, recall, density and coverage against a plain numpy/scipy computation of the
papers' definitions, and on sets whose answer is known."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pegasus_lab.metrics.manifold import (kth_neighbour_radii, precision_recall_density_coverage,
                                          subsample)


def _by_definition(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    """Every distance at once, in float64: the k-th smallest of a row after itself (0)."""
    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_real = np.sort(rr, axis=1)[:, k]
    r_fake = np.sort(ff, axis=1)[:, k]
    inside = rf <= r_real[:, None]
    return {"precision": inside.any(axis=0).mean(),
            "recall": (rf <= r_fake[None, :]).any(axis=1).mean(),
            "density": inside.sum(axis=0).mean() / k,
            "coverage": (rf.min(axis=1) <= r_real).mean()}


@pytest.mark.parametrize("k,rows", [(1, 1024), (3, 37), (5, 64)])
def test_agrees_with_the_definitions(k, rows):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(300, 16))
    fake = rng.normal(loc=0.3, scale=1.2, size=(257, 16))  # overlapping, not the same
    ours = precision_recall_density_coverage(torch.from_numpy(real), torch.from_numpy(fake),
                                             k=k, rows=rows)
    reference = _by_definition(real, fake, k)
    assert ours.keys() == reference.keys()
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1


def test_radii_are_the_kth_other_neighbour():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert kth_neighbour_radii(x, 1).tolist() == [1.0, 1.0, 4.0, 16.0]  # squared
    assert kth_neighbour_radii(x, 2, rows=3).tolist() == [9.0, 4.0, 9.0, 36.0]


def test_the_same_set_is_all_precise_recalled_and_covered():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    m = precision_recall_density_coverage(x, x.clone(), k=5)
    assert m["precision"] == m["recall"] == m["coverage"] == 1.0
    assert m["density"] >= 1.0  # each sample sits in its own ball and its neighbours'


def test_a_far_set_is_none_of_it():
    real = torch.randn(100, 8, generator=torch.Generator().manual_seed(1))
    m = precision_recall_density_coverage(real, real + 100.0, k=3)
    assert m == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_a_collapsed_generator_is_precise_but_recalls_and_covers_little():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(500, 4, generator=g)
    mode = real[0] + 0.01 * torch.randn(500, 4, generator=g)  # all samples at one real point
    m = precision_recall_density_coverage(real, mode, k=5)
    assert m["precision"] == 1.0
    assert m["recall"] < 0.05 and m["coverage"] < 0.05


def test_subsample_is_seeded_and_bounded():
    x = torch.arange(100.0)[:, None]
    a, b = subsample(x, 10, seed=4), subsample(x, 10, seed=4)
    assert len(a) == 10 and torch.equal(a, b) and len(set(a[:, 0].tolist())) == 10
    assert not torch.equal(a, subsample(x, 10, seed=5))
    assert subsample(x, 500, seed=0) is x


@pytest.mark.parametrize("real,fake,k,says", [
    ((10, 4), (10, 5), 3, "N×D and M×D"),
    ((10, 4), (3, 4), 3, "more than 3 features in each set"),
    ((10, 4), (10, 4), 0, "k=0"),
])
def test_bad_input_is_said(real, fake, k, says):
    with pytest.raises(ValueError, match=says):
        precision_recall_density_coverage(torch.randn(*real), torch.randn(*fake), k=k)
