"""k-nearest-neighbour manifold metrics between a real and a generated feature set.

Each feature gets a ball around it reaching its k-th nearest neighbour in its own set (itself
not counted), and the union of a set's balls stands for that set's manifold:
- precision: the share of generated features inside the real manifold, recall: the share of
  real features inside the generated manifold (Kynkäänniemi et al. 2019, "Improved precision
  and recall metric for assessing generative models");
- density: how many real balls hold a generated feature, on average, over k (it can pass 1
  where samples crowd the dense parts), coverage: the share of real features whose ball holds
  a generated feature (Naeem et al. 2020, "Reliable fidelity and diversity metrics for
  generative models").
Balls are closed (a distance equal to the radius is inside). Distances are computed in float64
on `device`, a block of rows at a time, so no N×M matrix is ever held whole.
"""
from __future__ import annotations

import torch


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = a.square().sum(1, keepdim=True) + b.square().sum(1) - 2 * a @ b.T
    return d.clamp_min_(0)


def _blocks(n: int, rows: int):
    for start in range(0, n, rows):
        yield slice(start, min(start + rows, n))


def kth_neighbour_radii(x: torch.Tensor, k: int, rows: int = 1024) -> torch.Tensor:
    """The squared distance from each row of `x` to its k-th nearest other row."""
    radii = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for block in _blocks(len(x), rows):
        d = _squared_distances(x[block], x)
        # itself is one of the k + 1 smallest (at distance 0)
        radii[block] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def subsample(features: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """At most `count` rows of `features`, drawn without replacement with `seed`."""
    if len(features) <= count:
        return features
    picked = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
    return features[picked[:count].to(features.device)]


def precision_recall_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5,
                                      device: torch.device | str = "cpu",
                                      rows: int = 1024) -> dict[str, float]:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"manifold metrics need N×D and M×D features, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    if k < 1 or min(len(real), len(fake)) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than {k} features in each set, "
                         f"got {len(real)} real and {len(fake)} generated")
    real = real.to(device, torch.float64)
    fake = fake.to(device, torch.float64)
    real_radii = kth_neighbour_radii(real, k, rows)
    fake_radii = kth_neighbour_radii(fake, k, rows)
    fake_in_real = torch.zeros(len(fake), dtype=torch.bool, device=device)
    real_balls_per_fake = torch.zeros(len(fake), dtype=torch.float64, device=device)
    real_in_fake = torch.empty(len(real), dtype=torch.bool, device=device)
    real_covered = torch.empty(len(real), dtype=torch.bool, device=device)
    for block in _blocks(len(real), rows):
        d = _squared_distances(real[block], fake)               # rows: real, columns: fake
        inside_real = d <= real_radii[block, None]               # fake j in real i's ball
        fake_in_real |= inside_real.any(0)
        real_balls_per_fake += inside_real.sum(0)
        real_in_fake[block] = (d <= fake_radii[None, :]).any(1)  # real i in some fake ball
        real_covered[block] = inside_real.any(1)                 # some fake in real i's ball
    return {"precision": float(fake_in_real.double().mean()),
            "recall": float(real_in_fake.double().mean()),
            "density": float(real_balls_per_fake.mean() / k),
            "coverage": float(real_covered.double().mean())}
