"""Wasserstein GANs: WGAN-GP and AC-WGAN-GP (paper-2; Gulrajani et al. 2017, with Odena et
al.'s auxiliary classifier), and the original weight-clipped WGAN (paper-4; Arjovsky et al.
2017: gp_weight=0, clip_value=0.01, RMSprop). One training step is one generator iteration:

  n_critic times: a real batch (the next `critic_batch_size` images of the step's batch),
    a fake batch with the same labels; critic loss
      E[D(fake)] − E[D(real)] + λ·GP + aux_weight_real·CE(real) + aux_weight_fake·CE(fake),
    then, with clip_value, every critic weight clamped to [−c, c];
  then once: `generator_batch_size` samples with uniform labels; generator loss
      −E[D(fake)] + aux_weight_generator·CE(fake).
With lr_decay both learning rates decay linearly to 0 over lr_decay_steps generator iterations
(default: trainer.max_steps; set it to stop a run early on the paper's schedule), or, with
lr_decay_over="time", over the run's time budget (trainer.max_time): the paper's schedule
fitted to a run that is given minutes rather than iterations.
Without classes (num_classes = 0) the auxiliary terms vanish. With top_k_decay the
generator's loss is taken over its images the critic scores highest (methods/top_k.py).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Timer
from torch import nn

from pegasus_lab.errors import ConfigError, require_bool, require_int, require_weight
from pegasus_lab.methods.base import GenerativeModule
from pegasus_lab.methods.diff_augment import augment_inputs
from pegasus_lab.methods.ema import GeneratorAverage
from pegasus_lab.methods.penalties import gradient_penalty, mixing_weights
from pegasus_lab.methods.top_k import TopKGenerator, weighted


def _like(param: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """`grad` laid out as `param` (as autograd's accumulation does): fused and foreach
    optimizer kernels walk a parameter and its gradient as the same flat memory."""
    if grad.stride() == param.stride():
        return grad
    return torch.empty_like(param).copy_(grad)


class WGAN(TopKGenerator, GeneratorAverage, GenerativeModule):
    progress_bar_keys = ("W",)

    @property
    def method_name(self) -> str:
        loss = "WGAN-GP" if self.gp_weight else "WGAN"
        return f"AC-{loss}" if self.num_classes else loss

    def __init__(self, generator: nn.Module, critic: nn.Module, generator_optimizer: Callable,
                 critic_optimizer: Callable, n_critic: int = 5, critic_batch_size: int = 64,
                 generator_batch_size: int = 128, gp_weight: float = 10.0,
                 aux_weight_real: float = 1.0, aux_weight_fake: float = 0.0,
                 aux_weight_generator: float = 0.1, lr_decay: bool = True,
                 lr_decay_steps: int | None = None, lr_decay_over: str = "steps",
                 ema_decay: float | None = None, dequantize: bool = True,
                 clip_value: float | None = None,
                 input_range: Sequence[float] = (-1.0, 1.0), init_from: str | None = None,
                 diff_augment: Sequence[str] = (), top_k_decay: float | None = None,
                 top_k_least: float = 0.5) -> None:
        super().__init__(latent_dim=generator.latent_dim, input_range=input_range)
        if generator.num_classes != critic.num_classes:
            raise ConfigError(f"generator has {generator.num_classes} classes, critic "
                              f"{critic.num_classes}")
        require_int("n_critic", n_critic, 1)
        require_int("critic_batch_size", critic_batch_size, 1)
        require_int("generator_batch_size", generator_batch_size, 1)
        require_bool("lr_decay", lr_decay)
        require_bool("dequantize", dequantize)
        if lr_decay_steps is not None:  # 0 would quietly mean trainer.max_steps
            require_int("lr_decay_steps", lr_decay_steps, 1)
        if lr_decay_over not in ("steps", "time"):
            raise ConfigError(f"lr_decay_over must be 'steps' or 'time', got {lr_decay_over!r}")
        if lr_decay_over == "time" and lr_decay_steps is not None:
            raise ConfigError("lr_decay_steps counts generator iterations: it does not apply "
                              "with lr_decay_over=time (the decay spans trainer.max_time)")
        self.generator, self.critic = generator, critic
        self.num_classes = generator.num_classes
        # DiffAugment in front of the critic, in training (None: none); the gradient penalty's
        # interpolates go through it too, as everything the critic sees does
        self.diff_augment = augment_inputs(critic, diff_augment, self.input_range)
        self.optimizer_factories = (generator_optimizer, critic_optimizer)
        self.n_critic, self.critic_batch_size = int(n_critic), int(critic_batch_size)
        self.generator_batch_size = int(generator_batch_size)
        self.gp_weight = require_weight("gp_weight", gp_weight)
        self.aux_weight_real = require_weight("aux_weight_real", aux_weight_real)
        self.aux_weight_fake = require_weight("aux_weight_fake", aux_weight_fake)
        self.aux_weight_generator = require_weight("aux_weight_generator", aux_weight_generator)
        self.lr_decay, self.lr_decay_steps, self.lr_decay_over = lr_decay, lr_decay_steps, \
            lr_decay_over
        self.dequantize = dequantize
        self.clip_value = None if clip_value is None else require_weight("clip_value", clip_value)
        if init_from:
            self.load_initial_weights(init_from)
        # sampled from outside training, where given; made after the weights a run starts
        # from, so that its average starts at them
        self.keep_generator_average(ema_decay)
        # the generator's loss over its images scored highest only, where given (top_k.py)
        self.keep_top_k(top_k_decay, top_k_least)

    # -- the model ----------------------------------------------------------------------------
    def random_labels(self, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return torch.randint(self.num_classes, (n,), device=self.device)

    def generate(self, z, labels=None):
        if self.num_classes and labels is None:
            labels = self.random_labels(len(z))
        return self.sampling_generator()(z, labels if self.num_classes else None)

    def realness(self, images: torch.Tensor, labels=None) -> torch.Tensor:
        """The critic's Wasserstein score (higher = judged more real)."""
        return self.critic(images)[0]

    def critic_losses(self, real: torch.Tensor, labels: torch.Tensor | None,
                      fake: torch.Tensor, alpha: torch.Tensor | None = None,
                      critic: Callable | None = None) -> dict[str, torch.Tensor]:
        """The critic's losses; `alpha`: the penalty's mixing weights (drawn when None);
        `critic`: the critic as a function of its parameters inside torch.func transforms
        (`critic_gradients`), self.critic otherwise."""
        functional = critic is not None
        if critic is None:
            critic = self.critic
        n = len(real)
        scores, logits = critic(torch.cat([real, fake]))  # one batched forward
        wasserstein = scores[n:].mean() - scores[:n].mean()
        out = {"wasserstein": wasserstein}
        loss = wasserstein
        if self.gp_weight:
            out["gradient_penalty"] = gradient_penalty(lambda x: critic(x)[0], real, fake,
                                                       alpha, functional=functional)
            loss = loss + self.gp_weight * out["gradient_penalty"]
        if logits is not None:
            out["aux_real"] = F.cross_entropy(logits[:n], labels)
            out["aux_fake"] = F.cross_entropy(logits[n:], labels)
            out["aux_real_accuracy"] = (logits[:n].argmax(1) == labels).float().mean()
            loss = loss + self.aux_weight_real * out["aux_real"] \
                + self.aux_weight_fake * out["aux_fake"]
        out["critic"] = loss
        return out

    def critic_gradients(self, params: dict[str, torch.Tensor], real: torch.Tensor,
                         labels: torch.Tensor | None, fake: torch.Tensor,
                         alpha: torch.Tensor) -> tuple[dict, dict]:
        """The critic loss's gradients with respect to `params` (the critic's, by name) and
        the detached losses, as one pure function built from torch.func transforms: the
        gradient penalty's double backward included, so that torch.compile can compile the
        whole critic update's arithmetic (speed.compile_critic_step), which it cannot do
        through autograd.grad(create_graph=True)."""
        def loss(p):
            critic = lambda x: torch.func.functional_call(self.critic, p, (x,))
            out = self.critic_losses(real, labels, fake, alpha, critic=critic)
            return out["critic"], {k: v.detach() for k, v in out.items()}
        return torch.func.grad(loss, has_aux=True)(params)

    def compile_steps(self, compile: Callable) -> None:
        """speed.compile_critic_step: the critic update's gradients through `compile`d
        `critic_gradients`, as one graph. The first call compiles; should that fail (or the
        graph break), the critic updates through autograd from then on (with a warning)
        rather than through torch.func uncompiled, which runs more operators than autograd.
        A critic with buffers (batch norm's running statistics, updated in place by its
        forward) keeps the autograd path."""
        if next(self.critic.buffers(), None) is not None:
            return
        compiled = compile(self.critic_gradients, fullgraph=True)

        def first_call(*args):
            import torch._dynamo
            try:
                with torch._dynamo.config.patch(suppress_errors=False):
                    result = compiled(*args)
            except Exception as err:  # noqa: BLE001 — any failure: the autograd path
                reason = (str(err).strip().splitlines() or [""])[0][:300]
                warnings.warn(f"compiling the critic update failed ({type(err).__name__}: "
                              f"{reason}); the critic updates through autograd instead",
                              stacklevel=2)
                self._critic_gradients, self.critic_update_compiled = None, False
                return None
            self._critic_gradients, self.critic_update_compiled = compiled, True
            return result

        self._critic_gradients = first_call

    _critic_gradients: Callable | None = None
    # whether the critic update compiled (speed.compile_critic_step): None until first tried
    # (or never: a critic with buffers)
    critic_update_compiled: bool | None = None

    def critic_update(self, real, labels, fake, optimizer) -> dict[str, torch.Tensor]:
        """One critic update: its losses, gradients and optimizer step; returns the losses."""
        optimizer.zero_grad(set_to_none=True)
        # the penalty's mixing weights, drawn here for either path (the same random stream)
        alpha = mixing_weights(real) if self.gp_weight else None
        result = None
        if self._critic_gradients is not None:
            params = dict(self.critic.named_parameters())
            result = self._critic_gradients({k: p.detach() for k, p in params.items()},
                                            real, labels, fake, alpha)
        if result is None:
            out = self.critic_losses(real, labels, fake, alpha)
            # the critic's parameters only: not the penalty's interpolates, a leaf that
            # requires grad, whose gradient nobody reads (the first layer's input gradient
            # in the double backward, and its accumulation)
            self.run_backward(out["critic"], inputs=list(self.critic.parameters()))
        else:
            grads, out = result
            for name, p in params.items():
                p.grad = _like(p, grads[name])
        self.step_without_counting(optimizer)
        return out

    def generator_losses(self, n: int) -> dict[str, torch.Tensor]:
        labels = self.random_labels(n)
        z = torch.randn(n, self.latent_dim, device=self.device)
        scores, logits = self.critic(self.generator(z, labels))
        top = self.top_k_weights(scores)  # None: every image counts, as the paper
        out = {"generator_wasserstein": -scores.mean() if top is None else -weighted(scores, top)}
        loss = out["generator_wasserstein"]
        if logits is not None:
            out["generator_aux"] = F.cross_entropy(logits, labels) if top is None else \
                weighted(F.cross_entropy(logits, labels, reduction="none"), top)
            loss = loss + self.aux_weight_generator * out["generator_aux"]
        out["generator"] = loss
        return out

    def compilable_networks(self) -> list[str]:
        # the critic's gradient penalty is differentiated twice, which compiled graphs do not
        # support; the generator's output reaches the penalty only detached
        return ["generator"]

    # -- Lightning ----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self.check_precision()
        self.check_classes_match_data()
        dm = self.trainer.datamodule
        wanted = self.n_critic * self.critic_batch_size
        batch = getattr(dm, "batch_size", wanted)
        if batch not in (wanted, self.critic_batch_size):
            raise ConfigError(f"each step takes {self.n_critic} critic batches of "
                              f"{self.critic_batch_size}: set data.batch_size={wanted} (all from "
                              f"one data batch) or {self.critic_batch_size} (the rest drawn from "
                              f"the training set inside the step); got {batch}")

    def _critic_batches(self, images, labels):
        """The step's n_critic real batches: slices of one big batch, or the step's batch
        followed by batches drawn from the training set on the spot."""
        b = self.critic_batch_size
        if len(images) >= self.n_critic * b:
            return [(images[i * b:(i + 1) * b], labels[i * b:(i + 1) * b])
                    for i in range(self.n_critic)]
        return [(images, labels)] + [
            self.in_network_layout(self.trainer.datamodule.sample_train(b))
            for _ in range(self.n_critic - 1)]

    def iteration(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """One generator iteration: n_critic critic updates, one generator update, the EMA;
        returns the detached losses. Pure device work (no host syncs), so that it can be
        recorded as one CUDA graph (speed.cuda_graphs)."""
        opt_g, opt_c = self.optimizers()
        for real, y in self._critic_batches(images, labels):
            if self.dequantize:  # uniform noise of one 8-bit level, as the reference code
                level = (self.input_range[1] - self.input_range[0]) / 256
                # drawn in (N, C, H, W) order whatever the batch's memory layout (rand_like
                # would follow NHWC strides): the same noise with speed.channels_last or not
                noise = torch.rand(real.shape, device=real.device, dtype=real.dtype)
                real = real + noise * level  # real first: the sum keeps its layout
            with torch.no_grad():
                fake = self.generator(torch.randn(len(real), self.latent_dim, device=self.device),
                                      y if self.num_classes else None)
            critic_out = self.critic_update(real, y if self.num_classes else None, fake, opt_c)
            if self.clip_value:
                with torch.no_grad():
                    torch._foreach_clamp_min_(list(self.critic.parameters()), -self.clip_value)
                    torch._foreach_clamp_max_(list(self.critic.parameters()), self.clip_value)
        gen_out = self.generator_losses(self.generator_batch_size)
        opt_g.zero_grad(set_to_none=True)
        self.run_backward(gen_out["generator"], inputs=list(self.generator.parameters()))
        self.step_without_counting(opt_g)  # counted by the caller: one step per iteration
        self.update_generator_average()
        return {k: v.detach() for k, v in {**critic_out, **gen_out}.items()}

    def graphable(self, images, labels) -> bool:
        # critic batches drawn from the training set inside the step are host work
        return len(images) >= self.n_critic * self.critic_batch_size

    def training_step(self, batch, batch_idx):
        images, labels = batch
        out = self.run_iteration(images, labels)  # one step = one generator iteration
        for sched in self.lr_schedulers() or []:
            sched.step()
        if self.logging_due():
            self.log_dict({f"train/{k}": v.clone() for k, v in out.items()}, on_step=True,
                          on_epoch=False, batch_size=self.critic_batch_size)
            self.log_for_progress_bar("W", -out["wasserstein"].clone())

    def lr_schedulers(self):
        scheds = super().lr_schedulers()
        if scheds is None:
            return []
        return scheds if isinstance(scheds, list) else [scheds]

    def configure_optimizers(self):
        opts = [self.build_optimizer(f, net.parameters())
                for f, net in zip(self.optimizer_factories, (self.generator, self.critic))]
        if not self.lr_decay:
            return opts
        if self.lr_decay_over == "time":
            decay = self._decay_over_time_budget()
        else:
            total = self.lr_decay_steps or self.trainer.max_steps
            if total is None or total <= 0:
                raise ConfigError("linear learning-rate decay needs trainer.max_steps (generator "
                                  "iterations) or model.lr_decay_steps; or set "
                                  "model.lr_decay=false")
            decay = lambda step: max(0.0, 1.0 - step / total)
        scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in opts]
        return opts, [{"scheduler": s, "interval": "step"} for s in scheds]

    def _decay_over_time_budget(self) -> Callable[[int], float]:
        """The linear decay's factor as the share of the training time budget still left,
        read from the trainer's Timer (trainer.max_time; its elapsed time is checkpointed, so a
        resumed run goes on where it stopped)."""
        timers = [c for c in self.trainer.callbacks
                  if isinstance(c, Timer) and c.time_remaining() is not None]
        if not timers:
            raise ConfigError("model.lr_decay_over=time decays the learning rates over the "
                              "run's time budget: set trainer.max_time (DD:HH:MM:SS), or use "
                              "model.lr_decay_over=steps")
        if self.trainer.world_size > 1:
            raise ConfigError("model.lr_decay_over=time runs in one process only: each "
                              "process would read its own clock and step its weights with "
                              "its own rate; use model.lr_decay_over=steps with several")
        timer = timers[0]

        def decay(step: int) -> float:
            left = timer.time_remaining()
            budget = timer.time_elapsed() + left
            return min(1.0, max(0.0, left / budget)) if budget > 0 else 0.0
        return decay
