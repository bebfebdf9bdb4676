"""The image-source interface, and the two sources built from others (class filter, concatenation).

A source is an indexable collection of labelled images of any size. Sources are lazy: nothing is
read until the first access, so composing a config never touches the disk, and `prepare()` is the
one place that may download (Lightning calls it on one process only).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pegasus_lab.errors import DataError, as_class_name

UNLABELLED = -1


def download_failed(name: str, where, err: Exception, hint: str = "") -> DataError:
    """One message for every source whose download failed: what, where to, why, and the
    offline way round it (`hint`: another, such as a copy in another form)."""
    return DataError(f"{name} download into {where} failed: {err}. Offline, place the files "
                     f"there and set data.download=false{hint}")


def file_stamp(path) -> str:
    """A file's size and modification time to the nanosecond, for a cache key: a file
    rewritten within the same second at the same size (a re-export, a copy over it) is other
    data, which a time in whole seconds would take for the cached one."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


class ImageSource:
    """Base class. Subclasses implement `_load` (fill `_classes`, `_labels`) and `image`."""

    def __init__(self) -> None:
        self._classes: list[str] | None = None
        self._labels: np.ndarray | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def _load(self) -> None:
        raise NotImplementedError

    def image(self, index: int) -> Image.Image:
        """The image at `index`, decoded, at its native size."""
        raise NotImplementedError

    def array(self) -> np.ndarray | None:
        """All images as one N×H×W×C uint8 array when the source holds them so; else None."""
        return None

    def describe(self) -> str:
        """Everything that identifies the content (paths, splits, file sizes): the cache key."""
        raise NotImplementedError

    def prepare(self, download: bool = False) -> None:
        """Fetch missing files when `download` (and the source can). Called once, on one
        process, before `len`/`image`."""

    # -- common behaviour ------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._labels is None:
            self._load()
            assert self._classes is not None and self._labels is not None

    @property
    def classes(self) -> list[str]:
        self._ensure_loaded()
        return list(self._classes)

    def labels(self) -> np.ndarray:
        self._ensure_loaded()
        return self._labels

    def __len__(self) -> int:
        return len(self.labels())

    def fingerprint(self) -> str:
        return hashlib.sha256(self.describe().encode()).hexdigest()[:16]

    def materialise(self, size: int, channels: int, indices: np.ndarray | None = None):
        """Decode (a subset of) the source into a uint8 N×C×size×size tensor and int64 labels."""
        if indices is None:
            indices = np.arange(len(self))
        indices = np.asarray(indices, dtype=np.int64)
        labels = torch.from_numpy(self.labels()[indices].astype(np.int64))
        arr = self.array()
        if arr is not None:
            return resize_array(arr, indices, size, channels), labels
        out = torch.empty((len(indices), channels, size, size), dtype=torch.uint8)
        for row, i in enumerate(indices):
            out[row] = pil_to_tensor(self.image(int(i)), size, channels)
        return out, labels


def pil_to_tensor(img: Image.Image, size: int, channels: int) -> torch.Tensor:
    """A PIL image → uint8 C×size×size (bicubic with antialiasing, as the array path)."""
    if img.mode.startswith("I;16"):  # 16-bit grey (PNG, TIFF): Pillow's convert clips at 255
        img = Image.fromarray(np.round(np.asarray(img, dtype=np.float64) / 257).astype(np.uint8))
    img = img.convert("RGB" if channels == 3 else "L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def resize_array(arr: np.ndarray, indices: np.ndarray, size: int, channels: int,
                 chunk: int = 2048) -> torch.Tensor:
    """Rows `indices` of an N×H×W×C uint8 array → uint8 n×channels×size×size, in chunks."""
    out = torch.empty((len(indices), channels, size, size), dtype=torch.uint8)
    for start in range(0, len(indices), chunk):
        part = torch.from_numpy(np.ascontiguousarray(arr[indices[start:start + chunk]]))
        if part.ndim == 3:
            part = part[..., None]
        part = part.permute(0, 3, 1, 2)
        part = convert_channels(part, channels)
        if part.shape[-1] != size or part.shape[-2] != size:
            part = F.interpolate(part.float(), size=(size, size), mode="bicubic",
                                 antialias=True, align_corners=False)
            part = part.round().clamp(0, 255).to(torch.uint8)
        out[start:start + len(part)] = part
    return out


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 N×C×H×W with C in {1, 3} → `channels` channels (ITU-R 601 luma, as PIL's 'L')."""
    if x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise DataError(f"cannot convert {x.shape[1]}-channel images to {channels} channels")


class ClassFilter(ImageSource):
    """Keeps the named classes of a source; labels become their position in `classes`."""

    def __init__(self, source: ImageSource, classes: Sequence[str]) -> None:
        super().__init__()
        if isinstance(classes, str):
            classes = [classes]
        if not classes:
            raise DataError("the class list is empty: name the classes to keep, or leave it "
                            "out (null) for all of them")
        self.source = source
        # digits given as numbers (`data.classes=[3,5]` for MNIST) are the classes so named
        self.wanted = [name if (name := as_class_name(c)) is not None else c for c in classes]
        self._indices: np.ndarray | None = None

    def prepare(self, download: bool = False) -> None:
        self.source.prepare(download)

    def _load(self) -> None:
        available = self.source.classes
        unknown = [c for c in self.wanted if c not in available]
        if unknown:
            raise DataError(f"unknown class(es) {unknown}; valid choices: {available}")
        if len(set(self.wanted)) != len(self.wanted):
            raise DataError(f"class list has duplicates: {self.wanted}")
        parent_labels = self.source.labels()
        remap = np.full(len(available) + 1, UNLABELLED, dtype=np.int64)
        for new, name in enumerate(self.wanted):
            remap[available.index(name)] = new
        mapped = remap[parent_labels]  # UNLABELLED (-1) indexes the extra last slot → -1
        self._indices = np.nonzero(mapped >= 0)[0]
        self._labels = mapped[self._indices]
        self._classes = list(self.wanted)

    def image(self, index: int) -> Image.Image:
        self._ensure_loaded()
        return self.source.image(int(self._indices[index]))

    def describe(self) -> str:
        return f"ClassFilter({self.source.describe()}, {self.wanted})"

    def materialise(self, size, channels, indices=None):
        self._ensure_loaded()
        chosen = self._indices if indices is None else self._indices[np.asarray(indices)]
        images, _ = self.source.materialise(size, channels, chosen)
        labels = self._labels if indices is None else self._labels[np.asarray(indices)]
        return images, torch.from_numpy(labels.astype(np.int64))


class ConcatSource(ImageSource):
    """Concatenates named sources; classes are the union of their names, in order of appearance.

    `optional` names parts that may be absent: such a part is left out with a warning instead of
    stopping the run (e.g. `data.source.optional=[stl10]` to train on CIFAR-10 alone).
    """

    def __init__(self, parts: Mapping[str, ImageSource] | Sequence[ImageSource],
                 optional: Sequence[str] = ()) -> None:
        super().__init__()
        if not isinstance(parts, Mapping):
            parts = {f"part{i}": p for i, p in enumerate(parts)}
        if not parts:
            raise DataError("ConcatSource needs at least one part")
        unknown = [name for name in optional if name not in parts]
        if unknown:
            raise DataError(f"optional names unknown part(s) {unknown}; parts: {list(parts)}")
        self.parts = dict(parts)
        self.optional = list(optional)
        self._present: dict[str, ImageSource] = {}
        self._offsets: list[int] = []

    def prepare(self, download: bool = False) -> None:
        for name, part in self.parts.items():
            try:
                part.prepare(download)
            except DataError as err:
                if name not in self.optional:
                    raise self._with_hint(name, err) from err

    def _with_hint(self, name: str, err: DataError) -> DataError:
        return DataError(f"{err}; to go on without part '{name}', pass "
                         f"data.source.optional=[{name}]")

    def _load(self) -> None:
        import logging
        present = {}
        for name, part in self.parts.items():
            try:
                len(part)
            except DataError as err:
                if name not in self.optional:
                    raise self._with_hint(name, err) from err
                logging.getLogger(__name__).warning("leaving out optional part %r: %s", name, err)
                continue
            present[name] = part
        if not present:
            raise DataError("no part of the concatenation could be read")
        classes: list[str] = []
        for part in present.values():
            classes += [c for c in part.classes if c not in classes]
        labels, offsets, total = [], [], 0
        for part in present.values():
            remap = np.array([classes.index(c) for c in part.classes] + [UNLABELLED])
            labels.append(remap[part.labels()])
            offsets.append(total)
            total += len(part)
        self._present, self._offsets = present, offsets
        self._classes, self._labels = classes, np.concatenate(labels).astype(np.int64)

    def _locate(self, index: int) -> tuple[ImageSource, int]:
        k = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return list(self._present.values())[k], index - self._offsets[k]

    def image(self, index: int) -> Image.Image:
        self._ensure_loaded()
        part, local = self._locate(index)
        return part.image(local)

    def describe(self) -> str:
        inner = ", ".join(f"{n}={p.describe()}" for n, p in self.parts.items())
        return f"Concat({inner}; optional={self.optional})"

    def fingerprint(self) -> str:
        # Which optional parts were found changes the content, so it belongs in the key.
        self._ensure_loaded()
        key = f"{self.describe()}; present={list(self._present)}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def materialise(self, size, channels, indices=None):
        self._ensure_loaded()
        indices = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        bounds = self._offsets + [len(self)]
        images, labels = [], []
        for k, part in enumerate(self._present.values()):
            mask = (indices >= bounds[k]) & (indices < bounds[k + 1])
            if not mask.any():
                continue
            imgs, _ = part.materialise(size, channels, indices[mask] - bounds[k])
            images.append(imgs)
            labels.append(torch.from_numpy(self._labels[indices[mask]]))
        if not images:
            return (torch.empty((0, channels, size, size), dtype=torch.uint8),
                    torch.empty(0, dtype=torch.int64))
        # Keep the caller's order: the parts were gathered part by part.
        order = np.concatenate([np.nonzero((indices >= bounds[k]) & (indices < bounds[k + 1]))[0]
                                for k in range(len(self._present))])
        inverse = torch.from_numpy(np.argsort(order, kind="stable"))
        return torch.cat(images)[inverse], torch.cat(labels)[inverse]
