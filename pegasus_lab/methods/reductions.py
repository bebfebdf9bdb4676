"""Reductions the losses share."""
from __future__ import annotations

import torch


def sum_per_example(t: torch.Tensor) -> torch.Tensor:
    """`t` summed over every dimension but the first (the batch): one value per example.
    Reduces in place of `t.flatten(1).sum(1)`, which copies a channels_last tensor into NCHW
    order first (speed.channels_last: activations, images and their gradients are NHWC)."""
    return t.sum(tuple(range(1, t.ndim))) if t.ndim > 1 else t
