"""Paper-4's VAE networks (and the conditional VAE's): the encoder has four conv layers with
ReLU, the decoder three transposed convs and one conv. Latent 2 for MNIST (a map you can look
at), 300 otherwise. With num_classes > 0 a one-hot label is appended to the encoder's input
(as constant planes) and to the decoder's latent. The image side must be a multiple of 4."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_sizes


def _quarter(image_size: int) -> int:
    if image_size % 4 or image_size < 4:
        raise ConfigError(f"the study VAE halves the image twice: its side must be a multiple "
                          f"of 4, got {image_size}")
    return image_size // 4


def label_planes(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    planes = F.one_hot(labels, num_classes).to(x)[:, :, None, None]
    return torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], dim=1)


class StudyEncoder(nn.Module):
    def __init__(self, in_channels: int = 1, image_size: int = 28, latent_dim: int = 2,
                 width: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        check_sizes("StudyEncoder", in_channels=in_channels, latent_dim=latent_dim,
                    width=width, num_classes=num_classes)
        side = _quarter(image_size)
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels + num_classes, width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(), nn.Flatten())
        flat = 2 * width * side * side
        self.mu, self.logvar = nn.Linear(flat, latent_dim), nn.Linear(flat, latent_dim)

    def forward(self, x, labels=None):
        if self.num_classes:
            x = label_planes(x, labels, self.num_classes)
        h = self.convs(x)
        return self.mu(h), self.logvar(h)


class StudyDecoder(nn.Module):
    def __init__(self, out_channels: int = 1, image_size: int = 28, latent_dim: int = 2,
                 width: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        check_sizes("StudyDecoder", out_channels=out_channels, latent_dim=latent_dim,
                    width=width, num_classes=num_classes)
        side = _quarter(image_size)
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.start = (2 * width, side, side)
        self.fc = nn.Sequential(nn.Linear(latent_dim + num_classes, 2 * width * side * side),
                                nn.ReLU())
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, out_channels, 3, 1, 1))

    def logits(self, z, labels=None):
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z)], dim=1)
        return self.deconvs(self.fc(z).view(-1, *self.start))

    def forward(self, z, labels=None):
        return torch.sigmoid(self.logits(z, labels))
