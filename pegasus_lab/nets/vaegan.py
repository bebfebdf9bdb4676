"""Paper-0's three networks (Larsen et al. 2016, sized for 32² CIFAR-10).

Encoder: three 5×5 stride-2 convs (batch norm, LeakyReLU), one linear layer → (μ, log σ²).
Decoder: the reverse — one linear layer, three stride-2 transposed convs — with a Tanh output.
Discriminator: four convs (the first stride 1), two linear layers, a sigmoid; it also returns
the activations after conv layer `feature_layer`, on which the reconstruction loss is measured.
Three halvings: the image side must be a multiple of 8.
"""
from __future__ import annotations

import torch
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_sizes

HALVINGS = 3


def _side(image_size: int) -> int:
    if image_size % 2**HALVINGS or image_size < 2**HALVINGS:
        raise ConfigError(f"the VAE-GAN networks need an image size that is a multiple of "
                          f"{2**HALVINGS}, got {image_size}")
    return image_size // 2**HALVINGS


def _down(c_in: int, c_out: int, stride: int, slope: float) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, stride, 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.LeakyReLU(slope))


class VaeGanEncoder(nn.Module):
    def __init__(self, in_channels: int = 3, image_size: int = 32, latent_dim: int = 128,
                 width: int = 64, negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("VaeGanEncoder", in_channels=in_channels, latent_dim=latent_dim, width=width)
        side = _side(image_size)
        chans = [in_channels, width, 2 * width, 4 * width]
        self.convs = nn.Sequential(*[_down(a, b, 2, negative_slope)
                                     for a, b in zip(chans[:-1], chans[1:])], nn.Flatten())
        self.linear = nn.Linear(chans[-1] * side * side, 2 * latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.linear(self.convs(x)).chunk(2, dim=1)
        return mu, logvar


class VaeGanDecoder(nn.Module):
    def __init__(self, out_channels: int = 3, image_size: int = 32, latent_dim: int = 128,
                 width: int = 64, negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("VaeGanDecoder", out_channels=out_channels, latent_dim=latent_dim, width=width)
        side = _side(image_size)
        self.start = (4 * width, side, side)
        self.linear = nn.Sequential(nn.Linear(latent_dim, 4 * width * side * side, bias=False),
                                    nn.BatchNorm1d(4 * width * side * side),
                                    nn.LeakyReLU(negative_slope))
        chans = [4 * width, 2 * width, width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.LeakyReLU(negative_slope)]
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1), nn.Tanh()]
        self.deconvs = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.linear(z).view(-1, *self.start))


class VaeGanDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 3, image_size: int = 32, width: int = 32,
                 hidden_dim: int = 512, feature_layer: int = 3,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("VaeGanDiscriminator", in_channels=in_channels, width=width,
                    hidden_dim=hidden_dim)
        side = _side(image_size)
        if not 1 <= feature_layer <= 4:
            raise ConfigError(f"feature_layer must be one of the 4 conv layers, got {feature_layer}")
        chans = [in_channels, width, 4 * width, 8 * width, 8 * width]
        first = nn.Sequential(nn.Conv2d(in_channels, width, 5, 1, 2), nn.LeakyReLU(negative_slope))
        self.convs = nn.ModuleList([first] + [_down(a, b, 2, negative_slope)
                                              for a, b in zip(chans[1:-1], chans[2:])])
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * side * side, hidden_dim),
                                  nn.BatchNorm1d(hidden_dim), nn.LeakyReLU(negative_slope),
                                  nn.Linear(hidden_dim, 1))
        self.feature_layer = feature_layer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logit of 'real' per image, the activations after conv `feature_layer`)."""
        features = None
        for i, conv in enumerate(self.convs, start=1):
            x = conv(x)
            if i == self.feature_layer:
                features = x
        return self.head(x).squeeze(1), features

    def probability(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x)[0])
