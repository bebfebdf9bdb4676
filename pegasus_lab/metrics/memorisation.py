"""The memorisation check: does the generator copy its training images?

For each generated image, its nearest training image (L2 in Inception feature space, or in
pixel space when the FID weights are absent); the same for held-out real images. If generated
images sit much closer to the training set than held-out real images do, the model memorises.
"""
from __future__ import annotations

import torch


@torch.no_grad()
def nearest(queries: torch.Tensor, bank: torch.Tensor, chunk: int = 1024
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of each query row's nearest bank row, by Euclidean distance."""
    queries, bank = queries.flatten(1).float(), bank.flatten(1).float()
    dists, idxs = [], []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk], bank)
        best = d.min(dim=1)
        dists.append(best.values)
        idxs.append(best.indices)
    return torch.cat(dists), torch.cat(idxs)


def pixel_features(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().flatten(1) / 255.0


def summary(generated: torch.Tensor, heldout: torch.Tensor) -> dict[str, float]:
    """Distances to the nearest training image, generated vs held-out real."""
    threshold = torch.quantile(heldout, 0.01)
    return {
        "generated_median": float(generated.median()),
        "heldout_median": float(heldout.median()),
        "median_ratio": float(generated.median() / heldout.median().clamp_min(1e-12)),
        # share of generated images closer to the training set than 99% of real held-out ones
        "generated_below_heldout_p1": float((generated < threshold).float().mean()),
        "num_generated": len(generated), "num_heldout": len(heldout),
    }
