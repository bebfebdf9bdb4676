"""Paper-0's white-pegasus pick as figures: the top-k grid and the best one, large."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pegasus_lab.latent.pegasus_maker import rank_pegasi
from pegasus_lab.metrics.whiteness import WhitenessRanker


def pick_white(images: torch.Tensor, top_k: int, large_size: int,
               pegasus_report: dict | None = None) -> dict:
    """{"top": (images, nrow), "best": (image, 1), "report": whiteness, scores, ranking}."""
    whiteness = WhitenessRanker().scores(images)
    probs = ((torch.tensor(pegasus_report["p_body"]), torch.tensor(pegasus_report["p_wing"]))
             if pegasus_report else (None, None))
    order, score = rank_pegasi(whiteness, *probs)
    top = images[order[:top_k]]
    best = F.interpolate(images[order[:1]], size=large_size, mode="bicubic",
                         align_corners=False).clamp(0, 1)
    report = {"whiteness": whiteness.tolist(), "rank_score": score.tolist(),
              "ranking": order.tolist(),
              "ranked_by": "whiteness × min(p_body, p_wing)" if pegasus_report else "whiteness"}
    return {"top": (top, int(math.ceil(math.sqrt(len(top))))), "best": (best, 1),
            "report": report}
