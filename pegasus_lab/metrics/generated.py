"""Generated images as uint8 batches, from a seeded latent stream (and labels, if conditional)."""
from __future__ import annotations

from collections.abc import Iterator

import torch

from pegasus_lab.latent.truncation import draw_latents


def to_uint8(images_unit: torch.Tensor) -> torch.Tensor:
    return images_unit.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`t` on `device`; from the host to a GPU through pinned memory without waiting, since a
    copy from pageable memory holds the host until the GPU has done all it was given."""
    device = torch.device(device)
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


@torch.no_grad()
def generated_uint8(model, num: int, batch_size: int = 250, seed: int = 0,
                    labels: torch.Tensor | None = None,
                    truncation: float | None = None) -> Iterator[torch.Tensor]:
    """`num` samples of `model` (eval mode), `batch_size` at a time, as uint8 on its device;
    `truncation`: each latent coordinate within ±truncation (latent/truncation.py)."""
    g = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, num, batch_size):
            k = min(batch_size, num - start)
            # drawn on the host by a seeded generator: the same samples on any device
            z = to_device(draw_latents(k, model.latent_dim, g, truncation), model.device)
            y = None if labels is None else to_device(labels[start:start + k], model.device)
            yield to_uint8(model.to_unit(model.generate(z, y)))
    finally:
        model.train(was_training)
