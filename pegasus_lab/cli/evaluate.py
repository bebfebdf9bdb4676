"""pegasus-evaluate: FID, KID (per class for conditional models) and the Inception Score when
available, of a checkpoint's samples or of one image set against another. Writes a JSON file
(next to the checkpoint by default) and the numbers to the run's TensorBoard log."""
from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pegasus_lab.atomic import write_text
from pegasus_lab.checkpoints import load_checkpoint, model_from_checkpoint
from pegasus_lab.cli.common import (check_values, check_writable, draw_label, log, pick_device,
                                    ready_datamodule, report_user_errors, run_command, use_average)
from pegasus_lab.config_groups import config_dir
from pegasus_lab.errors import ConfigError, require_bool, require_int, require_seed
from pegasus_lab.latent.truncation import require_truncation
from pegasus_lab.methods.ema import from_average
from pegasus_lab.metrics import distances
from pegasus_lab.metrics.evaluation import (build_extractor, check_fid_settings, dataset_features,
                                            drawn_indices, manifold_metrics, model_metrics)
from pegasus_lab.metrics.features import uint8_batches
from pegasus_lab.metrics.inception_score import inception_score_metric
from pegasus_lab.provenance import describe, without_diff


def evaluate(cfg: DictConfig) -> dict:
    check_values(cfg)
    if not cfg.ckpt and cfg.get("candidate") is None:
        raise ConfigError("nothing to evaluate: give ckpt=… or a candidate image set "
                          "(data@candidate=…)")
    _check_counts(cfg)
    check_writable(_out(cfg), "out")  # before the measurement, which may take many minutes
    device = pick_device(cfg.device)
    started = time.perf_counter()
    # the checkpoint and both image sets first: a mistyped path is said at once, before the
    # Inception networks load (or the Inception Score's weights are downloaded) and before
    # the reference's features are computed (minutes for 50k images on a CPU)
    model = stored = candidate = None
    if cfg.ckpt:
        model, stored = model_from_checkpoint(cfg.ckpt, device)
        use_average(model, cfg.average, cfg.ckpt)
    reference_cfg = cfg.get("reference") or (stored.data if stored is not None else None)
    if reference_cfg is None:
        raise ConfigError("no reference images: choose data@reference=…")
    reference = ready_datamodule(reference_cfg)
    if model is None:
        candidate = ready_datamodule(cfg.candidate)
    extractor = build_extractor(cfg.fid)
    inception = (inception_score_metric(device, cfg.get("inception_score_weights"))
                 if cfg.inception_score else None)
    batch = cfg.fid.batch_size
    real, real_labels = dataset_features(extractor, reference, batch, cfg.fid.cache_dir, device,
                                         cfg.reference_samples, cfg.seed)
    results: dict = {}
    if model is not None:
        results = model_metrics(model, extractor, real, real_labels, reference.classes,
                                cfg.num_samples, batch, cfg.seed, cfg.kid_subset_size,
                                cfg.kid_subsets, cfg.per_class, inception,
                                manifold=cfg.manifold, truncation=cfg.truncation)
        results["truncation"] = cfg.truncation
        # whether the samples came from an average of the generator's weights (model.ema_decay)
        results["from_average"] = from_average(model)
    else:
        # the candidate's draw with the next seed: the same set on both sides, both limited,
        # gives two different draws of it
        fake, _ = dataset_features(extractor, candidate, batch, cfg.fid.cache_dir, device,
                                   cfg.candidate_samples, cfg.seed + 1)
        results["fid"] = distances.fid(real, fake, device=device)
        kid_mean, kid_std, used = distances.kid(real, fake, cfg.kid_subset_size,
                                                cfg.kid_subsets, cfg.seed, device=device)
        results.update(kid_mean=kid_mean, kid_std=kid_std, kid_subset_size=used,
                       num_real=len(real), num_generated=len(fake),
                       candidate=candidate.source.describe())
        if cfg.manifold.num_samples:
            results.update(manifold_metrics(real, fake, cfg.manifold.k, cfg.manifold.num_samples,
                                            cfg.seed, device))
        if inception is not None:
            # the candidate set's own Inception Score (real CIFAR-10: 11.24 ± 0.12 in Salimans
            # et al. 2016), from its images: the features cached for FID have no logits
            if inception.available:
                drawn = drawn_indices(len(candidate.source), cfg.candidate_samples,
                                      cfg.seed + 1)
                for b in uint8_batches(candidate.uint8_images(drawn)[0], batch):
                    inception.update(b)
            results.update(inception.fields())
        if len(fake) < len(candidate.source):
            results.update(candidate_drawn=f"{len(fake)} of its {len(candidate.source)} "
                                           f"images, drawn with seed {cfg.seed + 1}")
    if cfg.reference_samples is not None and len(real) < len(reference.source):
        results.update(reference_drawn=f"{len(real)} of its {len(reference.source)} images, "
                                       f"drawn with seed {cfg.seed}")
    results.update(reference=reference.source.describe(), ckpt=cfg.ckpt,
                   feature_extractor={"weights": extractor.weights, "sha256": extractor.sha256},
                   seconds=round(time.perf_counter() - started, 2),
                   provenance=without_diff(describe(device)))
    out = _write(cfg, results)
    log.info("FID %.4f — written to %s", results["fid"], out)
    if cfg.ckpt and not cfg.out:  # a multirun job's checkpoint: its row in the sweep table
        _into_sweep_table(Path(cfg.ckpt).resolve().parents[1])
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}, indent=1))
    return results


def _into_sweep_table(run_dir: Path) -> None:
    from pegasus_lab.sweep import rewrite_for_run
    try:
        table = rewrite_for_run(run_dir)
    except Exception as err:  # the results are written; a table is no reason to fail
        log.warning("sweep table not rewritten: %s: %s", type(err).__name__, err)
        return
    if table is not None:
        log.info("sweep table with this evaluation: %s", table)


def _check_counts(cfg: DictConfig) -> None:
    """Said before anything loads: FID's covariance needs two samples, KID a subset, the
    manifold metrics a neighbour count; the seed, the switches and the fid group's values."""
    require_seed("seed", cfg.seed)
    for key in ("per_class", "inception_score", "tensorboard", "average"):
        require_bool(key, cfg[key])
    require_int("kid_subset_size", cfg.kid_subset_size, 1)
    require_int("kid_subsets", cfg.kid_subsets, 1)
    require_int("manifold.k", cfg.manifold.k, 1)
    require_int("manifold.num_samples", cfg.manifold.num_samples, 0)
    if require_truncation("truncation", cfg.truncation) is not None and not cfg.ckpt:
        raise ConfigError("truncation draws a checkpoint's samples nearer the mode of its "
                          "latent; a candidate image set (data@candidate=…) has no latents")
    if not cfg.average and not cfg.ckpt:
        raise ConfigError("average=false measures a checkpoint's trained generator instead of "
                          "its weights' average; a candidate image set (data@candidate=…) has "
                          "no generator")
    check_fid_settings(cfg.fid)
    if cfg.ckpt:
        require_int("num_samples", cfg.num_samples, 2)
    if cfg.reference_samples is not None:
        require_int("reference_samples", cfg.reference_samples, 2)
    if cfg.candidate_samples is not None:
        if cfg.ckpt:
            raise ConfigError("candidate_samples limits a candidate image set "
                              "(data@candidate=…); a checkpoint's samples are num_samples")
        require_int("candidate_samples", cfg.candidate_samples, 2)


def _results_name(cfg: DictConfig) -> str:
    """What a checkpoint's results are called: its name, a truncated draw's truncation, and
    `_no-average` for the trained weights rather than their average (`last`, `best-fid`,
    `last_truncation0.5`, `last_no-average`): their file's name, and
    (sweep.evaluation_prefix) their names in the sweep table and TensorBoard."""
    return Path(cfg.ckpt).stem + draw_label(cfg)


def _out(cfg: DictConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    if cfg.ckpt:
        return Path(cfg.ckpt).resolve().parents[1] / "metrics" / f"{_results_name(cfg)}.json"
    return Path(cfg.paths.output_dir) / "metrics.json"


def _write(cfg: DictConfig, results: dict) -> Path:
    out = write_text(_out(cfg), json.dumps(results, indent=2) + "\n")
    if cfg.tensorboard and cfg.ckpt:
        from torch.utils.tensorboard import SummaryWriter
        step = int(load_checkpoint(cfg.ckpt).get("global_step", 0))
        from pegasus_lab.sweep import evaluation_prefix
        prefix = evaluation_prefix(_results_name(cfg))
        with SummaryWriter(str(Path(cfg.ckpt).resolve().parents[1] / "tensorboard")) as w:
            for key, value in results.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                        key != "truncation":
                    w.add_scalar(prefix + key, value, step)
    return out


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(evaluate, cfg)


def main() -> None:
    run_command(_hydra_main, "evaluate")


if __name__ == "__main__":
    main()
