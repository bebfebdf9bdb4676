"""Putting the pieces together: real-set features (cached), generated-set features, and the
numbers: FID, KID, per-class FID for conditional models, the Inception Score when available,
k-NN precision, recall, density and coverage."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch

from pegasus_lab.errors import ConfigError, require_int
from pegasus_lab.metrics import distances
from pegasus_lab.metrics.features import cached_image_features, extract
from pegasus_lab.metrics.generated import generated_uint8
from pegasus_lab.metrics.inception import PRECISIONS, InceptionFeatures
from pegasus_lab.metrics.manifold import precision_recall_density_coverage, subsample

MANIFOLD_KEYS = ("precision", "recall", "density", "coverage")


def check_fid_settings(fid_cfg: Mapping) -> None:
    """The `fid` group's own values, said as config errors (`fid.batch_size=0` was a
    traceback from the batching, `fid.precision=bf16` one from the extractor)."""
    require_int("fid.batch_size", fid_cfg.get("batch_size", 200))
    precision = fid_cfg.get("precision", "fp32")
    if precision not in PRECISIONS:
        raise ConfigError(f"fid.precision must be one of {list(PRECISIONS)}, got {precision!r}")


def build_extractor(fid_cfg: Mapping) -> InceptionFeatures:
    """From the `fid` config group: weights path, expected sha256, precision on a GPU."""
    check_fid_settings(fid_cfg)
    return InceptionFeatures(fid_cfg["weights"], fid_cfg["sha256"],
                             fid_cfg.get("precision", "fp32"))


def dataset_features(extractor, datamodule, batch_size: int, cache_dir, device,
                     limit: int | None = None, seed: int = 0,
                     check: Callable[[], None] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of every image of a set-up datamodule (train and held-out), or of
    at most `limit` of them, drawn without replacement with `seed` (only those are read);
    `check` as `extract`'s."""
    key = (f"{datamodule.source.fingerprint()}|{datamodule.image_size}|"
           f"{datamodule.channels}|{extractor.sha256}")
    drawn = drawn_indices(len(datamodule.source), limit, seed)
    if drawn is not None:
        images, labels = datamodule.uint8_images(drawn)
        key += f"|{limit} drawn with seed {seed}"
    else:
        images, labels = datamodule.uint8_images()
    feats = cached_image_features(key, extractor, images, batch_size, cache_dir, device, check)
    return feats, labels


def drawn_indices(total: int, limit: int | None, seed: int) -> np.ndarray | None:
    """The sorted indices of `limit` of `total` images drawn without replacement with `seed`;
    None for all of them (no limit, or one of at least `total`)."""
    if limit is None or limit >= total:
        return None
    drawn = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:limit]
    return drawn.sort().values.numpy()


def manifold_metrics(real: torch.Tensor, fake: torch.Tensor, k: int, num_samples: int,
                     seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """Precision, recall, density and coverage (`manifold.py`) on at most `num_samples` of
    each set, drawn with `seed`; None with the reason where a set is too small for k."""
    real, fake = subsample(real, num_samples, seed), subsample(fake, num_samples, seed + 1)
    try:
        values = precision_recall_density_coverage(real, fake, k, device)
    except ValueError as err:
        return {**dict.fromkeys(MANIFOLD_KEYS), "manifold_unavailable": str(err)}
    return {**values, "manifold_k": k, "manifold_num_real": len(real),
            "manifold_num_generated": len(fake)}


def _tee(batches: Iterator[torch.Tensor], metric) -> Iterator[torch.Tensor]:
    for b in batches:
        metric.update(b)
        yield b


def model_metrics(model, extractor, real: torch.Tensor, real_labels: torch.Tensor,
                  classes: list[str], num_samples: int, batch_size: int = 200, seed: int = 0,
                  kid_subset_size: int = 1000, kid_subsets: int = 100,
                  per_class: bool = True, inception=None,
                  with_kid: bool = True, reference: distances.Reference | None = None,
                  manifold: Mapping | None = None, truncation: float | None = None) -> dict:
    """FID/KID of `num_samples` generated images against `real` features (the statistics
    computed on the model's device); their Inception Score too with `inception`
    (`inception_score.inception_score_metric`'s answer). `reference`: `real`'s statistics
    (`distances.Reference.of(real)`), kept by a caller that measures against `real` again.
    `manifold`: {k, num_samples} for precision, recall, density and coverage (num_samples 0:
    none). `truncation`: the samples' latents within ±truncation (latent/truncation.py)."""
    device = model.device
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    labels = (torch.arange(num_samples) % num_classes) if num_classes else None
    batches = generated_uint8(model, num_samples, batch_size, seed, labels, truncation)
    results: dict = {}
    if inception is not None and inception.available:
        batches = _tee(batches, inception)
    # the generated features stay on the device, where their statistics are computed (50k
    # of them are 400 MB to send to the host and back)
    fake = extract(extractor, batches, device, num_samples, keep_on_device=True)
    results["fid"] = distances.fid(real if reference is None else reference, fake,
                                   device=device)
    if with_kid:
        kid_mean, kid_std, used = distances.kid(real, fake, kid_subset_size, kid_subsets, seed,
                                                device=device)
        results.update(kid_mean=kid_mean, kid_std=kid_std, kid_subset_size=used)
    if inception is not None:
        results.update(inception.fields())
    if manifold and manifold["num_samples"]:
        results.update(manifold_metrics(real, fake, manifold["k"], manifold["num_samples"],
                                        seed, device))
    if num_classes and per_class:
        # beside each class's FID, the real and generated images it was computed from: FID
        # over a few images is far above its value over many, and cannot be compared with it
        results["fid_per_class"], results["fid_per_class_counts"] = {}, {}
        for k, name in enumerate(classes[:num_classes]):
            real_k = real[real_labels == k]
            fake_k = fake[(labels == k).to(fake.device)]
            if len(real_k) >= 2 and len(fake_k) >= 2:
                results["fid_per_class"][name] = distances.fid(real_k, fake_k, device=device)
                results["fid_per_class_counts"][name] = {"real": len(real_k),
                                                         "generated": len(fake_k)}
    results.update(num_real=len(real), num_generated=len(fake))
    return results
