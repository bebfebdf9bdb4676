"""Paper-4's GAN networks. Generator: linear → (2·width)×(s/4)² → two 2× stages, either nearest
upsampling + 3×3 conv or a 4×4 stride-2 transposed conv (`upsample`), batch norm and ReLU,
a 3×3 conv and Tanh. Discriminator/critic: two stride-2 convs with LeakyReLU (batch norm on the
second, unless `batch_norm=False` for a clipped WGAN critic) → linear 1 (no sigmoid: the loss
applies it) and, with num_classes > 0, a linear class head (AC-GAN, AC-WGAN). A conditional
generator turns the label into a latent-sized vector (an embedding) that multiplies z."""
from __future__ import annotations

from torch import nn

from pegasus_lab.errors import ConfigError
from pegasus_lab.nets.sizes import check_flags, check_sizes

UPSAMPLING = ("nearest", "transposed")


def _quarter(image_size: int) -> int:
    if image_size % 4 or image_size < 8:
        raise ConfigError(f"the study GAN doubles twice from s/4: the image side must be a "
                          f"multiple of 4, got {image_size}")
    return image_size // 4


def _up(c_in: int, c_out: int, mode: str) -> list[nn.Module]:
    if mode == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)]


class StudyGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, width: int = 64, out_channels: int = 1,
                 image_size: int = 28, upsample: str = "nearest", num_classes: int = 0) -> None:
        super().__init__()
        check_sizes("StudyGenerator", latent_dim=latent_dim, width=width,
                    out_channels=out_channels, num_classes=num_classes)
        if upsample not in UPSAMPLING:
            raise ConfigError(f"unknown upsample {upsample!r}; valid choices: {list(UPSAMPLING)}")
        side = _quarter(image_size)
        self.latent_dim, self.num_classes, self.start = latent_dim, num_classes, (2 * width, side, side)
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes else None
        self.fc = nn.Sequential(nn.Linear(latent_dim, 2 * width * side * side, bias=False),
                                nn.BatchNorm1d(2 * width * side * side), nn.ReLU())
        self.body = nn.Sequential(
            *_up(2 * width, width, upsample), nn.BatchNorm2d(width), nn.ReLU(),
            *_up(width, width, upsample), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, z, labels=None):
        if self.num_classes:
            if labels is None:
                raise ValueError("a class-conditional generator needs labels")
            z = z * self.embed(labels)
        return self.body(self.fc(z).view(-1, *self.start))


class StudyDiscriminator(nn.Module):
    def __init__(self, in_channels: int = 1, width: int = 64, image_size: int = 28,
                 num_classes: int = 0, batch_norm: bool = True,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        check_sizes("StudyDiscriminator", in_channels=in_channels, width=width,
                    num_classes=num_classes)
        check_flags("StudyDiscriminator", batch_norm=batch_norm)
        side = _quarter(image_size)
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(negative_slope),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity(),
            nn.LeakyReLU(negative_slope), nn.Flatten())
        flat = 2 * width * side * side
        self.source = nn.Linear(flat, 1)
        self.classifier = nn.Linear(flat, num_classes) if num_classes else None

    def forward(self, x, labels=None):
        """(source logit or critic score per image, class logits or None)."""
        h = self.features(x)
        return self.source(h).squeeze(1), (self.classifier(h) if self.classifier is not None
                                           else None)
