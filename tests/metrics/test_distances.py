import numpy as np
import pytest
import scipy.linalg
import torch

from torchmetrics.image.fid import FrechetInceptionDistance

from pegasus_lab.metrics.distances import Reference, fid, kid, moments, trace_sqrt_product
from tests.helpers import CopyRecorder


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


def test_fid_agrees_with_torchmetrics_general_eigendecomposition():
    # torchmetrics: Tr √(Σ1Σ2) from the non-symmetric eigenvalues of Σ1Σ2; here from the
    # symmetric √Σ1·Σ2·√Σ1. Same statistics in float64, so they agree to rounding.
    a = _features(600, d=48, seed=3).double()
    b = _features(500, d=48, seed=4, scale=0.8, shift=-0.2).double()

    class Given(torch.nn.Module):
        num_features = 48

        def forward(self, x):
            return x
    metric = FrechetInceptionDistance(feature=Given(), sync_on_compute=False)
    metric.update(a, real=True)
    metric.update(b, real=False)
    assert fid(a, b) == pytest.approx(float(metric.compute()), rel=1e-9)
    assert fid(a, b) == pytest.approx(reference_fid(a, b), rel=1e-8)


def test_the_trace_of_the_root_holds_for_singular_covariances():
    # fewer samples than dimensions (per-class FID of a small class): rank-deficient Σ
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(20, 40, generator=g), torch.randn(25, 40, generator=g) + 0.1
    (_, s1), (_, s2) = moments(a), moments(b)
    assert torch.linalg.matrix_rank(s1) == 19
    root = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy())
    assert float(trace_sqrt_product(s1, s2)) == pytest.approx(np.trace(root).real, rel=1e-6)
    assert fid(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)


def test_moments_are_the_mean_and_unbiased_covariance_whatever_the_chunks():
    x = _features(103, d=8, seed=6, shift=50.0).double()  # a large mean: no cancellation
    for chunk in (7, 103, 1000):
        mean, cov = moments(x, chunk=chunk)
        assert torch.allclose(mean, x.mean(0), rtol=1e-12, atol=1e-12)
        assert torch.allclose(cov, torch.cov(x.T), rtol=1e-10, atol=1e-12)


def test_the_features_reach_the_device_in_one_copy():
    # a GPU's statistics of host features: one upload of the set (400 MB at 50k × 2048),
    # not one per chunk and pass; "meta" stands in for the device
    features = torch.randn(50, 6)
    with CopyRecorder() as recorder:
        mean, cov = moments(features, chunk=10, device="meta")
    assert mean.device.type == cov.device.type == "meta" and cov.shape == (6, 6)
    uploads = [c for c in recorder.copies if (c.source, c.target) == ("cpu", "meta")]
    assert [c.shape for c in uploads] == [(50, 6)]


@pytest.mark.parametrize("seed", [0, 1])
def test_fid_against_a_kept_reference_is_the_same_number(seed):
    # the FID curve keeps the training set's statistics; each point must equal a fresh FID
    a = _features(500, d=64, seed=seed)
    ref = Reference.of(a)
    for k in range(3):
        b = _features(300, d=64, seed=seed + 20 + k, scale=1.1, shift=0.2 * k)
        assert fid(ref, b) == fid(a, b)
    assert ref.root.shape == (64, 64)
    assert torch.allclose(ref.root @ ref.root, ref.cov, atol=1e-10)


def test_a_kept_reference_follows_the_device_and_checks_the_generated_set():
    ref = Reference.of(_features(50, d=6))
    moved = ref.to("meta")
    assert {t.device.type for t in (moved.mean, moved.cov, moved.root)} == {"meta"}
    with pytest.raises(ValueError, match="N×6 generated features"):
        fid(ref, _features(50, d=7))
    with pytest.raises(ValueError, match="N ≥ 2"):
        Reference.of(_features(1, d=6))
    bad = _features(50, d=6)
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="not all finite"):
        Reference.of(bad)


def test_non_finite_features_are_rejected():
    a = _features(50)
    b = a.clone()
    b[3, 2] = float("nan")
    with pytest.raises(ValueError, match="not all finite"):
        fid(a, b)


def test_kid_guards_its_subset_size_on_small_sets():
    a, b = _features(40, seed=3), _features(30, seed=4, shift=1.0)
    mean, std, used = kid(a, b, subset_size=1000, subsets=20)
    assert used == 30 and np.isfinite(mean) and mean > 0


def test_kid_of_two_sets_as_small_as_its_subsets_has_no_spread(caplog):
    """200 real and 200 generated (`reference_samples=200 num_samples=200`): every subset was
    both whole sets, and the JSON said kid_std 3e-16, a precision it does not have."""
    a, b = _features(30, seed=3), _features(30, seed=4, shift=1.0)
    mean, std, used = kid(a, b, subset_size=1000, subsets=20)
    assert (std, used) == (None, 30) and mean == kid(a, b, subset_size=30, subsets=1)[0]
    assert kid(a, b, subset_size=29, subsets=20)[1] > 0  # subsets of fewer: a spread


def test_kid_near_zero_for_one_distribution_and_positive_for_two():
    same = kid(_features(500, seed=5), _features(500, seed=6), 200, 50)[0]
    shifted = kid(_features(500, seed=5), _features(500, seed=6, shift=1.0), 200, 50)[0]
    assert abs(same) < 0.05 * shifted


def test_mismatched_features_are_rejected():
    with pytest.raises(ValueError):
        fid(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError):
        fid(torch.zeros(1, 3), torch.zeros(5, 3))
