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


class GeneratorAverage:
    """For a GAN method (a LightningModule with `self.generator`): an EMA of the generator's
    weights where `ema_decay` is given, updated after each generator step, and sampled from
    outside training (`generate` in eval mode: figures, FID, checkpoints' samples); training
    always runs the generator itself."""

    # set by keep_generator_average, which each such method calls: a class attribute would
    # shadow the submodule (nn.Module finds those through __getattr__, after the class)
    generator_ema: EMA | None
    # outside training, generate() samples from the average where one is kept (bench.quality
    # sets it False to measure the weights themselves)
    sample_from_average = True

    def keep_generator_average(self, decay: float | None) -> None:
        self.generator_ema = EMA(self.generator, decay) if decay else None

    def sampling_generator(self) -> nn.Module:
        return self.generator_ema if (from_average(self) and not self.training) \
            else self.generator

    def update_generator_average(self) -> None:
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)



def from_average(model) -> bool:
    """Whether `model` samples from an average of its generator's weights outside training:
    it keeps one (model.ema_decay) and is not told otherwise (`sample_from_average`)."""
    return getattr(model, "generator_ema", None) is not None and \
        getattr(model, "sample_from_average", True)
