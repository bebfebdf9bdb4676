"""CIFAR-10 and MNIST through torchvision: its download when online, its files when not."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

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

    def prepare(self, download: bool = False) -> None:
        if not download:
            return
        for train in SPLITS[self.split]:
            try:
                self._dataset(train, download=True)
            except Exception as err:  # URLError, socket errors, checksum errors…
                raise download_failed(self.dataset_name, self.root, err) from err

    def _load(self) -> None:
        data, labels, classes = [], [], None
        for train in SPLITS[self.split]:
            try:
                ds = self._dataset(train, download=False)
            except RuntimeError as err:
                raise DataError(f"{self.dataset_name} not found under "
                                f"{self.root / self.folder} ({err}). Set data.download=true "
                                "to fetch it, or point paths.data_dir at a copy") from err
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

    def _dataset(self, train, download):
        from torchvision.datasets import CIFAR10
        return CIFAR10(str(self.root), train=train, download=download)


class MnistSource(_TorchvisionSource):
    dataset_name = "MNIST"
    folder = "MNIST/raw"

    def _dataset(self, train, download):
        from torchvision.datasets import MNIST
        return MNIST(str(self.root), train=train, download=download)

    def _class_names(self, dataset) -> list[str]:
        return [str(i) for i in range(10)]  # torchvision's are "0 - zero"…
