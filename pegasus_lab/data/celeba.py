"""CelebA from torchvision's on-disk layout: `<root>/celeba/img_align_celeba/NNNNNN.jpg`,
`list_attr_celeba.txt` (count, attribute names, then one row of ±1 per image) and
`list_eval_partition.txt` (0 train, 1 valid, 2 test). The label is one binary attribute
(default `Male`): classes [not_<attr>, <attr>]. Faces are centre-cropped to a square."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pegasus_lab.data.source import ImageSource, download_failed, file_stamp
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
        values = _read_attribute(attrs, self.attribute)
        partition = _read_partition(parts)
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
        stamp = file_stamp(attrs) if attrs.exists() else "-"
        return f"CelebA({self.root.resolve()}, {self.split}, {self.attribute}, {stamp})"


_SIGNS = frozenset(("1", "-1"))


def _corrupt(path: Path, where: str, why: str) -> DataError:
    return DataError(f"corrupt CelebA file {path}, {where}: {why} (a cut-off download? "
                     "fetch it again)")


def _read_attribute(path: Path, attribute: str) -> dict[str, int]:
    """Each image's ±1 for `attribute` from list_attr_celeba.txt, the file checked whole: a
    download cut off mid-file fails here, naming the line, not later in a reader."""
    lines = path.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise _corrupt(path, "line 1", "expected the image count, then the attribute names")
    count, names = int(lines[0]), lines[1].split()
    if attribute not in names:
        raise DataError(f"unknown CelebA attribute {attribute!r}; valid choices: {names}")
    column = 1 + names.index(attribute)
    values = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 1 + len(names) or not _SIGNS.issuperset(fields[1:]):
            raise _corrupt(path, f"line {number}", f"expected an image name and {len(names)} "
                           f"values of 1 or -1, got {line.strip()[:80]!r}")
        values[fields[0]] = int(fields[column])
    if len(values) != count:
        raise _corrupt(path, f"ending at line {len(lines)}",
                       f"its first line counts {count} images, it lists {len(values)}")
    return values


def _read_partition(path: Path) -> dict[str, str]:
    """list_eval_partition.txt: each image's split, 0 (train), 1 (valid) or 2 (test)."""
    partition = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise _corrupt(path, f"line {number}", "expected an image name and its split 0, 1 "
                           f"or 2, got {line.strip()[:80]!r}")
        partition[fields[0]] = fields[1]
    return partition
