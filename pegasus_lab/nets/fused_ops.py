"""Exact rewrites of common layer pairs into single, cheaper ops (issue 9's levers).

A 3×3 convolution (padding 1) followed by a 2×2 mean pool is one 4×4 stride-2 convolution
(padding 1) whose kernel is the 3×3 kernel summed over the four 2×2 offsets, divided by 4: both
are linear, so the same function, values and gradients, double backward included. The layer
keeps the 3×3 parameters, so checkpoints are the same with the rewrite on or off.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3_meanpool_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) → the (O, I, 4, 4) kernel of the equivalent stride-2 convolution."""
    out = weight.new_zeros(*weight.shape[:2], 4, 4)
    for a in (0, 1):
        for b in (0, 1):
            out = out + F.pad(weight, (b, 1 - b, a, 1 - a))
    return out / 4


class ConvMeanPool(nn.Module):
    """conv 3×3 (padding 1) then 2×2 mean pool; `fused` computes it as one strided conv."""

    def __init__(self, c_in: int, c_out: int, fused: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.conv2d(x, conv3x3_meanpool_kernel(self.conv.weight), self.conv.bias,
                            stride=2, padding=1)
        return F.avg_pool2d(self.conv(x), 2)
