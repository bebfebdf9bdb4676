"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): every image a GAN's discriminator sees in training, real and generated, in both
networks' updates, goes through the same kind of random, differentiable transforms, so that
the discriminator cannot memorise a small training set while the generator still learns the
untransformed images (the transforms being differentiable, its gradient passes through them).

The transforms, in this order, each drawn per image:
  color        brightness shifted by U(−¼, ¼) of the pixel range (±0.5 in [−1, 1]),
               saturation scaled by U(0, 2) around each pixel's channel mean, contrast by
               U(½, 3⁄2) around the image's mean;
  translation  shifted by a whole number of pixels within ±⅛ of the side, the uncovered part
               filled with the middle of the pixel range (0 in [−1, 1]);
  cutout       a square of half the side, centred anywhere in the image (clipped at its
               borders), filled the same way.

`augment_inputs` puts them in front of a discriminator as a forward pre-hook, active in
training mode only: validation, sampling (critic_picks) and the metrics see the images as they
are, and the network's parameters keep their names, so checkpoints load with or without it.
Everything is tensor work on the images' device (no host sync): it runs inside a recorded CUDA
graph and under torch.compile, and twice-differentiable for a gradient penalty.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from pegasus_lab.errors import ConfigError

TRANSLATION_RATIO = 1 / 8  # the largest shift, as a share of the side
CUTOUT_RATIO = 1 / 2       # the side of the cut-out square, as a share of the image's


def _per_image(x: torch.Tensor) -> torch.Tensor:
    """U(0, 1), one per image, shaped to broadcast over it."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor, span: float) -> torch.Tensor:
    return x + (_per_image(x) - 0.5) * (span / 2)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_per_image(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def color(x: torch.Tensor, span: float) -> torch.Tensor:
    return contrast(saturation(brightness(x, span)))


def _offsets(n: int, most: int, device) -> torch.Tensor:
    return torch.randint(-most, most + 1, (n, 1, 1), device=device)


def translation(x: torch.Tensor, fill: float, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Each image shifted by (dy, dx), |dy| ≤ ratio·H and |dx| ≤ ratio·W, rounded."""
    n, c, h, w = x.shape
    dy = _offsets(n, int(h * ratio + 0.5), x.device)
    dx = _offsets(n, int(w * ratio + 0.5), x.device)
    # output pixel (i, j) is input pixel (i − dy, j − dx)
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)  # (n, h, w)
    source = rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)
    moved = x.reshape(n, c, h * w).gather(2, source.view(n, 1, h * w).expand(n, c, h * w))
    return torch.where(inside.unsqueeze(1), moved.view(n, c, h, w), fill)


def cutout(x: torch.Tensor, fill: float, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """A square (ratio·H × ratio·W, rounded) of each image filled, centred on a random pixel."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    cut = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return torch.where(cut.unsqueeze(1), fill, x)


POLICIES = ("color", "translation", "cutout")


class DiffAugment:
    """The chosen transforms of an image batch, for a pixel range `input_range`."""

    def __init__(self, policies: Sequence[str], input_range: Sequence[float],
                 probability: Callable[[], torch.Tensor] | None = None) -> None:
        self.policies = tuple(p for p in POLICIES if p in policies)  # in the fixed order
        low, high = float(input_range[0]), float(input_range[1])
        self.span, self.fill = high - low, (low + high) / 2
        # each transform applied to each image with the probability this returns (a device
        # scalar, moved by methods/adaptive_augment.py: looked up at each call, as moving the
        # module to a device replaces it); None: to every image
        self.probability = probability

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.dim() == 4 and not x.is_contiguous() and \
            x.is_contiguous(memory_format=torch.channels_last)
        p = self.probability() if self.probability is not None else None
        for policy in self.policies:
            if policy == "color":
                moved = color(x, self.span)
            elif policy == "translation":
                moved = translation(x, self.fill)
            else:
                moved = cutout(x, self.fill)
            x = moved if p is None else torch.where(_per_image(x) < p, moved, x)
        # the layout it came in (speed.channels_last): the network's weights are laid out so
        return x.contiguous(memory_format=torch.channels_last) if nhwc else x

    def before_forward(self, module: nn.Module, args: tuple) -> tuple | None:
        """A forward pre-hook: the images (the first argument) transformed in training mode;
        the other arguments (a conditional discriminator's labels) as they are."""
        if not module.training or not args:
            return None
        return (self(args[0]), *args[1:])


def require_policies(key: str, value) -> tuple[str, ...]:
    """`value` as DiffAugment policy names: a list of some of POLICIES (one name alone is
    taken as a list of it); a config error naming them otherwise."""
    if isinstance(value, str):
        value = [value]
    if value is None:
        value = []
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{key} must be a list of DiffAugment transforms, some of "
                          f"{list(POLICIES)} (e.g. {key}=[translation,cutout]); got {value!r}")
    unknown = [p for p in value if p not in POLICIES]
    if unknown:
        raise ConfigError(f"{key}: unknown DiffAugment transform {unknown[0]!r}; valid "
                          f"choices: {list(POLICIES)}")
    twice = sorted({p for p in value if value.count(p) > 1})
    if twice:
        raise ConfigError(f"{key} names {twice[0]!r} twice: each transform is applied once")
    return tuple(value)


def augment_inputs(net: nn.Module, policies: Sequence[str], input_range: Sequence[float],
                   key: str = "diff_augment",
                   probability: Callable[[], torch.Tensor] | None = None) -> DiffAugment | None:
    """Put the DiffAugment `policies` in front of the discriminator `net` (training mode only;
    with `probability`, each transform to each image with it); the augmentation, or None for
    no policy (nothing put in front)."""
    policies = require_policies(key, policies)
    if not policies:
        return None
    augment = DiffAugment(policies, input_range, probability)
    net.register_forward_pre_hook(augment.before_forward)
    return augment
