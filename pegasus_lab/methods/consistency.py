"""Balanced consistency regularization (bCR; Zhao et al. 2021, "Improved Consistency
Regularization for Generative Adversarial Networks"): the discriminator should score an image
and a slightly moved copy of it alike,

    λ_real·E[(D(x) − D(T(x)))²] + λ_fake·E[(D(G(z)) − D(T(G(z))))²],

added to its loss, with T a random horizontal flip and a shift of up to ⅛ of the side (the
uncovered part filled with the middle of the pixel range), drawn per image. Consistency on real
images alone (λ_fake = 0) is Zhang et al. 2020's CR. Both scores are differentiated, and the
generated images are the discriminator step's own (detached), so the generator is not changed
by it. Everything is tensor work on the images' device: it runs in a recorded CUDA graph.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from pegasus_lab.errors import require_weight
from pegasus_lab.methods.diff_augment import translation


def flip_and_shift(x: torch.Tensor, fill: float) -> torch.Tensor:
    """Each image mirrored left-right with probability ½, then shifted (diff_augment's
    translation); the layout it came in kept (channels_last)."""
    nhwc = x.dim() == 4 and not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last)
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    out = translation(torch.where(flip, x.flip(3), x), fill)
    return out.contiguous(memory_format=torch.channels_last) if nhwc else out


class Consistency:
    def __init__(self, real_weight: float, fake_weight: float,
                 input_range: Sequence[float]) -> None:
        self.real_weight = require_weight("consistency_real", real_weight)
        self.fake_weight = require_weight("consistency_fake", fake_weight)
        self.fill = (float(input_range[0]) + float(input_range[1])) / 2

    def __bool__(self) -> bool:
        return bool(self.real_weight or self.fake_weight)

    def term(self, score: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
             scores: torch.Tensor, real: bool) -> torch.Tensor:
        """The weighted term of `images` (real ones, or generated ones), whose discriminator
        scores are `scores`, with `score` the discriminator's scoring of a batch; 0 where its
        weight is 0 (no second scoring)."""
        weight = self.real_weight if real else self.fake_weight
        if not weight:
            return scores.new_zeros(())
        moved = score(flip_and_shift(images.detach(), self.fill))
        return weight * (scores - moved).pow(2).mean()
