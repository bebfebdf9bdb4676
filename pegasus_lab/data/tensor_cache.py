"""Decode a source once into uint8 tensors, cached on disk keyed by everything that shapes them."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from pegasus_lab.atomic import keep_if_writable
from pegasus_lab.data.source import ImageSource
from pegasus_lab.errors import DataError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclass
class ImageTensors:
    images: torch.Tensor  # uint8 N×C×H×W
    labels: torch.Tensor  # int64 N, -1 for unlabelled
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def cache_path(source: ImageSource, size: int, channels: int, cache_dir: str | os.PathLike) -> Path:
    key = f"v{FORMAT_VERSION}|{source.fingerprint()}|{size}|{channels}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(cache_dir) / f"images-{size}px-{channels}ch-{digest}.pt"


def build(source: ImageSource, size: int, channels: int) -> ImageTensors:
    images, labels = source.materialise(size, channels)
    if len(images) == 0:
        raise DataError(f"the data source is empty: {source.describe()}")
    return ImageTensors(images, labels, source.classes)


def load_or_build(source: ImageSource, size: int, channels: int,
                  cache_dir: str | os.PathLike | None) -> ImageTensors:
    """The source's tensors, from the cache when present; builds and writes it otherwise."""
    if cache_dir is None:
        return build(source, size, channels)
    path = cache_path(source, size, channels, cache_dir)
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return ImageTensors(blob["images"], blob["labels"], list(blob["classes"]))
        except Exception as err:  # a damaged cache is rebuilt, never trusted
            log.warning("rebuilding unreadable cache %s (%s)", path, err)
    log.info("decoding %s into %s", source.describe(), path)
    tensors = build(source, size, channels)
    # written whole (a killed run leaves no half-written cache); in a read-only data folder
    # (a cluster's shared data sets) not at all, with a warning
    blob = {"images": tensors.images, "labels": tensors.labels, "classes": tensors.classes,
            "source": source.describe()}
    keep_if_writable(path, lambda tmp: torch.save(blob, tmp), "the decoded images",
                     "paths.cache_dir=<a folder of yours> keeps them (or data.cache_dir=…)")
    return tensors
