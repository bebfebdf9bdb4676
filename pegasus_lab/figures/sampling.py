"""Grids of samples: random, one row per class, latent walks, the critic's favourites."""
from __future__ import annotations

import math

import torch

from pegasus_lab.errors import ConfigError, method_name
from pegasus_lab.latent.interpolate import interpolator
from pegasus_lab.latent.truncation import draw_latents


def _num_classes(model) -> int:
    return int(getattr(model, "num_classes", 0) or 0)


@torch.no_grad()
def random_grid(model, num: int, seed: int = 0,
                truncation: float | None = None) -> tuple[torch.Tensor, int]:
    """`num` samples (classes in turn, for a conditional model); `truncation`: each latent
    coordinate within ±truncation (latent/truncation.py), as in every function here."""
    g = torch.Generator().manual_seed(seed)
    z = draw_latents(num, model.latent_dim, g, truncation).to(model.device)
    k = _num_classes(model)
    labels = torch.arange(num, device=model.device) % k if k else None
    return model.to_unit(model.generate(z, labels)).cpu(), int(math.ceil(math.sqrt(num)))


@torch.no_grad()
def class_grid(model, per_class: int, seed: int = 0,
               truncation: float | None = None) -> tuple[torch.Tensor, int]:
    """One row per class (paper-2's 10×10)."""
    k = _num_classes(model)
    if not k:
        name = method_name(model)
        raise ConfigError(f"a class grid draws a row per class, and the {name} takes no class "
                          "(a class-conditional model does; mode=grid draws this one's samples)")
    g = torch.Generator().manual_seed(seed)
    z = draw_latents(k * per_class, model.latent_dim, g, truncation).to(model.device)
    labels = torch.arange(k, device=model.device).repeat_interleave(per_class)
    return model.to_unit(model.generate(z, labels)).cpu(), per_class


@torch.no_grad()
def latent_walk(model, rows: int, steps: int, method: str = "lerp", seed: int = 0,
                truncation: float | None = None) -> tuple[torch.Tensor, int]:
    """Rows of interpolation between two random latents (one class along a row)."""
    g = torch.Generator().manual_seed(seed)
    a = draw_latents(rows, model.latent_dim, g, truncation)[:, None]
    b = draw_latents(rows, model.latent_dim, g, truncation)[:, None]
    z = interpolator(method)(a, b, torch.linspace(0, 1, steps)[None, :])
    k = _num_classes(model)
    labels = ((torch.arange(rows) % k).repeat_interleave(steps).to(model.device) if k else None)
    images = model.generate(z.reshape(-1, model.latent_dim).to(model.device), labels)
    return model.to_unit(images).cpu(), steps


@torch.no_grad()
def critic_picks(model, num: int, candidates: int, seed: int = 0, chunk: int = 500,
                 truncation: float | None = None) -> tuple[torch.Tensor, int]:
    """The `num` samples that the critic (or discriminator) rates most real of `candidates`."""
    if not hasattr(model, "realness"):
        name = method_name(model)
        raise ConfigError("picking by critic needs a model with a critic or discriminator, and "
                          f"the {name} has none (mode=grid draws this one's samples)")
    g = torch.Generator().manual_seed(seed)
    k = _num_classes(model)
    images, scores = [], []
    for start in range(0, candidates, chunk):
        n = min(chunk, candidates - start)
        z = draw_latents(n, model.latent_dim, g, truncation).to(model.device)
        labels = torch.randint(k, (n,), generator=g).to(model.device) if k else None
        x = model.generate(z, labels)
        images.append(x.cpu())
        scores.append(model.realness(x, labels).cpu())
    best = torch.cat(scores).argsort(descending=True)[:num]
    return model.to_unit(torch.cat(images)[best]), int(math.ceil(math.sqrt(num)))
