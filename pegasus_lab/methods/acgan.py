"""Paper-4's GAN and AC-GAN (Odena et al. 2017), one module: a binary source loss, and with
classes an auxiliary class loss on both networks.

Per step (as the seed): the discriminator on a real batch and a generated batch,
    L_D = BCE(D(x), 1) + BCE(D(G(z, c)), 0) [+ CE(class(x), y) + CE(class(G(z, c)), c)],
then the generator on a fresh generated batch `generator_batch_factor` (2) times as large,
    L_G = BCE(D(G(z, c)), 1) [+ CE(class(G(z, c)), c)]
— the non-saturating form of the generator's share of L_source, plus L_class. With
lecam_weight, L_D adds the LeCam regularizer of the source logits (methods/lecam.py), with
r1_gamma the R1 penalty of the real images' source logits (methods/penalties.py), with
consistency weights their consistency regularization (methods/consistency.py);
`adversarial_loss=hinge` or `least_squares` puts those losses in place of the source BCE
(methods/adversarial_loss.py); with top_k_decay, L_G is taken over the generated images scored
most real (methods/top_k.py).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import require_int, require_weight
from pegasus_lab.methods.adversarial_pair import AdversarialPair
from pegasus_lab.methods.top_k import weighted


class ACGAN(AdversarialPair):
    progress_bar_keys = ("d_loss",)

    @property
    def method_name(self) -> str:
        return "AC-GAN" if self.num_classes else "GAN"

    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 generator_optimizer: Callable, discriminator_optimizer: Callable,
                 generator_batch_factor: int = 2, class_weight: float = 1.0,
                 input_range: Sequence[float] = (-1.0, 1.0), init_from: str | None = None,
                 diff_augment: Sequence[str] = (), ema_decay: float | None = None,
                 lecam_weight: float = 0.0, lecam_decay: float = 0.99,
                 adversarial_loss: str = "bce", r1_gamma: float = 0.0,
                 top_k_decay: float | None = None, top_k_least: float = 0.5,
                 consistency_real: float = 0.0, consistency_fake: float = 0.0,
                 diff_augment_target: float | None = None) -> None:
        super().__init__(generator, discriminator, generator_optimizer,
                         discriminator_optimizer, input_range, init_from,
                         diff_augment=diff_augment, ema_decay=ema_decay,
                         lecam_weight=lecam_weight, lecam_decay=lecam_decay,
                         adversarial_loss=adversarial_loss, r1_gamma=r1_gamma,
                         top_k_decay=top_k_decay, top_k_least=top_k_least,
                         consistency_real=consistency_real, consistency_fake=consistency_fake,
                         diff_augment_target=diff_augment_target)
        require_int("generator_batch_factor", generator_batch_factor, 1)
        self.generator_batch_factor = int(generator_batch_factor)
        self.class_weight = require_weight("class_weight", class_weight)

    def _labels(self, n: int) -> torch.Tensor | None:
        return torch.randint(self.num_classes, (n,), device=self.device) \
            if self.num_classes else None

    def generate(self, z, labels=None):
        if self.num_classes and labels is None:
            labels = self._labels(len(z))
        return self.sampling_generator()(z, labels)

    def realness(self, images, labels=None):
        return self.discriminator(images)[0]

    def _fake(self, n: int):
        labels = self._labels(n)
        return self.generator(torch.randn(n, self.latent_dim, device=self.device), labels), labels

    def _loss(self, images, role: str, labels):
        """The discriminator's source loss of `images` as `role` (real, fake) says, their class
        loss, and their source logits."""
        source, classes = self.discriminator(images)
        loss = getattr(self.adversarial_loss, role)(source)
        class_loss = F.cross_entropy(classes, labels) if classes is not None else None
        return loss, class_loss, source

    def discriminator_losses(self, real, labels):
        with torch.no_grad():
            fake, fake_labels = self._fake(len(real))
        real = self.real_input(real)  # requires grad where the R1 penalty is on
        real_src, real_cls, real_logit = self._loss(real, "real", labels)
        fake_src, fake_cls, fake_logit = self._loss(fake, "fake", fake_labels)
        out = {"d_source": real_src + fake_src,
               "d_real": self.adversarial_loss.score(real_logit),
               "d_fake": self.adversarial_loss.score(fake_logit)}
        out["discriminator"] = out["d_source"]
        self.adapt_augmentation(real_logit, out)
        if self.lecam is not None:
            lecam_real, lecam_fake = self.lecam(real_logit, fake_logit)
            out["d_lecam"] = lecam_real + lecam_fake
            out["discriminator"] = out["discriminator"] + out["d_lecam"]
        if self.r1_gamma:  # of the source logits
            out["d_r1"] = self.r1_term(real_logit, real)
            out["discriminator"] = out["discriminator"] + out["d_r1"]
        if self.consistency:  # of the source logits
            def source(images):
                return self.discriminator(images)[0]
            out["d_consistency"] = \
                self.consistency.term(source, real, real_logit, real=True) + \
                self.consistency.term(source, fake, fake_logit, real=False)
            out["discriminator"] = out["discriminator"] + out["d_consistency"]
        if real_cls is not None:
            out["d_class"] = real_cls + fake_cls
            out["discriminator"] = out["discriminator"] + self.class_weight * out["d_class"]
        return out

    def generator_losses(self, n: int):
        fake, labels = self._fake(n)
        source, classes = self.discriminator(fake)
        top = self.top_k_weights(source)  # None: every image counts
        src = self.adversarial_loss.generator(source, top)
        out = {"g_source": src, "generator": src}
        if classes is not None:
            cls = F.cross_entropy(classes, labels) if top is None else \
                weighted(F.cross_entropy(classes, labels, reduction="none"), top)
            out["g_class"] = cls
            out["generator"] = src + self.class_weight * cls
        return out

    def iteration(self, real, labels):
        opt_g, opt_d = self.optimizers()
        d_out = self.discriminator_losses(real, labels if self.num_classes else None)
        opt_d.zero_grad(set_to_none=True)
        self.run_backward(d_out["discriminator"])
        self.step_without_counting(opt_d)
        g_out = self.generator_losses(self.generator_batch_factor * len(real))
        opt_g.zero_grad(set_to_none=True)
        self.run_backward(g_out["generator"], inputs=list(self.generator.parameters()))
        self.step_without_counting(opt_g)
        self.update_generator_average()
        return {k: v.detach() for k, v in {**d_out, **g_out}.items()}

    def training_step(self, batch, batch_idx):
        real, labels = batch
        out = self.run_iteration(real, labels)  # one step = one generator update
        if self.logging_due():  # clones: a replayed graph overwrites its outputs
            self.log_dict({f"train/{k}": v.clone() for k, v in out.items()},
                          on_step=True, on_epoch=True, batch_size=len(real))
            self.log_for_progress_bar("d_loss", out["discriminator"].clone())
