"""Pegasus latents: a body latent and a wing latent mixed with fixed weights (0.65 : 0.35)."""
from __future__ import annotations

import torch

from pegasus_lab.errors import require_number
from pegasus_lab.latent.interpolate import interpolator


def blend(z_body: torch.Tensor, z_wing: torch.Tensor, body_weight: float = 0.65,
          method: str = "lerp") -> torch.Tensor:
    """body_weight·z_body + (1 − body_weight)·z_wing (lerp), or the same point on the great
    circle (slerp). Row-wise for batches."""
    body_weight = require_number("body_weight", body_weight, least=0.0, most=1.0)
    return interpolator(method)(z_body, z_wing, 1.0 - body_weight)
