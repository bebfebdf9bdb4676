"""A generated class-conditional image set: for tests, demos and quick sweeps, no files needed.

Each class is a distinct coloured shape on a dark background (disc, square, stripes, ring, …),
jittered in position and brightness per image, so a small model can learn it in seconds.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from pegasus_lab.data.source import ImageSource
from pegasus_lab.errors import DataError, require_int, require_seed

_PALETTE = np.array([[230, 60, 50], [60, 200, 80], [60, 90, 230], [240, 220, 60],
                     [200, 70, 220], [60, 220, 220], [250, 250, 250], [250, 140, 40]])
_SHAPES = ("disc", "square", "hstripes", "vstripes", "ring", "cross", "diagonal", "corners")


def _mask(shape: str, size: int, dy: int, dx: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    cy, cx, r = size / 2 + dy, size / 2 + dx, size / 4
    dist = np.hypot(y - cy, x - cx)
    return {
        "disc": dist < r,
        "square": (abs(y - cy) < r) & (abs(x - cx) < r),
        "hstripes": ((y + dy) // max(size // 8, 1)) % 2 == 0,
        "vstripes": ((x + dx) // max(size // 8, 1)) % 2 == 0,
        "ring": (dist < 1.5 * r) & (dist > 0.8 * r),
        "cross": (abs(y - cy) < r / 3) | (abs(x - cx) < r / 3),
        "diagonal": abs((y - cy) - (x - cx)) < r / 2,
        "corners": (abs(y - cy) > r) & (abs(x - cx) > r),
    }[shape]


SPLITS = {"train": (0,), "test": (1,), "both": (0, 1)}


class SyntheticSource(ImageSource):
    """`per_class` images per class and split; the test split is drawn with another seed."""

    def __init__(self, num_classes: int = 4, per_class: int = 64, image_size: int = 32,
                 channels: int = 3, seed: int = 0, class_names: list[str] | None = None,
                 split: str = "train") -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid choices: {list(SPLITS)}")
        self.split = split
        if not 1 <= num_classes <= len(_SHAPES):
            raise DataError(f"synthetic data has 1..{len(_SHAPES)} classes, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise DataError(f"{len(class_names)} class names for {num_classes} classes")
        require_int("per_class", per_class, 1, where="synthetic data: ")
        require_seed("seed", seed, where="synthetic data: ")
        self.num_classes, self.per_class = num_classes, per_class
        self.image_size, self.channels, self.seed = image_size, channels, seed
        self.class_names = list(class_names) if class_names else [
            f"{_SHAPES[k]}" for k in range(num_classes)]
        self._data: np.ndarray | None = None

    def _load(self) -> None:
        parts = [self._draw(np.random.default_rng([self.seed, offset]))
                 for offset in SPLITS[self.split]]
        self._data = np.concatenate([p[0] for p in parts])
        self._classes = list(self.class_names)
        self._labels = np.concatenate([p[1] for p in parts]).astype(np.int64)

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, s = self.num_classes * self.per_class, self.image_size
        data = np.empty((n, s, s, 3), dtype=np.uint8)
        labels = np.repeat(np.arange(self.num_classes), self.per_class)
        shift = max(s // 8, 1)
        for i, k in enumerate(labels):
            dy, dx = rng.integers(-shift, shift + 1, size=2)
            mask = _mask(_SHAPES[k], s, int(dy), int(dx))
            colour = _PALETTE[k] * rng.uniform(0.8, 1.0)
            img = np.full((s, s, 3), 20.0) + rng.normal(0, 4, size=(s, s, 3))
            img[mask] = colour
            data[i] = np.clip(img, 0, 255).astype(np.uint8)
        if self.channels == 1:
            data = data.mean(axis=3, keepdims=True).astype(np.uint8)
        return data, labels

    def array(self) -> np.ndarray:
        self._ensure_loaded()
        return self._data

    def image(self, index: int) -> Image.Image:
        arr = self.array()[index]
        return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)

    def describe(self) -> str:
        return (f"Synthetic({self.num_classes}, {self.per_class}, {self.image_size}, "
                f"{self.channels}, {self.seed}, {self.class_names}, {self.split})")
