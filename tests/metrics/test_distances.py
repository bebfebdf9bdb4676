import numpy as np
import pytest
import scipy.linalg
import torch

from pegasus_lab.metrics.distances import fid, kid


def reference_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """Float64 numpy/scipy FID, written independently of torchmetrics."""
    a, b = a.double().numpy(), b.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def _features(n, d=32, seed=0, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g) / d ** 0.5
    return (torch.randn(n, d, generator=g) @ mix) * scale + shift


def test_fid_of_a_set_with_itself_is_zero():
    a = _features(300)
    assert abs(fid(a, a)) < 1e-6


def test_fid_grows_with_a_shift():
    a, b = _features(400, seed=1), _features(400, seed=2)
    values = [fid(a, b + s) for s in (0.0, 0.1, 0.5, 1.0)]
    assert values == sorted(values)
    # a shift changes only the mean term: by about d·s² = 32 for s = 1 in 32 dimensions
    assert values[-1] - values[0] == pytest.approx(32, abs=4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fid_agrees_with_a_float64_scipy_reference(seed):
    a = _features(500, d=64, seed=seed)
    b = _features(450, d=64, seed=seed + 10, scale=1.2, shift=0.3)
    ours, ref = fid(a, b), reference_fid(a, b)
    assert abs(ours - ref) <= 1e-3 * abs(ref)


def test_kid_guards_its_subset_size_on_small_sets():
    a, b = _features(40, seed=3), _features(30, seed=4, shift=1.0)
    mean, std, used = kid(a, b, subset_size=1000, subsets=20)
    assert used == 30 and np.isfinite(mean) and mean > 0


def test_kid_near_zero_for_one_distribution_and_positive_for_two():
    same = kid(_features(500, seed=5), _features(500, seed=6), 200, 50)[0]
    shifted = kid(_features(500, seed=5), _features(500, seed=6, shift=1.0), 200, 50)[0]
    assert abs(same) < 0.05 * shifted


def test_mismatched_features_are_rejected():
    with pytest.raises(ValueError):
        fid(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError):
        fid(torch.zeros(1, 3), torch.zeros(5, 3))
