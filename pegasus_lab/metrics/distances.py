"""FID and KID between two feature sets.

FID is computed here in float64: each set's mean and covariance (two passes over the features,
on `device`), and the trace of the matrix square root of Σ1Σ2 from two symmetric
eigendecompositions: Σ1Σ2 has the eigenvalues of √Σ1·Σ2·√Σ1, which is symmetric positive
semi-definite, so Tr √(Σ1Σ2) is the sum of the square roots of that matrix's eigenvalues. The
general (non-symmetric) eigendecomposition that torchmetrics uses, or scipy's sqrtm that
pytorch-fid and torch-fidelity use, gives the same trace (tested against both), but has no
fast GPU routine: torch < 2.10 computes it on the CPU (2.2 s for 2048² on a 2-core machine),
torch ≥ 2.10 with cuSOLVER's geev, reported far slower than the symmetric solver
(pytorch/pytorch#183806). The symmetric ones run in cuSOLVER's syevd on the GPU.
KID is torchmetrics', fed the features through an identity 'feature extractor'.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

log = logging.getLogger(__name__)


class _GivenFeatures(nn.Module):
    """Identity: the 'images' torchmetrics sees are already features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _check(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets must be N×d with the same d, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("FID needs at least two samples in each set")


def moments(features: torch.Tensor, chunk: int = 10_000,
            device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (n − 1) of N×d features in float64 on `device`, the
    covariance summed over centred chunks (no cancellation between Σxxᵀ and n·μμᵀ). The
    features reach `device` in one copy, as they are (not once per pass: 50k × 2048 float32
    features are 400 MB to move from the host)."""
    n, d = features.shape
    features = features.to(device)
    total = torch.zeros(d, dtype=torch.float64, device=device)
    for start in range(0, n, chunk):
        total += features[start:start + chunk].double().sum(0)
    mean = total / n
    cov = torch.zeros(d, d, dtype=torch.float64, device=device)
    for start in range(0, n, chunk):
        centred = features[start:start + chunk].double() - mean
        cov.addmm_(centred.T, centred)
    return mean, cov / (n - 1)


def _psd_root(cov: torch.Tensor) -> torch.Tensor:
    """√Σ of a symmetric positive semi-definite Σ (rounding's tiny negative eigenvalues as 0)."""
    values, vectors = torch.linalg.eigh(cov)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def _trace_sqrt_given_root(root1: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    middle = root1 @ cov2 @ root1
    return torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()


def trace_sqrt_product(cov1: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """Tr √(Σ1Σ2) for symmetric positive semi-definite Σ1, Σ2: the sum of the square roots of
    the eigenvalues of √Σ1·Σ2·√Σ1."""
    return _trace_sqrt_given_root(_psd_root(cov1), cov2)


@dataclass(frozen=True)
class Reference:
    """What FID needs of the reference (real) set, computed once: its mean, covariance and √Σ.
    A curve measures FID many times against the same training set; this spares each point
    the reference's two passes over 50k × 2048 features and one of its two
    eigendecompositions (float64: seconds on a CPU)."""
    mean: torch.Tensor
    cov: torch.Tensor
    root: torch.Tensor

    @classmethod
    def of(cls, features: torch.Tensor, chunk: int = 10_000,
           device: torch.device | str = "cpu") -> Reference:
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"FID needs an N×d reference set with N ≥ 2, got "
                             f"{tuple(features.shape)}")
        mean, cov = moments(features, chunk, device)
        if not torch.isfinite(cov).all():
            raise ValueError("FID: the features are not all finite")
        return cls(mean, cov, _psd_root(cov))

    def to(self, device: torch.device | str) -> Reference:
        return Reference(self.mean.to(device), self.cov.to(device), self.root.to(device))


def fid(real: torch.Tensor | Reference, fake: torch.Tensor, chunk: int = 10_000,
        device: torch.device | str = "cpu") -> float:
    """FID in float64; on `device` (a GPU: 50k samples' statistics in milliseconds). `real` is
    the reference set's features or its `Reference`, when FID is measured against it again."""
    if isinstance(real, Reference):
        ref = real.to(device)
        if fake.ndim != 2 or fake.shape[1] != ref.mean.shape[0] or len(fake) < 2:
            raise ValueError(f"FID needs N×{ref.mean.shape[0]} generated features with N ≥ 2, "
                             f"got {tuple(fake.shape)}")
    else:
        _check(real, fake)
        ref = Reference.of(real, chunk, device)
    mean2, cov2 = moments(fake, chunk, device)
    if not torch.isfinite(cov2).all():
        raise ValueError("FID: the features are not all finite")
    value = (ref.mean - mean2).square().sum() + ref.cov.trace() + cov2.trace() \
        - 2 * _trace_sqrt_given_root(ref.root, cov2)
    return float(value)


def kid(real: torch.Tensor, fake: torch.Tensor, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0, device: torch.device | str = "cpu") -> tuple[float, float | None, int]:
    """(mean, std over the subsets, subset size used). The subset size shrinks to the smaller
    set's size. Where that is both sets' size, every subset is both whole sets: KID is their
    one value, and the std None, not the 0 (3e-16) a spread of identical values reads as."""
    _check(real, fake)
    size = min(subset_size, len(real), len(fake))
    if size < subset_size:
        log.warning("KID subset size lowered from %d to %d (only %d real, %d generated)",
                    subset_size, size, len(real), len(fake))
    whole = size == len(real) == len(fake)
    metric = KernelInceptionDistance(feature=_GivenFeatures(real.shape[1]),
                                     subsets=1 if whole else subsets,
                                     subset_size=size, sync_on_compute=False).to(device)
    metric.update(real.to(device).double(), real=True)
    metric.update(fake.to(device).double(), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), None if whole else float(std), size
