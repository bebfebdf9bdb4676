"""The adversarial loss of a GAN with a discriminator (DCGAN, paper-4's GAN and AC-GAN), by
name (`model.adversarial_loss`), in terms of the discriminator's raw score l = D(x):

  bce            binary cross-entropy on the logit l (Goodfellow et al. 2014), as the papers:
                 D: −log σ(l_real) − log(1 − σ(l_fake));  G: −log σ(l_fake), the
                 non-saturating form;
  hinge          (Lim & Ye 2017; Miyato et al. 2018's spectrally normalised GANs):
                 D: max(0, 1 − l_real) + max(0, 1 + l_fake);  G: −l_fake;
  least_squares  LSGAN (Mao et al. 2017) with the 0-1 coding (a = 0, b = c = 1):
                 D: ½(l_real − 1)² + ½ l_fake²;  G: ½(l_fake − 1)².

Each term is a mean over the batch. The discriminator's two terms come apart, for a
discriminator step taken in two halves (DCGAN's). `score` is the discriminator's output as its
loss reads it, logged as d_real / d_fake: the probability σ(l) for bce, l itself for the
other two (whose targets are ±1 margins, or 1 and 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from pegasus_lab.errors import ConfigError
from pegasus_lab.methods.top_k import weighted

LOSSES = ("bce", "hinge", "least_squares")


class AdversarialLoss:
    def __init__(self, name: str = "bce") -> None:
        if not isinstance(name, str) or name not in LOSSES:
            raise ConfigError(f"adversarial_loss must be one of {', '.join(LOSSES)}, "
                              f"got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"AdversarialLoss({self.name!r})"

    def real(self, logit: torch.Tensor) -> torch.Tensor:
        """The discriminator's term for images it should score as real."""
        if self.name == "bce":
            return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        if self.name == "hinge":
            return F.relu(1.0 - logit).mean()
        return 0.5 * (logit - 1.0).pow(2).mean()

    def fake(self, logit: torch.Tensor) -> torch.Tensor:
        """The discriminator's term for generated images."""
        if self.name == "bce":
            return F.binary_cross_entropy_with_logits(logit, torch.zeros_like(logit))
        if self.name == "hinge":
            return F.relu(1.0 + logit).mean()
        return 0.5 * logit.pow(2).mean()

    def generator(self, logit: torch.Tensor, weights: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """The generator's loss on the discriminator's scores of its images; with top-k
        `weights` (methods/top_k.py), their weighted sum of its per-image terms."""
        if weights is not None:
            return weighted(self._generator_per_image(logit), weights)
        if self.name == "hinge":
            return -logit.mean()
        return self.real(logit)  # bce's non-saturating form; LSGAN's c = b = 1

    def _generator_per_image(self, logit: torch.Tensor) -> torch.Tensor:
        if self.name == "bce":
            return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit),
                                                      reduction="none")
        if self.name == "hinge":
            return -logit
        return 0.5 * (logit - 1.0).pow(2)

    def score(self, logit: torch.Tensor) -> torch.Tensor:
        """The mean output as the loss reads it (logged as d_real / d_fake)."""
        return (torch.sigmoid(logit) if self.name == "bce" else logit).mean()
