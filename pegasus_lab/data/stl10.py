"""STL-10 read from its real binary layout: `<root>/stl10_binary/{train,test}_{X,y}.bin`,
`unlabeled_X.bin`, `class_names.txt`. Images are 3×96×96 uint8 stored column-major per
channel; labels are uint8 in 1..10. Downloading goes through torchvision (same layout)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pegasus_lab.data.source import UNLABELLED, ImageSource, download_failed, file_stamp
from pegasus_lab.errors import DataError

SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
SPLITS = {
    "train": ("train",),
    "test": ("test",),
    "unlabeled": ("unlabeled",),
    "train+unlabeled": ("train", "unlabeled"),
    "labeled": ("train", "test"),
    "all": ("train", "test", "unlabeled"),
}
DEFAULT_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                   "truck"]


class Stl10Source(ImageSource):
    def __init__(self, root: str, split: str = "train") -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"unknown STL-10 split {split!r}; valid choices: {list(SPLITS)}")
        self.root = Path(root).expanduser()
        self.split = split
        self._arrays: list[np.ndarray] = []
        self._stacked: np.ndarray | None = None

    @property
    def folder(self) -> Path:
        return self.root / "stl10_binary"

    def _files(self, part: str) -> tuple[Path, Path | None]:
        y = None if part == "unlabeled" else self.folder / f"{part}_y.bin"
        return self.folder / f"{part}_X.bin", y

    def _missing(self) -> list[Path]:
        paths = []
        for part in SPLITS[self.split]:
            x, y = self._files(part)
            paths += [p for p in (x, y) if p is not None and not p.exists()]
        return paths

    def prepare(self, download: bool = False) -> None:
        if self._missing() and download:
            from torchvision.datasets import STL10
            try:
                STL10(str(self.root), split="train+unlabeled", download=True)
            except Exception as err:  # network errors come in many types
                raise download_failed("STL-10", self.folder, err) from err

    def _load(self) -> None:
        missing = self._missing()
        if missing:
            raise DataError(f"STL-10 files missing: {', '.join(map(str, missing))} "
                            "(set data.download=true to fetch them, or put a copy there)")
        names = self.folder / "class_names.txt"
        classes = (names.read_text().split() if names.exists() else list(DEFAULT_CLASSES))
        arrays, labels = [], []
        for part in SPLITS[self.split]:
            x_path, y_path = self._files(part)
            size = x_path.stat().st_size
            if size == 0 or size % IMAGE_BYTES:
                raise DataError(f"corrupt STL-10 file {x_path}: {size} bytes is not a whole "
                                f"number of {IMAGE_BYTES}-byte images")
            n = size // IMAGE_BYTES
            raw = np.memmap(x_path, dtype=np.uint8, mode="r", shape=(n, 3, SIDE, SIDE))
            arrays.append(raw.transpose(0, 3, 2, 1))  # column-major (c, x, y) → (y, x, c)
            if y_path is None:
                labels.append(np.full(n, UNLABELLED, dtype=np.int64))
                continue
            y = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
            if len(y) != n or y.min() < 0 or y.max() >= len(classes):
                raise DataError(f"corrupt STL-10 labels {y_path}: {len(y)} labels for {n} "
                                f"images, values must lie in 1..{len(classes)}")
            labels.append(y)
        self._arrays = arrays
        self._classes, self._labels = classes, np.concatenate(labels)

    def array(self) -> np.ndarray:
        self._ensure_loaded()
        if len(self._arrays) == 1:
            return self._arrays[0]
        if self._stacked is None:
            self._stacked = _Stacked(self._arrays)
        return self._stacked

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(self.array()[index]))

    def describe(self) -> str:
        stamps = []
        for part in SPLITS[self.split]:
            for p in self._files(part):
                if p is not None and p.exists():
                    stamps.append(f"{p.name}:{file_stamp(p)}")
        return f"STL10({self.root.resolve()}, {self.split}, {stamps})"


class _Stacked:
    """Row-indexing over several memmaps without copying them into one array."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        self.offsets = np.cumsum([0] + [len(a) for a in arrays])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            k = int(np.searchsorted(self.offsets, index, side="right")) - 1
            return self.arrays[k][index - self.offsets[k]]
        index = np.asarray(index)
        out = np.empty((len(index), SIDE, SIDE, 3), dtype=np.uint8)
        which = np.searchsorted(self.offsets, index, side="right") - 1
        for k, arr in enumerate(self.arrays):
            rows = np.nonzero(which == k)[0]
            if len(rows):
                out[rows] = arr[index[rows] - self.offsets[k]]
        return out
