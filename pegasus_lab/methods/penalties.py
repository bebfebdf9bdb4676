"""Gradient penalties of a critic or discriminator: WGAN-GP's (Gulrajani et al. 2017) on
images mixed from real and generated ones, and R1 (Mescheder et al. 2018) on real images."""
from __future__ import annotations

from collections.abc import Callable

import torch

from pegasus_lab.methods.reductions import sum_per_example


def mixing_weights(real: torch.Tensor) -> torch.Tensor:
    """The penalty's α ~ U[0, 1], one per image, broadcastable over the image."""
    return torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device,
                      dtype=real.dtype)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor | None = None,
                     functional: bool = False) -> torch.Tensor:
    """mean over the batch of (‖∇ₓ D(x̂)‖₂ − 1)², x̂ = real + α·(fake − real), α ~ U[0, 1] per
    image. Built with create_graph so the penalty itself can be differentiated (the double
    backward); `functional`: the input gradient by torch.func.grad instead, for a penalty
    computed inside torch.func transforms (which torch.compile can then take whole)."""
    if alpha is None:
        alpha = mixing_weights(real)
    mixed = real + alpha * (fake - real)
    if functional:
        grad = torch.func.grad(lambda x: critic(x).sum())(mixed)
    else:
        mixed = mixed.detach().requires_grad_(True)
        grad, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    slopes = torch.sqrt(sum_per_example(grad.pow(2)) + 1e-12)
    return (slopes - 1.0).pow(2).mean()


def r1_penalty(logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over the batch of ‖∇ₓ D(x)‖², x the real images, which were made to require grad
    before the discriminator saw them (`logits` = D(x)). Built with create_graph: the
    discriminator's update differentiates it again (the double backward)."""
    grad, = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return sum_per_example(grad.pow(2)).mean()
