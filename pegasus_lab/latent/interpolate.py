"""Linear and spherical interpolation between latent vectors (last dimension)."""
from __future__ import annotations

import torch

PARALLEL_EPS = 1e-6


def _weight(t, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.unsqueeze(-1) if t.ndim and t.shape[-1] != 1 else t


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """(1 − t)·a + t·b. `t` a number, or a tensor broadcasting against a's leading dims."""
    t = _weight(t, a)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Spherical interpolation (Shoemake): walks the great circle between a's and b's
    directions, the norm changing as in lerp's weights. Returns a at t=0 and b at t=1 exactly.
    Nearly parallel (or anti-parallel, or zero) vectors have no unique circle: lerp is used."""
    t = _weight(t, a)
    a_dir = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_dir = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = (a_dir * b_dir).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    degenerate = sin.abs() < PARALLEL_EPS
    safe_sin = torch.where(degenerate, torch.ones_like(sin), sin)
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / safe_sin
    return torch.where(degenerate, lerp(a, b, t), spherical)


METHODS = {"lerp": lerp, "slerp": slerp}


def interpolator(name: str, where: str = ""):
    from pegasus_lab.errors import ConfigError
    if name not in METHODS:
        raise ConfigError(f"{where}unknown interpolation {name!r}; valid choices: "
                          f"{list(METHODS)}")
    return METHODS[name]
