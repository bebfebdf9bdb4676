"""Paper-1's figure: each of a few 'from' images (horses) paired with a random 'to' image (bird)
from a second pool, their posterior means interpolated at weights μ (linspace(0.4, 0.7, 8)) and
decoded: one row per pair, one column per μ."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pegasus_lab.errors import (ConfigError, DataError, method_name, require_class_name,
                                require_int, require_number, require_seed)
from pegasus_lab.latent.interpolate import interpolator


@dataclass
class PairGridSpec:
    from_class: str = "horse"
    to_class: str = "bird"
    from_count: int = 8
    to_count: int = 21
    from_indices: Sequence[int] | None = None  # positions among the class's images
    to_indices: Sequence[int] | None = None
    start: float = 0.4
    stop: float = 0.7
    steps: int = 8
    method: str = "slerp"
    seed: int = 0

    def __post_init__(self) -> None:
        """Said when the spec is built (before training, for the figure a run draws every
        few epochs), not when the first figure is due."""
        where = "interpolation: "
        for key in ("from_class", "to_class"):
            setattr(self, key, require_class_name(key, getattr(self, key), where))
        for key in ("from_count", "to_count", "steps"):
            require_int(key, getattr(self, key), 1, where=where)
        for key in ("from_indices", "to_indices"):
            for index in getattr(self, key) or ():
                require_int(f"each of {key}", index, 0, where=where)
        self.start = require_number("start", self.start, where)
        self.stop = require_number("stop", self.stop, where)
        interpolator(self.method, where=f"{where}method: ")
        require_seed("seed", self.seed, where=where)

    def weights(self) -> torch.Tensor:
        return torch.linspace(self.start, self.stop, self.steps)


def require_image_encoder(model, what: str) -> None:
    """The interpolation grid and the pegasi encode real images of two classes and decode a
    blend of their latents: that needs an encoder, and a model whose decoder takes no class
    (a class-conditional VAE encodes each image given its own class, and a blend of a horse's
    and a bird's latent has no one class to be decoded with)."""
    name = method_name(model)
    if not callable(getattr(model, "encode", None)):
        raise ConfigError(f"{what} encodes real images: it needs a model with an encoder (a VAE "
                          f"or the VAE-GAN), and the {name} has none (pegasus-sample mode=walk "
                          "interpolates between its random latents)")
    classes = int(getattr(model, "num_classes", 0) or 0)
    if classes:
        raise ConfigError(f"{what} decodes blends of two classes' latents: the {name} "
                          f"decodes each latent with one of its {classes} classes, so a blend "
                          "has no one class to be decoded with; use an unconditional VAE "
                          "(pegasus-sample mode=walk works with this one)")


def choose(pool_size: int, count: int, given: Sequence[int] | None, seed: int,
           what: str) -> np.ndarray:
    """The given positions (checked), or a seeded choice of `count` without replacement."""
    if given is not None:
        given = np.asarray(list(given), dtype=np.int64)
        bad = given[(given < 0) | (given >= pool_size)]
        if len(bad):
            raise ConfigError(f"{what} indices {bad.tolist()} out of range: the class has "
                              f"{pool_size} images")
        return given
    if count > pool_size:
        raise DataError(f"{what}: asked for {count} images, the class has {pool_size}")
    return np.sort(np.random.default_rng(seed).choice(pool_size, size=count, replace=False))


def select_images(datamodule, spec: PairGridSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The 'from' and 'to' images (floats in the data's range) picked by the spec."""
    from pegasus_lab.data.transforms import from_uint8
    out = []
    for key, count, given, salt in (("from_class", spec.from_count, spec.from_indices, 0),
                                    ("to_class", spec.to_count, spec.to_indices, 1)):
        name = getattr(spec, key)
        pool = datamodule.class_indices(name, where=f"interpolation: {key}: ")
        picked = pool[choose(len(pool), count, given, spec.seed + salt, name)]
        images, _ = datamodule.uint8_images(picked)
        out.append(from_uint8(images, datamodule.value_range))
    return out[0], out[1]


@torch.no_grad()
def pair_interpolation(model, from_images: torch.Tensor, to_images: torch.Tensor,
                       weights: torch.Tensor, method: str = "slerp",
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded interpolations, rows × len(weights) images in [0, 1], and each row's partner."""
    require_image_encoder(model, "pair_interpolation")
    interp = interpolator(method)
    was_training = model.training
    model.eval()
    try:
        z_from = model.encode(from_images.to(model.device))[0]
        z_to = model.encode(to_images.to(model.device))[0]
        g = torch.Generator().manual_seed(seed)
        partner = torch.randint(len(to_images), (len(from_images),), generator=g)
        w = weights.to(z_from)
        z = interp(z_from[:, None, :], z_to[partner.to(z_from.device)][:, None, :], w[None, :])
        images = model.generate(z.reshape(-1, z.shape[-1]))
    finally:
        model.train(was_training)
    return model.to_unit(images).cpu(), partner
