"""The pegasus score: how much a generated image looks like a horse *and* like a winged animal.

A linear probe on the FID Inception features, trained on CIFAR-10's training split (by
`pegasus-classifier`), gives class probabilities; p_body = p(horse) and
p_wing = p(bird ∪ airplane) = p(bird) + p(airplane). Reported: the share of images where both
exceed a threshold, and the mean of min(p_body, p_wing).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pegasus_lab.atomic import replacing
from pegasus_lab.errors import (TORCH_LOAD_ERRORS, CheckpointError, ConfigError,
                                 torch_load_failure)


class LinearProbe(nn.Module):
    """Standardised features → class logits."""

    def __init__(self, num_features: int, classes: Sequence[str]) -> None:
        super().__init__()
        self.classes = list(classes)
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))
        self.linear = nn.Linear(num_features, len(self.classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear((features - self.mean) / self.std)

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        return self(features).softmax(-1)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                     epochs: int = 30, lr: float = 1e-3, weight_decay: float = 1e-4,
                     batch_size: int = 512, seed: int = 0) -> LinearProbe:
    """Multinomial logistic regression by Adam on minibatches."""
    keep = labels >= 0
    features, labels = features[keep].float(), labels[keep]
    probe = LinearProbe(features.shape[1], classes)
    probe.mean.copy_(features.mean(0))
    probe.std.copy_(features.std(0).clamp_min(1e-6))
    opt = torch.optim.Adam(probe.linear.parameters(), lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=g)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(probe(features[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe.eval()


@torch.no_grad()
def accuracy(probe: LinearProbe, features: torch.Tensor, labels: torch.Tensor) -> float:
    keep = labels >= 0
    return float((probe(features[keep].float()).argmax(-1) == labels[keep]).float().mean())


def save_probe(probe: LinearProbe, path: str | Path, **meta) -> Path:
    path = Path(path)
    with replacing(path) as tmp:  # a probe in use is replaced whole or not at all
        torch.save({"state_dict": probe.state_dict(), "classes": probe.classes,
                    "num_features": probe.linear.in_features, **meta}, tmp)
    return path


PROBE_KEYS = frozenset(("state_dict", "classes", "num_features"))


def load_probe(path: str | Path, feature_sha256: str | None = None) -> tuple[LinearProbe, dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"pegasus-score classifier not found at {path}: train it with "
                              "`pegasus-classifier` (see README, Metrics)")
    retrain = "retrain it with `pegasus-classifier` (see README, Metrics)"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except TORCH_LOAD_ERRORS as err:
        raise CheckpointError(f"cannot read the pegasus-score classifier {path} "
                              f"({torch_load_failure(err)}); {retrain}") from err
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path} is not a pegasus-score classifier (it holds a "
                              f"{type(blob).__name__}); {retrain}")
    missing = sorted(PROBE_KEYS - blob.keys())
    if missing:
        raise CheckpointError(f"{path} is not a pegasus-score classifier (it lacks "
                              f"{', '.join(missing)}); {retrain}")
    if feature_sha256 is not None and blob.get("feature_sha256") != feature_sha256:
        raise CheckpointError(f"classifier {path} was trained on features of other weights "
                              f"({blob.get('feature_sha256')}); retrain it")
    probe = LinearProbe(blob["num_features"], blob["classes"])
    try:
        probe.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"the pegasus-score classifier {path} does not fit its own "
                              f"sizes ({str(err).splitlines()[0][:200]}); {retrain}") from err
    return probe.eval(), blob


@dataclass
class PegasusCriteria:
    body: list[str] = field(default_factory=lambda: ["horse"])
    wings: list[str] = field(default_factory=lambda: ["bird", "airplane"])
    threshold: float = 0.3

    def split(self, probs: torch.Tensor, classes: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(p_body, p_wing) per image: summed probabilities of the named classes."""
        missing = [c for c in self.body + self.wings if c not in classes]
        if missing:
            raise ConfigError(f"classifier has no class(es) {missing}; it knows {list(classes)}")
        body = probs[:, [classes.index(c) for c in self.body]].sum(1)
        wing = probs[:, [classes.index(c) for c in self.wings]].sum(1)
        return body, wing

    def summary(self, p_body: torch.Tensor, p_wing: torch.Tensor) -> dict[str, float]:
        both = (p_body > self.threshold) & (p_wing > self.threshold)
        return {"pegasus_share": float(both.float().mean()),
                "pegasus_mean_min": float(torch.minimum(p_body, p_wing).mean()),
                "pegasus_threshold": self.threshold,
                "p_body_mean": float(p_body.mean()), "p_wing_mean": float(p_wing.mean())}


class PegasusScorer:
    """uint8 images → per-image (p_body, p_wing), and a summary."""

    def __init__(self, extractor: nn.Module, probe_path: str | Path,
                 criteria: PegasusCriteria | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 200) -> None:
        self.extractor = extractor
        self.probe, meta = load_probe(probe_path, getattr(extractor, "sha256", None))
        self.test_accuracy = meta.get("test_accuracy")
        self.criteria = criteria or PegasusCriteria()
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.no_grad()
    def per_image(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from pegasus_lab.metrics.features import extract, uint8_batches
        feats = extract(self.extractor, uint8_batches(images_uint8, self.batch_size), self.device)
        return self.criteria.split(self.probe.probabilities(feats), self.probe.classes)

    def report(self, images_uint8: torch.Tensor) -> dict:
        p_body, p_wing = self.per_image(images_uint8)
        return {**self.criteria.summary(p_body, p_wing),
                "classifier_test_accuracy": self.test_accuracy,
                "p_body": p_body.tolist(), "p_wing": p_wing.tolist()}


def scorer_from_config(fid_cfg, pegasus_cfg, device, required: bool
                       ) -> tuple[PegasusScorer | None, str | None]:
    """(scorer, None), or (None, why not) when not `required` and weights or probe are missing."""
    from pegasus_lab.metrics.evaluation import build_extractor
    try:
        criteria = PegasusCriteria(list(pegasus_cfg["body"]), list(pegasus_cfg["wings"]),
                                   float(pegasus_cfg["threshold"]))
        return PegasusScorer(build_extractor(fid_cfg), pegasus_cfg["classifier"], criteria,
                             device, int(fid_cfg.get("batch_size", 200))), None
    except CheckpointError as err:
        if required:
            raise
        return None, str(err)
