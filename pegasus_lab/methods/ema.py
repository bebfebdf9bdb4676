"""An exponential moving average of a network's weights (for sampling from GAN generators)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from pegasus_lab.errors import ConfigError


class EMA(nn.Module):
    """Holds `shadow`, a copy of a network whose parameters follow
    shadow ← decay·shadow + (1 − decay)·online after each `update`; buffers (batch-norm
    statistics) are copied as they are."""

    def __init__(self, online: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(online).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module) -> None:
        shadow_params = list(self.shadow.parameters())
        torch._foreach_lerp_(shadow_params, [p.detach() for p in online.parameters()],
                             1.0 - self.decay)
        shadow_buffers = list(self.shadow.buffers())
        if shadow_buffers:  # one foreach call, not a copy kernel per buffer (paper-2: 21)
            torch._foreach_copy_(shadow_buffers, list(online.buffers()))

    def forward(self, *args, **kwargs):
        return self.shadow(*args, **kwargs)

    def train(self, mode: bool = True):  # the average is only ever used for inference
        return super().train(False)
