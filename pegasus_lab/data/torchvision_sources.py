"""CIFAR-10 and MNIST through torchvision: its download when online, its files when not."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from pegasus_lab.atomic import replacing
from pegasus_lab.data.source import ImageSource, download_failed
from pegasus_lab.errors import DataError

SPLITS = {"train": (True,), "test": (False,), "both": (True, False)}


class _TorchvisionSource(ImageSource):
    """Shared by datasets that torchvision holds in memory as `.data` / `.targets`."""

    dataset_name = ""
    folder = ""  # what torchvision creates under root

    def __init__(self, root: str, split: str = "train") -> None:
        super().__init__()
        if split not in SPLITS:
            raise DataError(f"unknown {self.dataset_name} split {split!r}; valid choices: "
                            f"{list(SPLITS)}")
        self.root = Path(root).expanduser()
        self.split = split
        self._data: np.ndarray | None = None

    def _dataset(self, train: bool, download: bool):
        raise NotImplementedError

    def _class_names(self, dataset) -> list[str]:
        return list(dataset.classes)

    def _other_copy(self) -> str:
        """Where the data root holds the set in another form this project reads: a hint
        for the errors of a failed download or missing files."""
        return ""

    def prepare(self, download: bool = False) -> None:
        if not download:
            return
        for train in SPLITS[self.split]:
            try:
                self._dataset(train, download=True)
            except Exception as err:  # URLError, socket errors, checksum errors…
                raise download_failed(self.dataset_name, self.root, err,
                                      self._other_copy()) from err

    def _load(self) -> None:
        data, labels, classes = [], [], None
        for train in SPLITS[self.split]:
            try:
                ds = self._dataset(train, download=False)
            except RuntimeError as err:
                folder = self.root / self.folder
                # files there that torchvision found but could not read (a file cut short)
                if "not found" not in str(err) and folder.is_dir() \
                        and any(p.is_file() for p in folder.iterdir()):
                    raise DataError(f"cannot read {self.dataset_name} under {folder} ({err}): "
                                    "files cut short or damaged? Fetch them again "
                                    "(data.download=true, after removing them)") from err
                raise DataError(f"{self.dataset_name} not found under {folder} ({err}). Set "
                                "data.download=true to fetch it, or point paths.data_dir at "
                                f"a copy{self._other_copy()}") from err
            data.append(np.asarray(ds.data))
            labels.append(np.asarray(ds.targets, dtype=np.int64))
            classes = self._class_names(ds)
        self._data = np.concatenate(data)
        self._classes, self._labels = classes, np.concatenate(labels)

    def array(self) -> np.ndarray:
        self._ensure_loaded()
        return self._data

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(self.array()[index])

    def describe(self) -> str:
        return f"{self.dataset_name}({self.root.resolve()}, {self.split})"


class Cifar10Source(_TorchvisionSource):
    dataset_name = "CIFAR-10"
    folder = "cifar-10-batches-py"

    def _other_copy(self) -> str:
        jpegs = self.root / "cifar10"
        if not any((jpegs / name).exists() for name in ("train.zip", "train")):
            return ""
        return (f"; {jpegs} holds CIFAR-10 as JPEG class folders, which data=cifar10_folder "
                "reads (as a part of another set: README.md, paper 1)")

    def _dataset(self, train, download):
        from torchvision.datasets import CIFAR10
        return CIFAR10(str(self.root), train=train, download=download)


class MnistSource(_TorchvisionSource):
    dataset_name = "MNIST"
    folder = "MNIST/raw"

    def _dataset(self, train, download):
        from torchvision.datasets import MNIST
        self._unpack_archives()  # present archives: nothing to download either
        return MNIST(str(self.root), train=train, download=download)

    def _unpack_archives(self) -> None:
        """The idx files as the mirrors serve them (`*-ubyte.gz`, also how an offline copy
        often comes) are unpacked beside their archives once, as torchvision's download does;
        torchvision reads only the unpacked files."""
        for archive in sorted((self.root / self.folder).glob("*-ubyte.gz")):
            unpacked = archive.with_suffix("")
            if unpacked.exists():
                continue
            try:
                with gzip.open(archive) as packed, replacing(unpacked) as tmp, \
                        open(tmp, "wb") as out:
                    shutil.copyfileobj(packed, out)
            except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                raise DataError(f"cannot unpack {archive} into {unpacked.parent}: {err} "
                                f"(gunzip it there yourself, or fetch it again)") from err

    def _class_names(self, dataset) -> list[str]:
        return [str(i) for i in range(10)]  # torchvision's are "0 - zero"…
