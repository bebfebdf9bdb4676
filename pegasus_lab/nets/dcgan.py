"""Paper-3's DCGAN (Radford et al. 2016) at 64²: no biases (every conv is followed by batch
norm, or is the output layer), N(0, 0.02) weights, batch-norm scales N(1, 0.02) and shifts 0.
With width 64 and z = 100: G has 3,576,704 parameters and D 2,765,568.

Options: spectral normalisation in D (replacing its batch norm), and a class-conditional
variant — one-hot labels appended to z in G and as constant input planes in D.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_flags, check_sizes


def _stages(image_size: int) -> int:
    n = math.log2(image_size / 4)
    if n < 1 or n != int(n):
        raise ConfigError(f"DCGAN makes 4·2^k-pixel images (8, 16, 32, 64…), got {image_size}")
    return int(n)


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al.: conv weights N(0, 0.02); batch-norm scales N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") \
                else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, width: int = 64, out_channels: int = 3,
                 image_size: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        check_sizes("DCGANGenerator", latent_dim=latent_dim, width=width,
                    out_channels=out_channels, num_classes=num_classes)
        n = _stages(image_size)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        chans = [width * 2**i for i in reversed(range(n))]  # 512, 256, 128, 64 for 64²
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + num_classes, chans[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("a class-conditional generator needs labels")
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Returns the logit of 'real'; D(x) = sigmoid(logit), folded into the BCE loss."""

    def __init__(self, in_channels: int = 3, width: int = 64, image_size: int = 64,
                 num_classes: int = 0, spectral: bool = False,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("DCGANDiscriminator", in_channels=in_channels, width=width,
                    num_classes=num_classes)
        check_flags("DCGANDiscriminator", spectral=spectral)
        n = _stages(image_size)
        self.num_classes, self.spectral = num_classes, spectral
        sn = spectral_norm if spectral else (lambda m: m)
        chans = [width * 2**i for i in range(n)]  # 64, 128, 256, 512 for 64²
        layers: list[nn.Module] = [sn(nn.Conv2d(in_channels + num_classes, chans[0], 4, 2, 1,
                                                bias=False)), nn.LeakyReLU(negative_slope, True)]
        for a, b in zip(chans[:-1], chans[1:]):
            layers.append(sn(nn.Conv2d(a, b, 4, 2, 1, bias=False)))
            if not spectral:  # no batch norm on the first layer, nor with spectral norm
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(negative_slope, True))
        layers.append(sn(nn.Conv2d(chans[-1], 1, 4, 1, 0, bias=False)))
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if labels is None:
                raise ValueError("a class-conditional discriminator needs labels")
            planes = F.one_hot(labels, self.num_classes).to(x)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], dim=1)
        return self.net(x).flatten()
