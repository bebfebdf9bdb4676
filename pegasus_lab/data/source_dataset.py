"""The normal path: a torch Dataset that decodes each image when asked (for DataLoader workers)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pegasus_lab.data.source import ImageSource, pil_to_tensor
from pegasus_lab.data.transforms import from_uint8


class SourceDataset(Dataset):
    def __init__(self, source: ImageSource, indices: np.ndarray, image_size: int, channels: int,
                 value_range: Sequence[float], hflip: bool = False) -> None:
        self.source, self.indices = source, np.asarray(indices)
        self.image_size, self.channels = image_size, channels
        self.value_range, self.hflip = tuple(value_range), hflip
        self.labels = source.labels()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[i])
        x = pil_to_tensor(self.source.image(index), self.image_size, self.channels)
        x = from_uint8(x, self.value_range)
        if self.hflip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        return x, int(self.labels[index])
