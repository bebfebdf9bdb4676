"""One LightningDataModule for every image experiment: a source, a size, a value range, a path."""
from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from pegasus_lab.data.device_batches import DeviceBatches
from pegasus_lab.data.source import ClassFilter, ImageSource
from pegasus_lab.data.source_dataset import SourceDataset
from pegasus_lab.data.tensor_cache import ImageTensors, load_or_build
from pegasus_lab.data.transforms import check_range, from_uint8
from pegasus_lab.errors import ConfigError, DataError, require_bool, require_int, require_seed


class ImageDataModule(L.LightningDataModule):
    """Images from `source` at `image_size`² with `channels` channels, scaled to `value_range`.

    fast_path=True decodes everything once into a uint8 tensor (cached on disk under
    `cache_dir`) that is kept on the accelerator; fast_path=False streams through DataLoader
    workers, for sets that do not fit in memory. A seeded `val_fraction` is held out.
    `download` lets sources that can (torchvision's) fetch missing files in `prepare_data`.
    `classes` keeps only those classes, by name, labelled by their position in the list.
    """

    def __init__(self, source: ImageSource, image_size: int = 32, channels: int = 3,
                 value_range: Sequence[float] = (0.0, 1.0), batch_size: int = 64,
                 val_fraction: float = 0.05, hflip: bool = True, fast_path: bool = True,
                 cache_dir: str | None = None, num_workers: int = 2, seed: int = 0,
                 drop_last: bool = True, download: bool = True,
                 classes: Sequence[str] | None = None) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        require_int("image_size", image_size, 4)
        require_int("batch_size", batch_size, 1)
        require_int("num_workers", num_workers, 0)
        require_seed("seed", seed, where="the data's ")  # the split's (numpy refuses -1)
        for key, flag in (("hflip", hflip), ("fast_path", fast_path), ("drop_last", drop_last),
                          ("download", download)):
            require_bool(key, flag)
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.source = ClassFilter(source, classes) if classes is not None else source
        self.image_size, self.channels = int(image_size), int(channels)
        self.value_range = check_range(value_range)
        self.batch_size, self.val_fraction = int(batch_size), float(val_fraction)
        self.hflip, self.fast_path, self.cache_dir = hflip, fast_path, cache_dir
        self.num_workers, self.seed, self.drop_last = num_workers, seed, drop_last
        self.download = download
        self.tensors: ImageTensors | None = None
        self.train_idx: np.ndarray | None = None
        self.val_idx: np.ndarray | None = None

    # -- Lightning hooks ----------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.source.prepare(self.download)
        if self.fast_path and self.cache_dir:
            load_or_build(self.source, self.image_size, self.channels, self.cache_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.train_idx is not None:
            return
        if self.fast_path:
            self.tensors = load_or_build(self.source, self.image_size, self.channels,
                                         self.cache_dir)
            n = len(self.tensors)
        else:
            n = len(self.source)
            if n == 0:
                raise DataError(f"the data source is empty: {self.source.describe()}")
        order = np.random.default_rng(self.seed).permutation(n)
        n_val = int(round(n * self.val_fraction))
        self.val_idx, self.train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

    def train_dataloader(self):
        if len(self.train_idx) < self.batch_size and self.drop_last:
            raise DataError(f"only {len(self.train_idx)} training images for batch size "
                            f"{self.batch_size}; lower data.batch_size")
        self._train_loader = self._loader(self.train_idx, train=True)
        return self._train_loader

    def sample_train(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n random training images (with flips), drawn where the training batches are: on the
        accelerator for the fast path, e.g. extra critic batches inside one training step.
        Under trainer.overfit_batches, only among the images of the batches overfitted on."""
        loader = getattr(self, "_train_loader", None)
        overfit = self._overfit_images()
        if isinstance(loader, DeviceBatches):
            return loader.sample(n, among_first=overfit)
        pool = self.train_idx
        if overfit is not None:  # the unshuffled order Lightning's sampler gives this process
            rank, world = self._rank()
            pool = pool[rank::world][:overfit]
        idx = np.random.default_rng().choice(pool, size=n)
        dataset = SourceDataset(self.source, idx, self.image_size, self.channels,
                                self.value_range, hflip=self.hflip)
        xs, ys = zip(*(dataset[i] for i in range(n)))
        device = self._device()
        return torch.stack(xs).to(device), torch.tensor(ys, device=device)

    def val_dataloader(self):
        if self.val_idx is None or len(self.val_idx) == 0:
            return []
        return self._loader(self.val_idx, train=False)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return self.tensors.classes if self.tensors is not None else self.source.classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _overfitting(self) -> bool:
        """trainer.overfit_batches is set: the same first batches every epoch, so unshuffled
        (Lightning unshuffles DataLoaders itself, but not the fast path's batches)."""
        trainer = getattr(self, "trainer", None)
        return bool(trainer is not None and trainer.overfit_batches)

    def _overfit_images(self) -> int | None:
        """How many images the overfitted batches hold, while overfitting during fit."""
        if not self._overfitting():
            return None
        batches = self.trainer.num_training_batches
        return None if batches == float("inf") else int(batches) * self.batch_size

    def _loader(self, idx: np.ndarray, train: bool):
        shuffle = train and not self._overfitting()
        if self.fast_path:
            sel = torch.from_numpy(idx)
            rank, world = self._rank()
            return DeviceBatches(self.tensors.images[sel], self.tensors.labels[sel],
                                 self.batch_size, self.value_range, hflip=train and self.hflip,
                                 shuffle=shuffle, drop_last=train and self.drop_last,
                                 device=self._device(), seed=self.seed,
                                 rank=rank, world_size=world)
        dataset = SourceDataset(self.source, idx, self.image_size, self.channels,
                                self.value_range, hflip=train and self.hflip)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          drop_last=train and self.drop_last, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0,
                          pin_memory=torch.cuda.is_available())

    def uint8_images(self, indices: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels of the whole set (or `indices`), whichever path is in use."""
        if self.tensors is not None:
            if indices is None:
                return self.tensors.images, self.tensors.labels
            sel = torch.as_tensor(np.asarray(indices), dtype=torch.long)
            return self.tensors.images[sel], self.tensors.labels[sel]
        return self.source.materialise(self.image_size, self.channels, indices)

    def class_indices(self, name: str, where: str = "") -> np.ndarray:
        """Indices (into the whole set) of the images of class `name`; `where` starts the
        error for a name the data lacks (the setting that gave it)."""
        if name not in self.classes:
            raise DataError(f"{where}unknown class {name!r}; valid choices: {self.classes}")
        labels = (self.tensors.labels.numpy() if self.tensors is not None
                  else self.source.labels())
        return np.nonzero(labels == self.classes.index(name))[0]

    def example_batch(self, n: int, with_labels: bool = False):
        """The first n held-out images (training images when nothing is held out), as floats
        (and their labels)."""
        pool = self.val_idx if self.val_idx is not None and len(self.val_idx) else self.train_idx
        images, labels = self.uint8_images(pool[:n])
        images = from_uint8(images, self.value_range)
        return (images, labels) if with_labels else images
