"""The fast path: the whole uint8 image set lives on the accelerator; batches are drawn there.

No worker processes and no host-to-device copies per step: a permutation per epoch, an index
gather, a flip and a conversion to float, all on the device.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from pegasus_lab.data.transforms import from_uint8, random_hflip


class DeviceBatches:
    """An iterable of (images, labels) batches over tensors held on `device`.

    `rank`/`world_size` give each distributed process its own shard of every epoch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 value_range: Sequence[float], hflip: bool = False, shuffle: bool = True,
                 drop_last: bool = True, device: torch.device | str = "cpu", seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.value_range = batch_size, tuple(value_range)
        self.hflip, self.shuffle, self.drop_last = hflip, shuffle, drop_last
        self.rank, self.world_size = rank, world_size
        self.seed, self.epoch = seed, 0
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def _shard_size(self) -> int:
        return len(self.labels) // self.world_size

    def __len__(self) -> int:
        n = self._shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> torch.Tensor:
        n = len(self.labels)
        if self.shuffle:
            # Same permutation on every rank (seed + epoch), then each takes its own slice.
            g = torch.Generator(device="cpu").manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        shard = self._shard_size()
        return order[self.rank * shard:(self.rank + 1) * shard]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = from_uint8(self.images[idx], self.value_range)
            if self.hflip:
                x = random_hflip(x, self.generator)
            yield x, self.labels[idx]

    def sample(self, n: int, among_first: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n random images (with replacement), e.g. critic batches drawn inside a step; with
        `among_first`, only among the first that many of this process's (unshuffled) order."""
        if among_first is None:
            idx = torch.randint(len(self.labels), (n,), device=self.device,
                                generator=self.generator)
        else:
            pool = self._order()[:among_first]
            idx = pool[torch.randint(len(pool), (n,), device=self.device,
                                     generator=self.generator)]
        x = from_uint8(self.images[idx], self.value_range)
        if self.hflip:
            x = random_hflip(x, self.generator)
        return x, self.labels[idx]
