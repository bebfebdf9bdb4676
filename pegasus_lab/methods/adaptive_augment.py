"""DiffAugment with an adaptive probability: each transform (model.diff_augment) applied to
each image with probability p, and p steered by the overfitting heuristic of adaptive
discriminator augmentation (ADA; Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data"):

    r = E[sign(D(x_real))],   p ← clip(p + sign(r − target) · batch / SPEED_IMAGES, 0, 1),

after each discriminator update: a discriminator that calls more of the real images real than
`target` (0.6 in that paper) is taken to be overfitting, and the images it sees get augmented
more often; one that does not, less. p starts at 0 and can go from 0 to 1 in SPEED_IMAGES real
images (500k, as there). The transforms are DiffAugment's three, not ADA's pipeline.

p is a buffer (in checkpoints: a resumed run goes on with it), moved on the device from the
step's own logits: no host sync, and a recorded CUDA graph replays the update. The sign
heuristic reads logits centred on 0 (the cross-entropy's, hinge's, least squares'), so the GANs
with a discriminator take it, not the WGANs, whose critic scores have no such centre.
"""
from __future__ import annotations

import torch
from torch import nn

from pegasus_lab.errors import ConfigError

SPEED_IMAGES = 500_000  # real images for p to go from 0 to 1


class AdaptiveProbability(nn.Module):
    def __init__(self, target: float) -> None:
        super().__init__()
        if isinstance(target, bool) or not isinstance(target, (int, float)) or \
                not 0.0 < target < 1.0:
            raise ConfigError(f"diff_augment_target must lie in (0, 1), got {target!r}")
        self.target = float(target)
        self.register_buffer("p", torch.zeros(()))

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor) -> None:
        """Move p after a discriminator update that scored real images as `real_logits`."""
        r = torch.sign(real_logits.detach().float()).mean()
        step = torch.sign(r - self.target) * (len(real_logits) / SPEED_IMAGES)
        self.p.copy_((self.p + step).clamp(0.0, 1.0))


def require_target(target, policies) -> float | None:
    """diff_augment_target as given (None: off, every transform on every image), and checked:
    it steers DiffAugment's transforms, so some must be named."""
    if target is not None and not policies:
        raise ConfigError("diff_augment_target steers the probability of DiffAugment's "
                          "transforms, and model.diff_augment names none: give some, e.g. "
                          "model.diff_augment=[color,translation,cutout]")
    return target
