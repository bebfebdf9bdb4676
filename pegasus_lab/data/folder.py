"""Image folders with one subfolder per class, as a directory or as a .zip of one.

`ImageFolderSource("../shared/data/cifar10", split="train")` reads `train.zip` (or `train/`);
`split="both"` reads train and test. Inside a zip, single wrapping folders (`train/`) are skipped.
Hidden entries (a name starting with "."; `.DS_Store`, `.ipynb_checkpoints/`, the `._*` files a
Mac leaves on other file systems) and a Mac zip's `__MACOSX/` folder are not data: left out.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pegasus_lab.data.source import ImageSource, file_stamp
from pegasus_lab.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")
SPLITS = {"train": ("train",), "test": ("test",), "both": ("train", "test")}


def _not_data(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


class _Container:
    """A directory or a zip file, listed as relative POSIX paths of files (hidden ones left
    out)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_zip = path.is_file()
        self._zip: zipfile.ZipFile | None = None
        self._pid = None
        self._stats: dict[str, tuple[int, int]] | None = None  # a directory's: size, mtime

    def files(self) -> list[str]:
        if self.is_zip:
            return [n for n in self._open_zip().namelist() if not n.endswith("/")
                    and not any(_not_data(part) for part in n.split("/"))]
        return list(self._directory_stats())

    def _directory_stats(self) -> dict[str, tuple[int, int]]:
        """Each file under the directory: its size and modification time (listed once).
        Linked folders are followed (class folders linked in from elsewhere), each once: a
        link back up the tree is not walked again."""
        if self._stats is None:
            stats, walked = {}, set()
            for top, folders, names in os.walk(self.path, followlinks=True):
                here = os.stat(top)
                if (here.st_dev, here.st_ino) in walked:
                    folders[:] = []
                    continue
                walked.add((here.st_dev, here.st_ino))
                folders[:] = sorted(f for f in folders if not _not_data(f))
                rel = Path(top).relative_to(self.path)
                for name in sorted(n for n in names if not _not_data(n)):
                    try:
                        st = (Path(top) / name).stat()
                    except FileNotFoundError:  # a link to nothing
                        continue
                    stats[(rel / name).as_posix()] = (st.st_size, st.st_mtime_ns)
            self._stats = stats
        return self._stats

    def _open_zip(self) -> zipfile.ZipFile:
        # A ZipFile handle must not be shared across forked DataLoader workers.
        if self._zip is None or self._pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile as err:
                raise DataError(f"not a readable zip file: {self.path} ({err})") from err
            self._pid = os.getpid()
        return self._zip

    def read(self, member: str) -> bytes:
        if self.is_zip:
            return self._open_zip().read(member)
        return (self.path / member).read_bytes()

    def stamp(self) -> str:
        """What identifies the contents: a zip's size and time; a directory's files, each
        with its size and time (an image added, removed or moved between classes changes it;
        the directory's own time would not)."""
        if not self.is_zip:
            stats = self._directory_stats()
            listing = hashlib.sha256(repr(sorted(stats.items())).encode()).hexdigest()[:16]
            return f"{self.path.resolve()}:{len(stats)} files:{listing}"
        return f"{self.path.resolve()}:{file_stamp(self.path)}"

    def __getstate__(self):
        return {**self.__dict__, "_zip": None, "_pid": None, "_stats": None}


def _class_root(files: list[str]) -> str:
    """The prefix under which class folders start: skip single wrapping folders."""
    prefix = ""
    while True:
        below = [f[len(prefix):] for f in files if f.startswith(prefix)]
        tops = {f.split("/", 1)[0] for f in below if "/" in f}
        loose = [f for f in below if "/" not in f]
        if len(tops) != 1 or loose:
            return prefix
        top = next(iter(tops))
        deeper = [f for f in below if f.startswith(top + "/")]
        # Stop if the single folder holds the images themselves (a one-class dataset).
        if any("/" not in f[len(top) + 1:] for f in deeper):
            return prefix
        prefix += top + "/"


class ImageFolderSource(ImageSource):
    """Labelled images from `<root>/<class>/<image>` (root a directory or a .zip)."""

    def __init__(self, root: str | os.PathLike, split: str | None = None) -> None:
        super().__init__()
        self.root = Path(root).expanduser()
        if split is not None and split not in SPLITS:
            raise DataError(f"unknown split {split!r}; valid choices: {list(SPLITS)} or null")
        self.split = split
        self._items: list[tuple[_Container, str]] = []
        self._found: list[_Container] | None = None

    def _containers(self) -> list[_Container]:
        """The directories or zips read, found (and a directory listed) once."""
        if self._found is None:
            self._found = self._find_containers()
        return self._found

    def _find_containers(self) -> list[_Container]:
        names = [None] if self.split is None else list(SPLITS[self.split])
        found = []
        for name in names:
            base = self.root if name is None else self.root / name
            candidates = [base, base.with_name(base.name + ".zip")] if name else [base]
            path = next((c for c in candidates if c.exists()), None)
            if path is None:
                tried = " or ".join(str(c) for c in candidates)
                raise DataError(f"image folder not found: {tried}")
            found.append(_Container(path))
        return found

    def _load(self) -> None:
        per_container = []
        for container in self._containers():
            files = container.files()
            root = _class_root(files)
            images = sorted(f for f in files if f.startswith(root)
                            and f.lower().endswith(IMAGE_EXTENSIONS)
                            and "/" in f[len(root):])
            if not images:
                raise DataError(f"no class folders with images ({', '.join(IMAGE_EXTENSIONS)}) "
                                f"in {container.path}")
            per_container.append((container, root, images))
        classes = sorted({f[len(root):].split("/", 1)[0]
                          for _, root, images in per_container for f in images})
        items, labels = [], []
        for container, root, images in per_container:
            for f in images:
                items.append((container, f))
                labels.append(classes.index(f[len(root):].split("/", 1)[0]))
        self._items = items
        self._classes, self._labels = classes, np.asarray(labels, dtype=np.int64)

    def image(self, index: int) -> Image.Image:
        self._ensure_loaded()
        container, member = self._items[index]
        where = f"{container.path}:{member}" if container.is_zip else str(container.path / member)
        try:
            data = container.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:  # a damaged zip's member
            raise DataError(f"cannot read image {where}: {err} (the zip is damaged: copy it "
                            "again)") from err
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            raise DataError(f"cannot decode image {where}: {err}") from err
        return img

    def describe(self) -> str:
        stamps = ",".join(c.stamp() for c in self._containers())
        return f"ImageFolder({self.root}, split={self.split}, {stamps})"
