"""The LeCam regularizer (Tseng et al. 2021, "Regularizing Generative Adversarial Networks
under Limited Data") of a discriminator's logits: with α_R and α_F exponential moving averages
of its mean logit on real and on generated images,

    R = E[ReLU(D(x) − α_F)²] + E[ReLU(α_R − D(G(z)))²],

added to the discriminator's loss with a weight. It pulls the scores of real images down
towards where generated ones have been and those of generated images up towards where real
ones have been, so a discriminator on a small training set cannot drive the two apart without
bound. The averages are buffers (in checkpoints: a resumed run goes on with them), moved
towards each step's mean logits before the terms are taken, on the device (no host sync)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import ConfigError, require_weight


def require_decay(decay) -> float:
    """lecam_decay as a float in (0, 1), else a ConfigError (checked with the regularizer off
    too: a bad value is said when given, not when the weight is raised later)."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
        raise ConfigError(f"lecam_decay must lie in (0, 1), got {decay!r}")
    return float(decay)


class LeCam(nn.Module):
    def __init__(self, weight: float, decay: float = 0.99) -> None:
        super().__init__()
        self.weight = require_weight("lecam_weight", weight)
        self.decay = require_decay(decay)
        self.register_buffer("real_average", torch.zeros(()))
        self.register_buffer("fake_average", torch.zeros(()))

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The averages moved towards this step's mean logits, then the weighted terms of the
        real images' logits and of the generated images' (each is backpropagated with its
        half of a discriminator loss taken in two halves)."""
        with torch.no_grad():
            self.real_average.lerp_(real_logits.detach().float().mean(), 1.0 - self.decay)
            self.fake_average.lerp_(fake_logits.detach().float().mean(), 1.0 - self.decay)
        real = F.relu(real_logits - self.fake_average).pow(2).mean()
        fake = F.relu(self.real_average - fake_logits).pow(2).mean()
        return self.weight * real, self.weight * fake
