"""Pixel-value conversions shared by both data paths and by image logging."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from pegasus_lab.errors import ConfigError

UNIT = (0.0, 1.0)


def check_range(value_range: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ConfigError(f"value_range must be [low, high] with high > low, got {value_range}")
    return lo, hi


def from_uint8(x: torch.Tensor, value_range: Sequence[float]) -> torch.Tensor:
    lo, hi = check_range(value_range)
    return x.float().mul_((hi - lo) / 255.0).add_(lo)


def to_unit(x: torch.Tensor, value_range: Sequence[float]) -> torch.Tensor:
    """Images in `value_range` → [0, 1], clamped (for saving and logging)."""
    lo, hi = check_range(value_range)
    return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of a batch left-right with probability 1/2, on x's device."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
