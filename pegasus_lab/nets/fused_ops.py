"""Exact rewrites of common layer pairs into single, cheaper ops (the performance issue).

- A 3×3 convolution (padding 1) followed by a 2×2 mean pool is one 4×4 stride-2 convolution
  (padding 1) whose kernel is the 3×3 kernel summed over the four 2×2 offsets, divided by 4.
- Nearest 2× upsampling followed by a 3×3 convolution (padding 1) is one 4×4 stride-2
  transposed convolution (padding 1): each output phase (row parity, column parity) sees a 2×2
  neighbourhood of the input, with the 3×3 taps that land on the same input pixel summed
  (a sub-pixel, four-phase convolution) — 16 instead of 36 multiply-adds per output and input
  channel pair, and no upsampled tensor.
Both sides are linear in the input, so the same function: values and gradients, double backward
included (tested). The layers keep the 3×3 parameters, so checkpoints are the same with the
rewrite on or off; `fused` is switched by the constructor or by speed.fused_layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _box_sums(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) → (O, I, 4, 4): entry (a, b) is the sum of the taps (a − 1 … a, b − 1 … b)
    of the kernel, zero outside it: the 2×2 sliding sums of the kernel padded by one. Built
    by pad and sum pooling, two kernels, and no matrix product (whose TF32 or bf16 rounding
    would change the weights)."""
    return F.avg_pool2d(F.pad(weight, (1, 1, 1, 1)), 2, stride=1, divisor_override=1)


def conv3x3_meanpool_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) → the (O, I, 4, 4) kernel of the equivalent stride-2 convolution: output
    pixel (i, j) averages the 3×3 convolution at (2i + a, 2j + b), a, b ∈ {0, 1}, so input
    offset (u, v) of the 4×4 window carries the taps (u − a, v − b) summed over a, b, over 4."""
    return _box_sums(weight) / 4


class ConvPairRewrite(nn.Module):
    """A 3×3 convolution (padding 1) paired with a resampling, computed plainly or, when
    `fused`, as one rewritten convolution from the same parameters."""

    def __init__(self, c_in: int, c_out: int, fused: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rewritten(x) if self.fused else self.plain(x)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def rewritten(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ConvMeanPool(ConvPairRewrite):
    """conv 3×3 (padding 1) then 2×2 mean pool; fused: one 4×4 stride-2 conv."""

    def plain(self, x):
        return F.avg_pool2d(self.conv(x), 2)

    def rewritten(self, x):
        return F.conv2d(x, conv3x3_meanpool_kernel(self.conv.weight), self.conv.bias,
                        stride=2, padding=1)


def upsample_conv3x3_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, 3, 3) conv kernel → the (I, O, 4, 4) kernel of the equivalent stride-2 transposed
    convolution of nearest-2×-upsampling-then-conv.

    Along one axis: output row 2i reads input rows i − 1 (tap 0) and i (taps 1, 2); row 2i + 1
    reads i (taps 0, 1) and i + 1 (tap 2). A stride-2, padding-1 transposed convolution sends
    input row y to output row 2y − 1 + k with its tap k, so its taps are (w₂, w₁ + w₂, w₀ + w₁,
    w₀): the sliding pair sums of the padded kernel (0, w₀, w₁, w₂, 0), reversed. In 2-D: the
    box sums, flipped along both axes, input and output channels swapped."""
    return _box_sums(weight).flip(2, 3).transpose(0, 1)


class UpsampleConv(ConvPairRewrite):
    """Nearest 2× upsampling then conv 3×3 (padding 1); fused: one 4×4 stride-2 transposed
    conv."""

    def plain(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))

    def rewritten(self, x):
        return F.conv_transpose2d(x, upsample_conv3x3_kernel(self.conv.weight), self.conv.bias,
                                  stride=2, padding=1)


REWRITES = (ConvPairRewrite,)
