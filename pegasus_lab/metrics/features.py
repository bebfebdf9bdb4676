"""Feature extraction in batches, and a disk cache for the features of real image sets keyed by
everything that changes them (the images' fingerprint and size, the extractor's sha256), kept
in parts while a slow extraction runs (`cached_image_features`)."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from pegasus_lab.atomic import keep_if_writable
from pegasus_lab.metrics.generated import to_device

log = logging.getLogger(__name__)
PREPROCESSING_VERSION = "pytorch-fid-bilinear-299-v1"
# a long extraction (a CPU's: ~13 images/s on 2 cores) says how far it got this often
PROGRESS_EVERY_S = 30.0


@torch.no_grad()
def extract(extractor: torch.nn.Module, batches: Iterable[torch.Tensor],
            device: torch.device | str = "cpu", total: int | None = None,
            keep_on_device: bool = False, check: Callable[[], None] | None = None,
            done_before: int = 0) -> torch.Tensor:
    """Concatenated float32 features of uint8 image batches, on the CPU (`keep_on_device`:
    left on `device`, for statistics computed there). They stay on the device until the end:
    one copy back, no wait for the host after each batch. Every PROGRESS_EVERY_S seconds a
    log line counts the images done (after `done_before` of a larger set; of `total`, when
    given). `check` is called after each batch, and may raise to stop the extraction (a
    training run told to stop)."""
    extractor = extractor.to(device).eval()
    out, done = [], 0
    start = last = time.monotonic()
    for b in batches:
        out.append(extractor(to_device(b, device)).float())
        done += len(b)
        if check is not None:
            check()
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            of = f" of {total:,}" if total else ""
            log.info("Inception features: %s%s images, %.1f images/s",
                     f"{done_before + done:,}", of, done / (now - start))
    if not out:
        raise ValueError("no images to extract features from")
    features = torch.cat(out)
    return features if keep_on_device else features.cpu()


def uint8_batches(images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def _cache_path(cache_dir: str | os.PathLike, key: str) -> Path:
    digest = hashlib.sha256(f"{PREPROCESSING_VERSION}|{key}".encode()).hexdigest()[:20]
    return Path(cache_dir) / f"features-{digest}.pt"


def _load(path: Path, rows: int | None = None) -> torch.Tensor | None:
    """A cache file's features (with `rows` rows, when given); None when it is not there, or
    is damaged or of another size (then computed again: never trusted)."""
    if not path.exists():
        return None
    try:
        features = torch.load(path, map_location="cpu", weights_only=True)["features"]
    except Exception as err:
        log.warning("recomputing unreadable feature cache %s (%s)", path, err)
        return None
    if rows is not None and len(features) != rows:
        log.warning("recomputing feature cache %s: %d rows, not %d", path, len(features), rows)
        return None
    return features


def _save(path: Path, features: torch.Tensor, key: str) -> bool:
    """Keep `features` at `path`; False (said once, in a warning) where it cannot be written."""
    return keep_if_writable(path, lambda tmp: torch.save({"features": features, "key": key}, tmp),
                     "the real images' Inception features",
                     "paths.cache_dir=<a folder of yours> keeps them (or fid.cache_dir=…)")


# an image set's features are computed in parts of this many images; on a slow device (a CPU:
# minutes a part) each part is kept as it is done, so that a stopped extraction goes on
PART_IMAGES = 5000
KEEP_PARTS_SLOWER_THAN_S = 60.0


def cached_image_features(key: str, extractor: torch.nn.Module, images: torch.Tensor,
                          batch_size: int, cache_dir: str | os.PathLike | None,
                          device: torch.device | str = "cpu",
                          check: Callable[[], None] | None = None) -> torch.Tensor:
    """`extract` of uint8 `images`, computed once per key and kept under cache_dir (written
    atomically; a damaged file, or one of another size, is computed again, never trusted). A
    part of PART_IMAGES that took over KEEP_PARTS_SLOWER_THAN_S is kept beside the cache until
    the whole is written: Ctrl-C, a kill or a SIGTERM part-way through a CPU's hours over a 50k
    set loses at most the part in progress, and the same command goes on from the parts done.
    A GPU's parts take seconds and are not written."""
    if cache_dir is None:
        return extract(extractor, uint8_batches(images, batch_size), device, len(images),
                       check=check)
    path = _cache_path(cache_dir, key)
    features = _load(path, len(images))
    if features is not None:
        return features
    parts_dir = path.with_suffix(".parts")
    starts = range(0, len(images), PART_IMAGES)
    kept = [_load(parts_dir / f"{n:05d}.pt", min(PART_IMAGES, len(images) - start))
            for n, start in enumerate(starts)]
    if any(part is not None for part in kept):
        log.info("Inception features: %d of %d parts kept from an extraction stopped "
                 "part-way (%s)", sum(part is not None for part in kept), len(kept), parts_dir)
    out, writable = [], True  # after one refused write, no more tries and warnings
    for n, (start, part) in enumerate(zip(starts, kept)):
        if part is None:
            began = time.monotonic()
            part = extract(extractor, uint8_batches(images[start:start + PART_IMAGES],
                                                    batch_size),
                           device, len(images), check=check, done_before=start)
            if writable and time.monotonic() - began > KEEP_PARTS_SLOWER_THAN_S \
                    and len(starts) > 1:
                writable = _save(parts_dir / f"{n:05d}.pt", part, f"{key}|part {n}")
        out.append(part)
    features = torch.cat(out)
    if writable:
        _save(path, features, key)
    if parts_dir.exists():
        shutil.rmtree(parts_dir, ignore_errors=True)
    return features
