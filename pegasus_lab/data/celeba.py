"""CelebA from torchvision's on-disk layout: `<root>/celeba/img_align_celeba/NNNNNN.jpg`,
`list_attr_celeba.txt` (count, attribute names, then one row of ±1 per image) and
`list_eval_partition.txt` (0 train, 1 valid, 2 test). The label is one binary attribute
(default `Male`): classes [not_<attr>, <attr>]. Faces are centre-cropped to a square."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pegasus_lab.data.source import ImageSource, download_failed
from pegasus_lab.errors import DataError

SPLITS = {"train": (0,), "valid": (1,), "test": (2,), "all": (0, 1, 2)}


class CelebaSource(ImageSource):
    def __init__(self, root: str, split: str = "train", attribute: str = "Male") -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"unknown CelebA split {split!r}; valid choices: {list(SPLITS)}")
        self.root = Path(root).expanduser()
        self.split, self.attribute = split, attribute
        self._files: list[str] = []

    @property
    def folder(self) -> Path:
        return self.root / "celeba"

    def prepare(self, download: bool = False) -> None:
        if download and not (self.folder / "list_attr_celeba.txt").exists():
            from torchvision.datasets import CelebA
            try:
                CelebA(str(self.root), split="all", target_type="attr", download=True)
            except Exception as err:
                raise download_failed("CelebA", self.folder, err) from err

    def _load(self) -> None:
        attrs, parts = self.folder / "list_attr_celeba.txt", self.folder / "list_eval_partition.txt"
        missing = [p for p in (attrs, parts, self.folder / "img_align_celeba") if not p.exists()]
        if missing:
            raise DataError(f"CelebA files missing: {', '.join(map(str, missing))} (set "
                            "data.download=true to fetch them, or put a copy there)")
        lines = attrs.read_text().splitlines()
        names = lines[1].split()
        if self.attribute not in names:
            raise DataError(f"unknown CelebA attribute {self.attribute!r}; valid choices: {names}")
        column = names.index(self.attribute)
        values = {row.split()[0]: int(row.split()[1 + column]) for row in lines[2:] if row.strip()}
        partition = dict(row.split() for row in parts.read_text().splitlines() if row.strip())
        wanted = {str(k) for k in SPLITS[self.split]}
        files = sorted(f for f, p in partition.items() if p in wanted and f in values)
        self._files = files
        self._classes = [f"not_{self.attribute}", self.attribute]
        self._labels = np.array([1 if values[f] > 0 else 0 for f in files], dtype=np.int64)

    def image(self, index: int) -> Image.Image:
        self._ensure_loaded()
        path = self.folder / "img_align_celeba" / self._files[index]
        try:
            img = Image.open(path)
            img.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"cannot decode image {path}: {err}") from err
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return img.crop((left, top, left + side, top + side))

    def describe(self) -> str:
        attrs = self.folder / "list_attr_celeba.txt"
        stamp = f"{attrs.stat().st_size}:{int(attrs.stat().st_mtime)}" if attrs.exists() else "-"
        return f"CelebA({self.root.resolve()}, {self.split}, {self.attribute}, {stamp})"
