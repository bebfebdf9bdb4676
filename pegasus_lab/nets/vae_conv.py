"""Paper-1's convolutional VAE networks.

Encoder: four stride-2 4×4 convs (batch norm, LeakyReLU after each), then four fully connected
layers — two hidden, one to μ and one to log σ². Decoder: four fully connected layers, then four
stride-2 transposed convs (batch norm, LeakyReLU between) ending in a sigmoid. Four halvings, so
the image side must be a multiple of 16.
"""
from __future__ import annotations

import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_sizes

DEPTH = 4  # stride-2 stages


def _feature_side(image_size: int) -> int:
    if image_size % 2**DEPTH or image_size < 2**DEPTH:
        raise ConfigError(f"the conv VAE needs an image size that is a multiple of {2**DEPTH}, "
                          f"got {image_size}")
    return image_size // 2**DEPTH


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int = 3, image_size: int = 32, latent_dim: int = 128,
                 width: int = 64, hidden_dim: int = 512, negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("ConvEncoder", in_channels=in_channels, latent_dim=latent_dim,
                    width=width, hidden_dim=hidden_dim)
        side = _feature_side(image_size)
        chans = [in_channels] + [width * 2**i for i in range(DEPTH)]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(negative_slope)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.hidden = nn.Sequential(
            nn.Linear(chans[-1] * side * side, hidden_dim), nn.LeakyReLU(negative_slope),
            nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(negative_slope))
        self.mu = nn.Linear(hidden_dim, latent_dim)
        self.logvar = nn.Linear(hidden_dim, latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.hidden(self.features(x))
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    def __init__(self, out_channels: int = 3, image_size: int = 32, latent_dim: int = 128,
                 width: int = 64, hidden_dim: int = 512, negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("ConvDecoder", out_channels=out_channels, latent_dim=latent_dim,
                    width=width, hidden_dim=hidden_dim)
        side = _feature_side(image_size)
        top = width * 2**(DEPTH - 1)
        self.start_shape = (top, side, side)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.LeakyReLU(negative_slope),
            nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(negative_slope),
            nn.Linear(hidden_dim, hidden_dim), nn.LeakyReLU(negative_slope),
            nn.Linear(hidden_dim, top * side * side), nn.LeakyReLU(negative_slope))
        chans = [width * 2**i for i in reversed(range(DEPTH))] + [out_channels]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            last = i == DEPTH - 1
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(c_out), nn.LeakyReLU(negative_slope)]
        self.deconv = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output: the VAE's BCE is computed on it for numerical stability."""
        return self.deconv(self.fc(z).view(-1, *self.start_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))
