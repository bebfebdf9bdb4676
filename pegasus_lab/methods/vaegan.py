"""VAE-GAN (paper-0; Larsen et al. 2016): a VAE whose reconstruction error is measured on a
discriminator's hidden features, and whose decoder is also a GAN generator.

Per batch x, with x̃ = Dec(z), z ~ q(z|x), and x_p = Dec(z_p), z_p ~ N(0, I):
  L_prior = KL(q(z|x) ‖ N(0, I))                          (summed over z, mean over the batch)
  L_like  = ½ ‖Dis_l(x) − Dis_l(x̃)‖²                      (Gaussian on layer-l features)
  L_GAN   = log D(x) + log(1 − D(x̃)) + log(1 − D(x_p))    (the discriminator maximises it)
  Enc minimises L_prior + L_like; Dis minimises −L_GAN (cross-entropy on real / x̃ / x_p);
  Dec minimises γ·L_like plus its adversarial part on x̃ and x_p.
Larsen's Algorithm 1 writes the decoder's objective as γ·L_like − L_GAN with the same L_GAN
the discriminator ascends, which would make the two cooperate; we take the adversarial reading:
the decoder *lowers* the discriminator's log-likelihood on x̃ and x_p — saturating,
log(1 − D(·)), or non-saturating, −log D(·) (the default, as in DCGAN practice).
All gradients come from one forward pass; each network's gradient is taken from its own loss
only (backward with `inputs=` its own parameters), then the three optimizers step.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import ConfigError, require_weight
from pegasus_lab.methods.base import GenerativeModule
from pegasus_lab.methods.reductions import sum_per_example
from pegasus_lab.methods.vae import kl_to_standard_normal

GENERATOR_LOSSES = ("non_saturating", "saturating")


class VAEGAN(GenerativeModule):
    progress_bar_keys = ("d_loss",)

    def __init__(self, encoder: nn.Module, decoder: nn.Module, discriminator: nn.Module,
                 encoder_optimizer: Callable, decoder_optimizer: Callable,
                 discriminator_optimizer: Callable, gamma: float = 1e-3,
                 kl_weight: float = 1.0, generator_loss: str = "non_saturating",
                 input_range: Sequence[float] = (-1.0, 1.0), init_from: str | None = None) -> None:
        super().__init__(latent_dim=decoder.latent_dim, input_range=input_range)
        if generator_loss not in GENERATOR_LOSSES:
            raise ConfigError(f"unknown generator_loss {generator_loss!r}; valid choices: "
                              f"{list(GENERATOR_LOSSES)}")
        if encoder.latent_dim != decoder.latent_dim:
            raise ConfigError(f"encoder latent {encoder.latent_dim} ≠ decoder latent "
                              f"{decoder.latent_dim}")
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.optimizer_factories = (encoder_optimizer, decoder_optimizer, discriminator_optimizer)
        self.gamma = require_weight("gamma", gamma)
        self.kl_weight = require_weight("kl_weight", kl_weight)
        self.generator_loss = generator_loss
        if init_from:
            self.load_initial_weights(init_from)

    # -- the model ----------------------------------------------------------------------------
    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def generate(self, z, labels=None):
        return self.decode(z)

    def reconstruct(self, x):
        return self.decode(self.encode(x)[0])

    def realness(self, images, labels=None):
        """The discriminator's logit (higher = judged more real): `mode=critic_picks`."""
        return self.discriminator(images)[0]

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        x_rec = self.decoder(z)
        x_prior = self.decoder(torch.randn_like(mu))
        logit_real, feat_real = self.discriminator(x)
        logit_rec, feat_rec = self.discriminator(x_rec)
        logit_prior, _ = self.discriminator(x_prior)

        prior = kl_to_standard_normal(mu, logvar).mean()
        like = 0.5 * sum_per_example((feat_real - feat_rec).pow(2)).mean()
        ones, zeros = torch.ones_like(logit_real), torch.zeros_like(logit_real)
        bce = F.binary_cross_entropy_with_logits
        fake_rec, fake_prior = bce(logit_rec, zeros), bce(logit_prior, zeros)
        discriminator = bce(logit_real, ones) + fake_rec + fake_prior  # −L_GAN
        if self.generator_loss == "non_saturating":
            adversarial = bce(logit_rec, ones) + bce(logit_prior, ones)
        else:  # minimise log(1 − D(·)), i.e. maximise the discriminator's loss on fakes
            adversarial = -(fake_rec + fake_prior)
        return {
            "encoder": self.kl_weight * prior + like,
            "decoder": self.gamma * like + adversarial,
            "discriminator": discriminator,
            "prior": prior, "like": like, "adversarial": adversarial,
            "d_real": torch.sigmoid(logit_real).mean(), "d_rec": torch.sigmoid(logit_rec).mean(),
            "d_prior": torch.sigmoid(logit_prior).mean(),
            "x_prior": x_prior,
        }

    def backward_each(self, losses: dict[str, torch.Tensor]) -> None:
        """Each network's gradient from its own loss alone: no gradient leaks between them."""
        nets = (("encoder", self.encoder), ("decoder", self.decoder),
                ("discriminator", self.discriminator))
        for i, (name, net) in enumerate(nets):
            self.run_backward(losses[name], inputs=list(net.parameters()),
                          retain_graph=i < len(nets) - 1)

    # -- Lightning ----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.check_precision()

    def compilable_networks(self) -> list[str]:
        return ["encoder", "decoder", "discriminator"]

    retains_graph = True  # three backward passes through one forward (backward_each)

    def iteration(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        optimizers = self.optimizers()
        out = self.losses(x)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        self.backward_each(out)
        for opt in optimizers:
            self.step_without_counting(opt)
        return {k: v.detach() for k, v in out.items()}

    def training_step(self, batch, batch_idx):
        x, _ = batch
        out = self.run_iteration(x)  # three updates, one counted step
        if self.logging_due():
            # clones: a replayed graph overwrites its outputs in the next step
            self.log_dict({f"train/{k}": v.clone() for k, v in out.items() if k != "x_prior"},
                          on_step=True, on_epoch=True, batch_size=len(x))
            self.log_for_progress_bar("d_loss", out["discriminator"].clone(),
                                      batch_size=len(x))

    def validation_step(self, batch, batch_idx):
        x, _ = batch
        out = self.losses(x)
        recon_mse = F.mse_loss(self.reconstruct(x), x)
        self.log_dict({"val/loss": out["encoder"], "val/like": out["like"],
                       "val/prior": out["prior"], "val/recon_mse": recon_mse,
                       "val/discriminator": out["discriminator"]},
                      on_epoch=True, batch_size=len(x))

    def configure_optimizers(self):
        nets = (self.encoder, self.decoder, self.discriminator)
        return [self.build_optimizer(f, n.parameters())
                for f, n in zip(self.optimizer_factories, nets)]
