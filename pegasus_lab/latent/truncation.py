"""Latents for sampling a trained model: standard normal draws, or with `truncation` = t each
coordinate drawn from the standard normal restricted to [−t, t] (the truncation trick, Brock et
al. 2019). A smaller t keeps the latents nearer the mode: more typical, less varied images
(FID and recall trade against precision as t falls).
"""
from __future__ import annotations

import math

import torch

from pegasus_lab.errors import ConfigError


def require_truncation(key: str, value, where: str = "") -> float | None:
    """`value` as a float if it is a positive finite number, None for null (no truncation),
    else a ConfigError naming `key`."""
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, (int, float)) \
            and math.isfinite(value) and value > 0:
        return float(value)
    raise ConfigError(f"{where}{key} must be a positive number (each latent coordinate kept "
                      f"within ±{key}), or null for none, got {value!r}")


def draw_latents(n: int, dim: int, generator: torch.Generator | None = None,
                 truncation: float | None = None) -> torch.Tensor:
    """n×dim float32 latents on the host. Without truncation: `torch.randn`'s draws (the
    samples every figure and evaluation drew before truncation existed). With it: by inverse
    transform, u ~ U(0, 1) mapped through Φ⁻¹ onto [Φ(−t), Φ(t)], in float64 — exact for any t,
    with no redraws (whose count, and so the stream after them, would depend on the values)."""
    if truncation is None:
        return torch.randn(n, dim, generator=generator)
    u = torch.rand(n, dim, generator=generator, dtype=torch.float64)
    low = torch.special.ndtr(torch.tensor(-float(truncation), dtype=torch.float64))
    z = torch.special.ndtri(low + u * (1 - 2 * low))
    # u = 0 maps to −∞ where Φ(−t) underflows (t ≳ 38): the bound it stands for
    return z.clamp_(-truncation, truncation).float()


def truncation_label(truncation: float | None) -> str:
    """The suffix figures and results of a truncated draw carry in their names."""
    return "" if truncation is None else f"_truncation{truncation:g}"
