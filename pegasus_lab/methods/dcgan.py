"""DCGAN training (paper-3): binary cross-entropy, Adam lr 2e-4, β₁ 0.5.

Discriminator step as the seed: backward on an all-real batch, then on an all-fake batch,
gradients accumulated, one optimizer step (with lecam_weight, each half with its LeCam term,
methods/lecam.py, and with consistency weights its consistency term, methods/consistency.py;
with r1_gamma, the real half with the R1 penalty, methods/penalties.py).
Generator step: the non-saturating loss −log D(G(z)) on a fresh batch. One Lightning step =
one generator update. `adversarial_loss=hinge` or `least_squares` puts those losses in place
of the cross-entropy (methods/adversarial_loss.py); with top_k_decay, the generator's loss is
taken over its images scored most real (methods/top_k.py).
"""
from __future__ import annotations

import torch

from pegasus_lab.methods.adversarial_pair import AdversarialPair


class DCGAN(AdversarialPair):
    progress_bar_keys = ("d_loss",)

    @property
    def method_name(self) -> str:
        return "conditional DCGAN" if self.num_classes else "DCGAN"

    def _labels(self, n: int, like: torch.Tensor | None = None) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return like if like is not None else torch.randint(self.num_classes, (n,),
                                                           device=self.device)

    def generate(self, z, labels=None):
        return self.sampling_generator()(z, self._labels(len(z), labels))

    def realness(self, images, labels=None):
        return self.discriminator(images, self._labels(len(images), labels))

    def discriminator_step_losses(self, real, labels):
        """The two halves of the discriminator's loss, each backpropagated on its own, their
        logits, and the generated batch with its labels."""
        real_logit = self.discriminator(real, labels)
        loss_real = self.adversarial_loss.real(real_logit)
        fake_labels = self._labels(len(real), labels)
        with torch.no_grad():
            fake = self.generator(torch.randn(len(real), self.latent_dim, device=self.device),
                                  fake_labels)
        fake_logit = self.discriminator(fake, fake_labels)
        loss_fake = self.adversarial_loss.fake(fake_logit)
        return loss_real, loss_fake, real_logit, fake_logit, fake, fake_labels

    def generator_loss(self, n: int) -> torch.Tensor:
        """The generator's loss on a fresh batch of `n` (with top_k_decay: on its images
        scored most real)."""
        labels = self._labels(n)
        fake = self.generator(torch.randn(n, self.latent_dim, device=self.device), labels)
        logit = self.discriminator(fake, labels)
        return self.adversarial_loss.generator(logit, self.top_k_weights(logit))

    def iteration(self, real, labels=None):
        labels = labels if self.num_classes else None
        opt_g, opt_d = self.optimizers()
        opt_d.zero_grad(set_to_none=True)
        real = self.real_input(real)  # requires grad where the R1 penalty is on
        loss_real, loss_fake, real_logit, fake_logit, fake, fake_labels = \
            self.discriminator_step_losses(real, labels)
        d_loss, extra = (loss_real + loss_fake).detach(), {}  # the adversarial loss alone
        self.adapt_augmentation(real_logit, extra)
        if self.consistency:  # each half's term with its half
            cr_real = self.consistency.term(lambda x: self.discriminator(x, labels), real,
                                            real_logit, real=True)
            cr_fake = self.consistency.term(lambda x: self.discriminator(x, fake_labels), fake,
                                            fake_logit, real=False)
            extra["d_consistency"] = (cr_real + cr_fake).detach()
            loss_real, loss_fake = loss_real + cr_real, loss_fake + cr_fake
        if self.r1_gamma:  # with the real half
            r1 = self.r1_term(real_logit, real)
            extra["d_r1"], loss_real = r1.detach(), loss_real + r1
        if self.lecam is not None:  # each half's term with its half
            lecam_real, lecam_fake = self.lecam(real_logit, fake_logit)
            extra["d_lecam"] = (lecam_real + lecam_fake).detach()
            loss_real, loss_fake = loss_real + lecam_real, loss_fake + lecam_fake
        self.run_backward(loss_real)   # all-real batch
        self.run_backward(loss_fake)   # all-fake batch, gradients accumulate
        self.step_without_counting(opt_d)

        loss_g = self.generator_loss(len(real))
        opt_g.zero_grad(set_to_none=True)
        self.run_backward(loss_g, inputs=list(self.generator.parameters()))
        self.step_without_counting(opt_g)
        self.update_generator_average()
        return {"d_loss": d_loss, "g_loss": loss_g.detach(),
                "d_real": self.adversarial_loss.score(real_logit).detach(),
                "d_fake": self.adversarial_loss.score(fake_logit).detach(), **extra}

    def training_step(self, batch, batch_idx):
        real, labels = batch
        out = self.run_iteration(real, labels)  # one step = one generator update
        if not self.logging_due():
            return
        self.log_dict({f"train/{k}": v.clone() for k, v in out.items()}, on_step=True,
                      on_epoch=True, batch_size=len(real))
        self.log_for_progress_bar("d_loss", out["d_loss"].clone())
