"""Top-k training of the generator (Sinha et al. 2020, "Top-k Training of GANs: Improving GAN
Performance by Throwing Away Bad Samples"): in each generator update only the k generated
images the discriminator (or critic) scores as most real contribute to the generator's loss,

    k = ⌈max(γ^epoch, ν) · batch⌉,

all of the batch in the first epoch, then fewer as training goes on, down to the share ν.
The others' gradients are zero: the generator is not pulled towards what the discriminator
already finds worst. γ is `top_k_decay` (e.g. 0.99), ν `top_k_least` (0.5 by default).

The share is a buffer on the device, set at the start of each epoch (from the trainer's epoch:
a resumed run goes on with its schedule) and read by the step, so the step is the same device
work in every epoch (a recorded CUDA graph replays it; no host sync). It is not saved in
checkpoints: it follows from the epoch.
"""
from __future__ import annotations

import torch
from torch import nn

from pegasus_lab.errors import ConfigError


def _share(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0.0 < value <= 1.0:
        raise ConfigError(f"{key} must lie in (0, 1], got {value!r}")
    return float(value)


class TopK(nn.Module):
    def __init__(self, decay: float, least: float = 0.5) -> None:
        super().__init__()
        self.decay, self.least = _share("top_k_decay", decay), _share("top_k_least", least)
        self.register_buffer("share", torch.ones(()), persistent=False)

    def share_at(self, epoch: int) -> float:
        return max(self.decay ** epoch, self.least)

    def set_epoch(self, epoch: int) -> None:
        self.share.fill_(self.share_at(epoch))  # in place: a recorded graph reads it

    def weights(self, scores: torch.Tensor) -> torch.Tensor:
        """Per image (`scores`: one each): 1/k for the k highest scores (ties by position),
        0 for the others, in fp32; a weighted sum of per-image losses with them is the mean
        over the k."""
        k = torch.ceil(self.share * len(scores)).clamp(min=1)
        rank = torch.argsort(torch.argsort(scores.detach(), descending=True, stable=True))
        keep = (rank < k).float()
        return keep / keep.sum()


class TopKGenerator:
    """For a GAN method: `top_k_weights` of the generator's images where top_k_decay is given
    (None otherwise: every image counts, as the papers), and the share set at each epoch."""

    # set by keep_top_k, which each such method calls (a class attribute would shadow the
    # submodule)
    top_k: TopK | None

    def keep_top_k(self, decay: float | None, least: float = 0.5) -> None:
        _share("top_k_least", least)  # said while top-k is off too
        self.top_k = None if decay is None else TopK(decay, least)

    def top_k_weights(self, scores: torch.Tensor) -> torch.Tensor | None:
        return None if self.top_k is None else self.top_k.weights(scores)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        if self.top_k is not None:
            self.top_k.set_epoch(self.current_epoch)
            # the epoch's share, a curve beside the losses (a Python number: no host sync)
            self.log("train/top_k_share", self.top_k.share_at(self.current_epoch),
                     on_step=False, on_epoch=True)


def weighted(per_image: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of per-image losses, or their sum with top-k `weights`."""
    return per_image.mean() if weights is None else (per_image * weights).sum()
