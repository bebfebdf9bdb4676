"""Paper-2's networks: Gulrajani et al. (2017)'s CIFAR-10 ResNet for WGAN-GP / AC-WGAN-GP.

Generator: z → linear → width×4×4 → three up-blocks (BN, ReLU, nearest 2× upsampling, 3×3
conv, BN, ReLU, 3×3 conv; upsampled 1×1-conv shortcut), class-conditional batch norm inside the blocks
when num_classes > 0 → BN, ReLU, 3×3 conv, Tanh.
Critic: an 'optimized' first block (conv, ReLU, conv, mean-pool; mean-pool + 1×1 shortcut),
then residual blocks down, –, – (norm, ReLU, conv, norm, ReLU, conv [+ mean-pool]), ReLU,
global mean pool → linear 1 (Wasserstein score) and linear n_classes (auxiliary classifier).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_flags, check_sizes
from pegasus_lab.nets.fused_ops import ConvMeanPool, UpsampleConv
from pegasus_lab.nets.layer_norm import LayerNorm2d

CRITIC_NORMS = ("layer", "none")


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up by class label (plain BN without
    classes)."""

    def __init__(self, channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=num_classes == 0)
        if num_classes:
            self.scale = nn.Embedding(num_classes, channels)
            self.shift = nn.Embedding(num_classes, channels)
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.num_classes:
            return out
        if labels is None:
            raise ValueError("a class-conditional generator needs labels")
        return out * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class GeneratorBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, num_classes: int = 0,
                 fused_upsample: bool = False) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(c_in, num_classes)
        # nearest 2× upsampling then conv (one sub-pixel transposed conv when fused: the same
        # function)
        self.conv1 = UpsampleConv(c_in, c_out, fused_upsample)
        self.norm2 = ConditionalBatchNorm2d(c_out, num_classes)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x, labels)))
        h = self.conv2(F.relu(self.norm2(h, labels)))
        # the 1×1 shortcut commutes with nearest upsampling: upsampling after is 4× cheaper
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int = 128, width: int = 128, num_classes: int = 10,
                 out_channels: int = 3, image_size: int = 32,
                 fused_upsample: bool = False) -> None:
        super().__init__()
        check_sizes("ResNetGenerator", latent_dim=latent_dim, width=width,
                    out_channels=out_channels, num_classes=num_classes)
        check_flags("ResNetGenerator", fused_upsample=fused_upsample)
        blocks = math.log2(image_size / 4)
        if blocks < 1 or blocks != int(blocks):
            raise ConfigError(f"the ResNet generator makes 4·2^k sides (8, 16, 32, 64…), "
                              f"got {image_size}")
        self.latent_dim, self.num_classes, self.width = latent_dim, num_classes, width
        self.linear = nn.Linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.ModuleList(GeneratorBlock(width, width, num_classes, fused_upsample)
                                    for _ in range(int(blocks)))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, out_channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.linear(z).view(-1, self.width, 4, 4)
        for block in self.blocks:
            h = block(h, labels)
        return self.out(h)


def _norm(kind: str, channels: int, fused: bool = False) -> nn.Module:
    # layer norm over (C, H, W) per sample with a per-channel affine (= GroupNorm with 1 group)
    return LayerNorm2d(channels, fused=fused) if kind == "layer" else nn.Identity()


class CriticBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool, norm: str = "layer",
                 fused_downsample: bool = False, fused_norm: bool = False) -> None:
        super().__init__()
        self.down = down
        self.norm1, self.norm2 = _norm(norm, c_in, fused_norm), _norm(norm, c_in, fused_norm)
        self.conv1 = nn.Conv2d(c_in, c_in, 3, padding=1)
        # conv then 2×2 mean pool (one strided conv when fused: the same function)
        self.conv2 = ConvMeanPool(c_in, c_out, fused_downsample) if down else \
            nn.Conv2d(c_in, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (down or c_in != c_out) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        # the 1×1 shortcut commutes with the mean pool: pooling first is cheaper, same value
        sc = self.shortcut(F.avg_pool2d(x, 2) if self.down else x)
        return h + sc


class FirstCriticBlock(nn.Module):
    """The critic's first block: no norm or activation before its first conv."""

    def __init__(self, c_in: int, c_out: int, fused_downsample: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = ConvMeanPool(c_out, c_out, fused_downsample)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x)))
        return h + self.shortcut(F.avg_pool2d(x, 2))


class ResNetCritic(nn.Module):
    def __init__(self, in_channels: int = 3, width: int = 128, num_classes: int = 10,
                 norm: str = "layer", image_size: int = 32,
                 fused_downsample: bool = False, fused_norm: bool = False) -> None:
        super().__init__()
        check_sizes("ResNetCritic", in_channels=in_channels, width=width, num_classes=num_classes)
        check_flags("ResNetCritic", fused_downsample=fused_downsample, fused_norm=fused_norm)
        if norm not in CRITIC_NORMS:
            raise ConfigError(f"unknown critic norm {norm!r}; valid choices: {list(CRITIC_NORMS)}")
        if image_size % 4:
            raise ConfigError(f"the ResNet critic halves the image twice: its side must be a "
                              f"multiple of 4, got {image_size}")
        self.num_classes = num_classes
        self.blocks = nn.Sequential(FirstCriticBlock(in_channels, width, fused_downsample),
                                    CriticBlock(width, width, down=True, norm=norm,
                                                fused_downsample=fused_downsample,
                                                fused_norm=fused_norm),
                                    CriticBlock(width, width, down=False, norm=norm,
                                                fused_norm=fused_norm),
                                    CriticBlock(width, width, down=False, norm=norm,
                                                fused_norm=fused_norm))
        self.score = nn.Linear(width, 1)
        self.classifier = nn.Linear(width, num_classes) if num_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(Wasserstein score per image, class logits or None)."""
        h = F.relu(self.blocks(x)).mean(dim=(2, 3))
        logits = self.classifier(h) if self.classifier is not None else None
        return self.score(h).squeeze(1), logits
