"""An exponential moving average of a network's weights (for sampling from GAN generators)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from pegasus_lab.errors import ConfigError, method_name


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
        average = self.generator_ema is not None and self.sample_from_average
        return self.generator_ema if (average and not self.training) else self.generator

    def update_generator_average(self) -> None:
        if self.generator_ema is not None:
            self.generator_ema.update(self.generator)


def average_label(average: bool) -> str:
    """What a draw from a GAN's trained weights, not their average, adds to the name of its
    figure or results ('_no-average'); '' for the default draw."""
    return "" if average else "_no-average"


def use_average(model, average: bool, ckpt) -> None:
    """pegasus-sample's and pegasus-evaluate's `average`: a model that keeps an average of its
    generator's weights (model.ema_decay) samples from it, or with `average=false` from the
    trained weights; false for a model without one would change nothing, and is refused."""
    if average:
        return
    if getattr(model, "generator_ema", None) is None:
        name = method_name(model)
        raise ConfigError(f"average=false: the {name} of {ckpt} keeps no average of generator "
                          f"weights (it was trained with model.ema_decay=null): its samples "
                          f"come from its trained weights already")
    model.sample_from_average = False
