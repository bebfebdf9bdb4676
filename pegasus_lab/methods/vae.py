"""Variational autoencoder (paper-1): reconstruction + KL to N(0, I), one Adam step per batch.

loss = mean over the batch of [ Σ_pixels BCE(x̂, x) + kl_weight · KL(q(z|x) ‖ N(0, I)) ]
with the closed-form KL = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).
Networks with `num_classes` > 0 make it a conditional VAE: labels go to both networks.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from pegasus_lab.errors import ConfigError, require_weight
from pegasus_lab.methods.base import GenerativeModule, call_factory, require_factory
from pegasus_lab.methods.reductions import sum_per_example

RECONSTRUCTIONS = ("bce", "mse")
PLATEAU_MONITOR = "val/loss"  # what a ReduceLROnPlateau `model.scheduler` watches
log = logging.getLogger(__name__)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample, summed over latent dimensions."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


class VAE(GenerativeModule):
    progress_bar_keys = ("loss",)
    classes_key = "model.encoder.num_classes"  # the decoder's follows it

    @property
    def method_name(self) -> str:
        return "conditional VAE" if self.num_classes else "VAE"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None, kl_weight: float = 1.0,
                 reconstruction: str = "bce", input_range: Sequence[float] = (0.0, 1.0),
                 init_from: str | None = None) -> None:
        super().__init__(latent_dim=decoder.latent_dim, input_range=input_range)
        if reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(f"unknown reconstruction loss {reconstruction!r}; valid choices: "
                              f"{list(RECONSTRUCTIONS)}")
        if reconstruction == "bce" and tuple(self.input_range) != (0.0, 1.0):
            raise ConfigError("binary cross-entropy needs images in [0, 1]; got input_range "
                              f"{list(self.input_range)}")
        if encoder.latent_dim != decoder.latent_dim:
            raise ConfigError(f"encoder latent {encoder.latent_dim} ≠ decoder latent "
                              f"{decoder.latent_dim}")
        self.encoder, self.decoder = encoder, decoder
        self.num_classes = int(getattr(decoder, "num_classes", 0) or 0)
        self.optimizer_factory = require_factory(optimizer, "optimizer")
        self.scheduler_factory = None if scheduler is None else \
            require_factory(scheduler, "scheduler")
        self.kl_weight = require_weight("kl_weight", kl_weight)
        self.reconstruction = reconstruction
        if init_from:
            self.load_initial_weights(init_from)

    # -- the model ----------------------------------------------------------------------------
    def _cond(self, labels):
        """Networks take labels only when conditional."""
        if not self.num_classes:
            return ()
        if labels is None:
            raise ValueError("a conditional VAE needs labels")
        return (labels,)

    def encode(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x, *self._cond(labels))

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        return self.decoder(z, *self._cond(labels))

    def generate(self, z, labels=None):
        if self.num_classes and labels is None:
            labels = torch.randint(self.num_classes, (len(z),), device=z.device)
        return self.decode(z, labels)

    def reconstruct(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Decoded posterior means (no sampling noise), for figures."""
        return self.decode(self.encode(x, labels)[0], labels)

    def losses(self, x: torch.Tensor, labels=None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(x, labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        if self.reconstruction == "bce":
            per_pixel = F.binary_cross_entropy_with_logits(
                self.decoder.logits(z, *self._cond(labels)), x, reduction="none")
        else:
            per_pixel = F.mse_loss(self.decode(z, labels), x, reduction="none")
        recon = sum_per_example(per_pixel).mean()
        kl = kl_to_standard_normal(mu, logvar).mean()
        return {"loss": recon + self.kl_weight * kl, "recon": recon, "kl": kl}

    # -- Lightning ----------------------------------------------------------------------------
    def compilable_networks(self) -> list[str]:
        return ["encoder", "decoder"]

    def on_fit_start(self) -> None:
        self.check_precision()
        self.check_classes_match_data()

    def iteration(self, x, y):
        opt = self.optimizers()
        out = self.losses(x, y if self.num_classes else None)
        opt.zero_grad(set_to_none=True)
        self.run_backward(out["loss"])
        self.step_without_counting(opt)
        return {k: v.detach() for k, v in out.items()}

    def training_step(self, batch, batch_idx):
        x, y = batch
        out = self.run_iteration(x, y)
        if self.logging_due():  # clones: a replayed graph overwrites its outputs
            self.log_dict({f"train/{k}": v.clone() for k, v in out.items()}, prog_bar=False,
                          on_step=True, on_epoch=True, batch_size=len(x))
            self.log_for_progress_bar("loss", out["loss"].clone(), batch_size=len(x))
        return out["loss"].clone()

    def on_train_epoch_end(self) -> None:
        sched = self.lr_schedulers()
        if sched is not None and not isinstance(sched, ReduceLROnPlateau):
            sched.step()

    def on_validation_epoch_end(self) -> None:
        """A plateau scheduler (ReduceLROnPlateau) steps with each validation's loss (its mean
        over the processes, so that they all decide alike), before the checkpoint of that
        validation is written."""
        sched = self.lr_schedulers()
        loss = self.trainer.callback_metrics.get(PLATEAU_MONITOR)
        if isinstance(sched, ReduceLROnPlateau) and not self.trainer.sanity_checking \
                and loss is not None:
            sched.step(self.trainer.strategy.reduce(loss, reduce_op="mean"))

    def on_train_end(self) -> None:
        sched = self.lr_schedulers()  # its count of steps comes back with a resumed run
        if isinstance(sched, ReduceLROnPlateau) and sched.last_epoch == 0:
            log.warning("model.scheduler: ReduceLROnPlateau never stepped: this run computed no "
                        "%s (data.val_fraction=0, or trainer.limit_val_batches=0?)",
                        PLATEAU_MONITOR)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.losses(x, y if self.num_classes else None)
        self.log_dict({f"val/{k}": v for k, v in out.items()}, on_epoch=True,
                      batch_size=len(x), prog_bar=False)

    def configure_optimizers(self):
        opt = self.build_optimizer(self.optimizer_factory, self.parameters())
        if self.scheduler_factory is None:
            return opt
        scheduler = call_factory(self.scheduler_factory, "scheduler", optimizer=opt)
        return {"optimizer": opt, "lr_scheduler": scheduler}
