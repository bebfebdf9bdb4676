"""How white the object in an image is: for the white-pegasus picker.

The object is taken to be the pixels that differ from the image's border colour (the median
of the outermost pixels) by more than `object_threshold`; an image with no such pixels is
judged on all of them. Whiteness = mean over object pixels of brightness · (1 − saturation),
with HSV brightness max(r, g, b) and saturation (max − min) / max, in [0, 1].
"""
from __future__ import annotations

import torch


class WhitenessRanker:
    def __init__(self, object_threshold: float = 0.15) -> None:
        self.object_threshold = object_threshold

    def object_mask(self, images: torch.Tensor) -> torch.Tensor:
        """N×H×W bool: pixels unlike the border colour."""
        border = torch.cat([images[:, :, 0, :], images[:, :, -1, :], images[:, :, :, 0],
                            images[:, :, :, -1]], dim=2)  # N×C×(2W+2H)
        background = border.median(dim=2).values[:, :, None, None]
        mask = (images - background).abs().amax(dim=1) > self.object_threshold
        empty = ~mask.flatten(1).any(1)
        mask[empty] = True
        return mask

    def scores(self, images_unit: torch.Tensor) -> torch.Tensor:
        """Whiteness in [0, 1] per image of N×3×H×W images in [0, 1]."""
        x = images_unit.float().clamp(0, 1)
        value = x.amax(dim=1)
        saturation = (value - x.amin(dim=1)) / value.clamp_min(1e-6)
        white = value * (1 - saturation)
        mask = self.object_mask(x).float()
        return (white * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)

    def rank(self, images_unit: torch.Tensor) -> torch.Tensor:
        """Indices, whitest first."""
        return torch.argsort(self.scores(images_unit), descending=True)
