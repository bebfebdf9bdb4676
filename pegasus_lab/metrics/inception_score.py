"""The Inception Score needs the standard InceptionV3 *with logits* (torch-fidelity's weights,
downloaded on first use). The offline FID network has no logits, so when those weights cannot
be loaded the score is reported as unavailable, with the reason, never approximated."""
from __future__ import annotations

import torch


def inception_score_metric():
    """(metric, None) when the standard weights load; (None, reason) otherwise."""
    try:
        from torchmetrics.image.inception import InceptionScore
        return InceptionScore(feature="logits_unbiased", splits=10), None
    except Exception as err:  # missing torch-fidelity, no network, no cached weights…
        return None, f"Inception Score unavailable: {type(err).__name__}: {err}"


def compute(metric) -> tuple[float, float]:
    mean, std = metric.compute()
    return float(mean), float(std)


def update(metric, images_uint8: torch.Tensor) -> None:
    metric.update(images_uint8.cpu() if images_uint8.shape[1] == 3
                  else images_uint8.expand(-1, 3, -1, -1).cpu())
