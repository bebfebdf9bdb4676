"""FID and KID between two feature sets, computed by torchmetrics' implementations.

The features are extracted (and cached) outside; torchmetrics receives them through an
identity 'feature extractor', so its statistics and matrix square root do the maths.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
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


def fid(real: torch.Tensor, fake: torch.Tensor, chunk: int = 10_000,
        device: torch.device | str = "cpu") -> float:
    """FID in float64; on `device` (a GPU: the 50k-sample covariances in milliseconds)."""
    _check(real, fake)
    # the features are already complete here: no syncing of states across DDP ranks, which
    # would wait forever for ranks that do not compute the metric
    metric = FrechetInceptionDistance(feature=_GivenFeatures(real.shape[1]),
                                      sync_on_compute=False).to(device)
    for start in range(0, len(real), chunk):
        metric.update(real[start:start + chunk].to(device).double(), real=True)
    for start in range(0, len(fake), chunk):
        metric.update(fake[start:start + chunk].to(device).double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0, device: torch.device | str = "cpu") -> tuple[float, float, int]:
    """(mean, std, subset size used). The subset size shrinks to the smaller set's size."""
    _check(real, fake)
    size = min(subset_size, len(real), len(fake))
    if size < subset_size:
        log.warning("KID subset size lowered from %d to %d (only %d real, %d generated)",
                    subset_size, size, len(real), len(fake))
    metric = KernelInceptionDistance(feature=_GivenFeatures(real.shape[1]), subsets=subsets,
                                     subset_size=size, sync_on_compute=False).to(device)
    metric.update(real.to(device).double(), real=True)
    metric.update(fake.to(device).double(), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std), size
