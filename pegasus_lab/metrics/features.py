"""Feature extraction in batches, and a disk cache for the features of real image sets keyed by
everything that changes them (the images' fingerprint and size, the extractor's sha256)."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from pegasus_lab.atomic import replacing
from pegasus_lab.metrics.generated import to_device

log = logging.getLogger(__name__)
PREPROCESSING_VERSION = "pytorch-fid-bilinear-299-v1"
# a long extraction (a CPU's: ~13 images/s on 2 cores) says how far it got this often
PROGRESS_EVERY_S = 30.0


@torch.no_grad()
def extract(extractor: torch.nn.Module, batches: Iterable[torch.Tensor],
            device: torch.device | str = "cpu", total: int | None = None,
            keep_on_device: bool = False, check: Callable[[], None] | None = None
            ) -> torch.Tensor:
    """Concatenated float32 features of uint8 image batches, on the CPU (`keep_on_device`:
    left on `device`, for statistics computed there). They stay on the device until the end:
    one copy back, no wait for the host after each batch. Every PROGRESS_EVERY_S seconds a
    log line counts the images done (of `total`, when given). `check` is called after each
    batch, and may raise to stop the extraction (a training run told to stop)."""
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
            log.info("Inception features: %s%s images, %.1f images/s", f"{done:,}", of,
                     done / (now - start))
    if not out:
        raise ValueError("no images to extract features from")
    features = torch.cat(out)
    return features if keep_on_device else features.cpu()


def uint8_batches(images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def cached_features(key: str, compute: Callable[[], torch.Tensor],
                    cache_dir: str | os.PathLike | None) -> torch.Tensor:
    """Features computed once per key and kept under cache_dir (written atomically)."""
    if cache_dir is None:
        return compute()
    digest = hashlib.sha256(f"{PREPROCESSING_VERSION}|{key}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"features-{digest}.pt"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)["features"]
        except Exception as err:  # damaged: recompute, never trust
            log.warning("recomputing unreadable feature cache %s (%s)", path, err)
    features = compute()
    with replacing(path) as tmp:
        torch.save({"features": features, "key": key}, tmp)
    return features
