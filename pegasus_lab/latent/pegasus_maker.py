"""Paper-0's pegasi: encode horse images and wing images (birds, airplanes), blend each horse's
posterior mean with a random wing's (0.65 : 0.35), decode; then pick the whitest."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pegasus_lab.data.transforms import from_uint8
from pegasus_lab.errors import (ConfigError, as_class_name, require_class_name, require_int,
                                require_number, require_seed)
from pegasus_lab.latent.blend import blend
from pegasus_lab.latent.interpolate import interpolator
from pegasus_lab.latent.pair_grid import choose, require_image_encoder


@dataclass
class PegasusSpec:
    body_class: str = "horse"
    wing_classes: list[str] = field(default_factory=lambda: ["bird", "airplane"])
    count: int = 64            # pegasi to make
    body_weight: float = 0.65
    method: str = "lerp"       # lerp | slerp
    seed: int = 0
    top_k: int = 16
    large_size: int = 256      # side of the saved best pegasus

    def __post_init__(self) -> None:
        """Said when the spec is built, before any image is encoded."""
        where = "blend: "
        self.body_class = require_class_name("body_class", self.body_class, where)
        names = self.wing_classes
        wings = [] if isinstance(names, str) or not names else [as_class_name(n) for n in names]
        if not wings or None in wings:
            raise ConfigError(f"{where}wing_classes must be a list of class names, e.g. "
                              f"[bird,airplane], got {names!r}")
        self.wing_classes = wings
        for key in ("count", "top_k", "large_size"):
            require_int(key, getattr(self, key), 1, where=where)
        self.body_weight = require_number("body_weight", self.body_weight, where, 0.0, 1.0)
        interpolator(self.method, where=f"{where}method: ")
        require_seed("seed", self.seed, where=where)


@torch.no_grad()
def make_pegasi(model, datamodule, spec: PegasusSpec) -> tuple[torch.Tensor, dict]:
    """`spec.count` pegasi in [0, 1] and which body/wing images made each."""
    require_image_encoder(model, "make_pegasi")
    bodies = datamodule.class_indices(spec.body_class, where="blend: body_class: ")
    wings = np.concatenate([datamodule.class_indices(c, where="blend: wing_classes: ")
                            for c in spec.wing_classes])
    body_idx = bodies[choose(len(bodies), min(spec.count, len(bodies)), None, spec.seed, "body")]
    rng = np.random.default_rng(spec.seed + 1)
    body_idx = body_idx[rng.integers(0, len(body_idx), spec.count)] if len(body_idx) < spec.count \
        else body_idx
    wing_idx = wings[rng.integers(0, len(wings), spec.count)]
    to_float = lambda idx: from_uint8(datamodule.uint8_images(idx)[0], datamodule.value_range)
    was_training = model.training
    model.eval()
    try:
        z_body = model.encode(to_float(body_idx).to(model.device))[0]
        z_wing = model.encode(to_float(wing_idx).to(model.device))[0]
        images = model.to_unit(model.generate(blend(z_body, z_wing, spec.body_weight,
                                                    spec.method))).cpu()
    finally:
        model.train(was_training)
    return images, {"body_index": body_idx.tolist(), "wing_index": wing_idx.tolist()}


def rank_pegasi(whiteness: torch.Tensor, p_body: torch.Tensor | None = None,
                p_wing: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(order best first, score). Whiteness alone, or — with pegasus-classifier probabilities —
    whiteness × min(p_body, p_wing): white, and both horse and winged."""
    score = whiteness if p_body is None else whiteness * torch.minimum(p_body, p_wing)
    return torch.argsort(score, descending=True), score
