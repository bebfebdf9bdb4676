"""The Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))) on each of `splits`
consecutive equal parts of the samples; the mean and the (population) standard deviation of
the parts, in float64, as the original code and torch-fidelity compute it.

p(y|x) needs InceptionV3 *with its classifier*: torch-fidelity's port of the TF 2015-12-05
graph (1008 classes, TF-exact bilinear resize to 299², the logits without the bias, as
torch-fidelity scores). The FID file has no classifier, so these are other weights:
torch-fidelity's, downloaded into torch's hub cache on first use, or a local copy named by
`weights`. When they cannot be had the score is reported as unavailable with the reason,
never approximated; a local copy that is named but missing (or does not load) is an error.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pegasus_lab.errors import CheckpointError
from pegasus_lab.metrics.inception import CPU_CHUNK, fp32_precision

SPLITS = 10
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name


def inception_score(logits: torch.Tensor, splits: int = SPLITS) -> tuple[float, float]:
    """(mean, std) of the score over `splits` consecutive parts of N×classes `logits`; part i
    holds rows i·N//splits to (i+1)·N//splits."""
    n = len(logits)
    if n < splits:
        raise ValueError(f"the Inception Score takes at least {splits} samples ({splits} "
                         f"parts), got {n}")
    log_p = logits.double().log_softmax(dim=1)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        part, log_part = p[i * n // splits:(i + 1) * n // splits], \
            log_p[i * n // splits:(i + 1) * n // splits]
        log_marginal = part.mean(dim=0, keepdim=True).log()
        scores.append((part * (log_part - log_marginal)).sum(dim=1).mean().exp())
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(correction=0))


class InceptionLogits(nn.Module):
    """uint8 N×{1,3}×H×W images → N×1008 unbiased logits, in IEEE fp32 (a few images at a
    time on a CPU, as the FID extractor)."""

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["logits_unbiased"],
                                               feature_extractor_weights_path=weights)
        # inference from the start: torch-fidelity 0.3 leaves the network in training mode,
        # whose batch norm would use (and update) batch statistics
        self.net.requires_grad_(False)
        self.eval()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.device.type != "cuda":
            return torch.cat([self.net(chunk)[0] for chunk in images.split(CPU_CHUNK)])
        with fp32_precision("ieee"):
            return self.net(images)[0]

    def train(self, mode: bool = True):  # always inference: its batch norm stays frozen
        return super().train(False)


class InceptionScore:
    """Collects the logits of uint8 image batches on `device`; `fields()` scores them."""
    available = True

    def __init__(self, net: InceptionLogits, device, splits: int = SPLITS) -> None:
        self.net, self.device, self.splits = net.to(device), device, splits
        self.logits: list[torch.Tensor] = []

    def update(self, images_uint8: torch.Tensor) -> None:
        self.logits.append(self.net(images_uint8.to(self.device)))

    def fields(self) -> dict:
        """The score's JSON fields; too few images are said there rather than raised, so that
        the numbers computed beside it are kept."""
        try:
            mean, std = inception_score(torch.cat(self.logits).cpu(), self.splits)
        except ValueError as err:
            return {"inception_score": None, "inception_score_unavailable": str(err)}
        return {"inception_score": mean, "inception_score_std": std}


class UnavailableScore:
    """Stands in for the score when its network cannot load: says why in the JSON."""
    available = False

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def update(self, images_uint8: torch.Tensor) -> None:
        pass

    def fields(self) -> dict:
        return {"inception_score": None, "inception_score_unavailable": self.reason}


def inception_score_metric(device, weights: str | Path | None = None
                           ) -> InceptionScore | UnavailableScore:
    """The score's collector when the network with logits loads, else why not. `weights`: a
    local copy of torch-fidelity's InceptionV3 weights (a named file that is missing or does
    not load is an error); None: torch-fidelity's own download, cached by torch hub. Built
    before any long work, so that a bad file stops the command at once."""
    if weights is not None:
        weights = Path(weights).expanduser()
        if not weights.is_file():
            raise CheckpointError(f"Inception Score weights not found at {weights}: set "
                                  f"inception_score_weights to a copy of torch-fidelity's "
                                  f"{WEIGHTS_FILE}, or null (download them), or "
                                  f"inception_score=false")
    try:
        net = InceptionLogits(None if weights is None else str(weights))
    except Exception as err:  # noqa: BLE001 — no torch-fidelity, no network, a damaged file…
        reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"
        if weights is not None:  # the file asked for: an error, not a silent gap
            raise CheckpointError(f"cannot load the Inception Score weights {weights}: "
                                  f"{reason}") from err
        return UnavailableScore(f"Inception Score unavailable: {reason} (offline: name a copy "
                                f"of {WEIGHTS_FILE} with inception_score_weights=…)")
    return InceptionScore(net, device)
