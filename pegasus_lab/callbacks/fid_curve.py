"""FID during training: every N steps (or epochs), `num_samples` generated images against the
training set's (cached) Inception features, logged as the `metrics/fid` curve (and KID's,
`metrics/kid`, unless `kid` is false); the (step, FID) history also lands in the run's
summary.json. The training set's FID statistics are computed at the first point and kept for
the others. KID's 20 subsets of 1000 cost the same at every point whatever the sample count
(5–6 s on a 2-core CPU, about twice the FID of 10k samples there): `kid: false` saves them.
With `manifold` ({k, num_samples}) each point also logs k-NN precision, recall, density and
coverage (`metrics/precision` …), kept in summary.json's manifold_history. The histories
travel in the checkpoints, so a resumed run's summary holds the points from before it too.
The lowest FID so far is logged beside each point as `metrics/fid_best`. The last point's
values join the run's final metrics (summary.json's `metrics`, and what
`optimized_metric=metrics/fid` or `metrics/fid_best` hands a sweeper). With `best_checkpoint`
(a path) the run is saved there whenever a point's FID is the lowest so far: the snapshot to
sample from when a GAN's quality drifts or collapses later in training. With `patience` (a
count of points) the run stops once that many points in a row have not gone below the lowest
FID before them: early stopping on the curve (Lightning's EarlyStopping cannot see it: the
points are logged straight to the loggers, and GANs have no validation loss)."""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.checkpoints import load_checkpoint
from pegasus_lab.errors import require_bool, require_int
from pegasus_lab.metrics import distances
from pegasus_lab.metrics.evaluation import (MANIFOLD_KEYS, build_extractor, check_fid_settings,
                                            dataset_features, manifold_metrics)
from pegasus_lab.metrics.features import extract
from pegasus_lab.metrics.generated import generated_uint8

log = logging.getLogger(__name__)


def _stop_when_terminated(trainer) -> Callable[[], None] | None:
    """A SIGTERM (`kill`, `timeout`, a scheduler) stops the run at the next batch of images
    rather than after the whole set: Lightning only takes note of it and stops at the next
    training step, and the training set's features alone take hours on a CPU. A run of one
    process only: the ranks of several stop together at Lightning's own checks."""
    if trainer.world_size > 1:
        return None

    def check() -> None:
        if trainer.received_sigterm:
            from lightning.pytorch.utilities.exceptions import SIGTERMException
            raise SIGTERMException

    return check


class FIDCurve(Callback):
    def __init__(self, fid: Mapping, every_n_steps: int | None = 5000,
                 num_samples: int = 10_000, seed: int = 0, at_end: bool = True,
                 every_n_epochs: int | None = None, kid: bool = True,
                 manifold: Mapping | None = None, best_checkpoint: str | None = None,
                 patience: int | None = None) -> None:
        self.fid_cfg = dict(fid)
        check_fid_settings(self.fid_cfg)  # when the run is built, not after its data is read
        self.manifold = dict(manifold) if manifold else None
        if self.manifold:  # said when the run is built, not at the first point
            require_int("fid_curve.manifold.k", self.manifold.get("k"), 1)
            require_int("fid_curve.manifold.num_samples", self.manifold.get("num_samples"), 1)
        self.every_n_steps, self.num_samples = every_n_steps, int(num_samples)
        self.every_n_epochs = every_n_epochs
        self.seed, self.at_end, self.kid = seed, at_end, kid
        require_bool("fid_curve.at_end", at_end)
        require_bool("fid_curve.kid", kid)
        self.best_checkpoint = best_checkpoint
        if patience is not None:
            require_int("fid_curve.patience", patience, 1)
        self.patience = patience
        self.extractor = None
        self.real = self.real_labels = None
        self.reference: distances.Reference | None = None  # the real set's, from the first point
        self._last_step = -1
        self.history: list[tuple[int, float]] = []
        self.manifold_history: list[tuple[int, dict]] = []
        self.latest: dict[str, float] = {}  # the last point's logged values, by metric name
        self._saved_best: float | None = None  # the FID of best_checkpoint, when resuming

    def state_dict(self) -> dict:
        return {"history": [list(point) for point in self.history],
                "manifold_history": [[step, dict(values)]
                                     for step, values in self.manifold_history],
                "last_step": self._last_step, "latest": dict(self.latest)}

    def load_state_dict(self, state: dict) -> None:
        self.history = [(int(step), float(fid)) for step, fid in state.get("history", [])]
        self.manifold_history = [(int(step), dict(values))
                                 for step, values in state.get("manifold_history", [])]
        self._last_step = int(state.get("last_step", -1))
        self.latest = {name: float(v) for name, v in state.get("latest", {}).items()}

    def final_metrics(self) -> dict[str, float]:
        """The run's final FID values: the last point's (`metrics/fid`, …) and the curve's
        lowest FID, `metrics/fid_best` (the one best_checkpoint holds), for a sweeper to
        optimise where the last point may be past the best (an early-stopped run's is)."""
        values = dict(self.latest)
        lowest = self._lowest()
        if lowest is not None:
            values["metrics/fid_best"] = lowest
        return values

    def _lowest(self) -> float | None:
        finite = [fid for _, fid in self.history if math.isfinite(fid)]
        return min(finite) if finite else None

    def on_fit_start(self, trainer, pl_module) -> None:
        # Load (and check) the weights before training, not hours into it.
        self.extractor = build_extractor(self.fid_cfg)

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self._saved_best = self._fid_of_saved_best(trainer)
            self.real, self.real_labels = dataset_features(
                self.extractor, trainer.datamodule, self.fid_cfg.get("batch_size", 200),
                self.fid_cfg.get("cache_dir"), pl_module.device,
                check=_stop_when_terminated(trainer))
        # a run resumed after its curve ran out of patience stays stopped (every rank holds
        # the history); a larger patience given to the resumed run lets it go on
        if self.history and self._out_of_patience(trainer.global_step):
            trainer.should_stop = True

    def _fid_of_saved_best(self, trainer) -> float | None:
        """A resumed run's best checkpoint may hold a point its last.ckpt does not (a kill
        between the two saves): its FID, so that only a lower one replaces it. A new run
        replaces whatever file an earlier run left at that path."""
        path = Path(self.best_checkpoint) if self.best_checkpoint else None
        if trainer.ckpt_path is None or path is None or not path.is_file():
            return None
        saved = load_checkpoint(path).get("callbacks", {}).get(self.state_key, {})
        fids = [float(fid) for _, fid in saved.get("history", []) if math.isfinite(fid)]
        return min(fids) if fids else None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.at_end:
            self.measure(trainer, pl_module)

    def measure(self, trainer, pl_module) -> None:
        """Every rank generates its share of the samples; the features are gathered and rank
        zero computes and logs FID (and KID), and says whether it is the best so far, which
        every rank needs to save the best checkpoint together."""
        step = trainer.global_step
        if step == self._last_step:
            return
        self._last_step = step
        world, rank = trainer.world_size, trainer.global_rank
        share = math.ceil(self.num_samples / world)
        k = int(getattr(pl_module, "num_classes", 0) or 0)
        labels = (torch.arange(rank * share, (rank + 1) * share) % k) if k else None
        batches = generated_uint8(pl_module, share, self.fid_cfg.get("batch_size", 200),
                                  self.seed + rank, labels)
        # the features stay on the device, for the gather and the statistics there
        fake = extract(self.extractor, batches, pl_module.device, keep_on_device=True,
                       check=_stop_when_terminated(trainer))
        if world > 1:
            fake = trainer.strategy.all_gather(fake).flatten(0, 1)
        best = stop = False
        if trainer.is_global_zero:
            best = self._score(trainer, pl_module, step, fake)
            stop = self._out_of_patience(step)
        if self.best_checkpoint or self.patience:
            best, stop = trainer.strategy.broadcast((best, stop), src=0)
        if self.best_checkpoint and best:
            trainer.save_checkpoint(self.best_checkpoint, weights_only=False)  # resumable
            log.info("step %d: the lowest FID so far; the run is saved as %s", step,
                     self.best_checkpoint)
        if stop:
            trainer.should_stop = True

    def _out_of_patience(self, step: int) -> bool:
        """Whether the last `patience` points all failed to go below the lowest FID before
        them (said in the log)."""
        if not self.patience:
            return False
        finite = [i for i, (_, fid) in enumerate(self.history) if math.isfinite(fid)]
        if not finite:
            return False
        # the first of equal lows: a tie is no improvement
        lowest = min(finite, key=lambda i: self.history[i][1])
        since = len(self.history) - 1 - lowest
        if since < self.patience:
            return False
        log.info("step %d: no FID below %.3f (step %d) for %d points: training stops "
                 "(callbacks.fid_curve.patience=%d)", step, self.history[lowest][1],
                 self.history[lowest][0], since, self.patience)
        return True

    def _score(self, trainer, pl_module, step: int, fake: torch.Tensor) -> bool:
        """FID (and the rest) of the gathered features, logged; True when it is the lowest
        of the curve so far."""
        fake = fake[:self.num_samples]
        if self.reference is None:
            self.reference = distances.Reference.of(self.real, device=pl_module.device)
        fid = distances.fid(self.reference, fake, device=pl_module.device)
        metrics = {"metrics/fid": fid}
        if self.kid:
            metrics["metrics/kid"] = distances.kid(self.real, fake, subsets=20,
                                                   device=pl_module.device)[0]
        if self.manifold:
            values = manifold_metrics(self.real, fake, self.manifold["k"],
                                      self.manifold["num_samples"], self.seed, pl_module.device)
            if "manifold_unavailable" in values:
                log.warning("step %d: %s", step, values["manifold_unavailable"])
            values = {name: values[name] for name in MANIFOLD_KEYS}
            metrics.update({f"metrics/{name}": v for name, v in values.items() if v is not None})
            self.manifold_history.append((step, values))
        earlier = [f for _, f in self.history]
        # a non-finite point is never the best, nor stands in a later point's way
        best = math.isfinite(fid) and all(fid < f for f in earlier + [self._saved_best]
                                          if f is not None and math.isfinite(f))
        self.history.append((step, fid))
        if self._lowest() is not None:  # the best so far, a curve of its own
            metrics["metrics/fid_best"] = self._lowest()
        self.latest = {name: float(v) for name, v in metrics.items()}
        log.info("step %d: FID %.3f (%d samples)", step, fid, len(fake))
        for lg in trainer.loggers:
            lg.log_metrics(metrics, step=step)
        return best
