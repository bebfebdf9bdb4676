"""What DCGAN and (AC-)GAN share: a generator and a discriminator with matching class counts,
one optimizer each, and the checks before fitting. Each keeps its own training step."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from pegasus_lab.errors import ConfigError, require_weight
from pegasus_lab.methods.adaptive_augment import AdaptiveProbability, require_target
from pegasus_lab.methods.adversarial_loss import AdversarialLoss
from pegasus_lab.methods.base import GenerativeModule
from pegasus_lab.methods.consistency import Consistency
from pegasus_lab.methods.diff_augment import augment_inputs
from pegasus_lab.methods.ema import GeneratorAverage
from pegasus_lab.methods.lecam import LeCam, require_decay
from pegasus_lab.methods.penalties import r1_penalty
from pegasus_lab.methods.top_k import TopKGenerator


class AdversarialPair(TopKGenerator, GeneratorAverage, GenerativeModule):
    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 generator_optimizer: Callable, discriminator_optimizer: Callable,
                 input_range: Sequence[float] = (-1.0, 1.0), init_from: str | None = None,
                 diff_augment: Sequence[str] = (), ema_decay: float | None = None,
                 lecam_weight: float = 0.0, lecam_decay: float = 0.99,
                 adversarial_loss: str = "bce", r1_gamma: float = 0.0,
                 top_k_decay: float | None = None, top_k_least: float = 0.5,
                 consistency_real: float = 0.0, consistency_fake: float = 0.0,
                 diff_augment_target: float | None = None) -> None:
        super().__init__(latent_dim=generator.latent_dim, input_range=input_range)
        # bce (the papers'), hinge or least_squares: methods/adversarial_loss.py
        self.adversarial_loss = AdversarialLoss(adversarial_loss)
        if generator.num_classes != discriminator.num_classes:
            raise ConfigError(f"generator has {generator.num_classes} classes, discriminator "
                              f"{discriminator.num_classes}")
        self.generator, self.discriminator = generator, discriminator
        self.num_classes = generator.num_classes
        self.optimizer_factories = (generator_optimizer, discriminator_optimizer)
        # DiffAugment in front of the discriminator, in training (None: none); with a target,
        # each transform to each image with a probability steered by ADA's heuristic
        target = require_target(diff_augment_target, diff_augment)
        self.augment_probability = None if target is None else AdaptiveProbability(target)
        self.diff_augment = augment_inputs(
            discriminator, diff_augment, self.input_range,
            probability=None if target is None else lambda: self.augment_probability.p)
        if init_from:
            self.load_initial_weights(init_from)
        # sampled from outside training, where given; made after the weights a run starts
        # from, so that its average starts at them
        self.keep_generator_average(ema_decay)
        # the LeCam regularizer of the discriminator's logits, where weighted (None: none);
        # its decay checked while it is off too
        require_decay(lecam_decay)
        self.lecam = LeCam(lecam_weight, lecam_decay) \
            if require_weight("lecam_weight", lecam_weight) else None
        # γ of the R1 penalty (γ/2)·E‖∇ₓ D(x)‖² on real images; 0: none
        self.r1_gamma = require_weight("r1_gamma", r1_gamma)
        # the generator's loss over its images scored highest only, where given (top_k.py)
        self.keep_top_k(top_k_decay, top_k_least)
        # (balanced) consistency regularization of the discriminator, where weighted
        self.consistency = Consistency(consistency_real, consistency_fake, self.input_range)

    def on_fit_start(self) -> None:
        self.check_precision()
        self.check_classes_match_data()

    def compilable_networks(self) -> list[str]:
        # the R1 penalty is differentiated twice, through the discriminator
        return ["generator"] if self.r1_gamma else ["generator", "discriminator"]

    def adapt_augmentation(self, real_logits, out: dict) -> None:
        """With diff_augment_target: DiffAugment's probability moved by the discriminator's
        logits of the real images, and logged (as d_augment_p) in `out`."""
        if self.augment_probability is not None:
            self.augment_probability.observe(real_logits)
            out["d_augment_p"] = self.augment_probability.p.clone()

    def real_input(self, real):
        """The real images as the discriminator's update takes them: where the R1 penalty is
        on, a leaf that requires grad (its gradient is the penalty's)."""
        return real.detach().requires_grad_(True) if self.r1_gamma else real

    def r1_term(self, real_logits, real):
        """The weighted R1 penalty of `real` (from `real_input`) and its logits."""
        return 0.5 * self.r1_gamma * r1_penalty(real_logits, real)

    def configure_optimizers(self):
        return [self.build_optimizer(f, net.parameters()) for f, net in
                zip(self.optimizer_factories, (self.generator, self.discriminator))]
