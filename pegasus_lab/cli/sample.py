"""pegasus-sample: load a checkpoint written by pegasus-train and draw figures from it.

  pegasus-sample ckpt=PATH                      # random samples, an 8×8 grid
  pegasus-sample ckpt=PATH mode=class_grid      # a row per class (conditional models)
  pegasus-sample ckpt=PATH mode=walk            # rows of latent interpolation
  pegasus-sample ckpt=PATH mode=critic_picks    # the samples the critic rates most real
  pegasus-sample ckpt=PATH mode=nearest         # memorisation check: nearest training images
  pegasus-sample ckpt=PATH mode=interpolate     # paper-1's horse→bird slerp grid
  pegasus-sample ckpt=PATH mode=pegasus         # paper-0's blended pegasi and the whitest

The model is rebuilt from the config stored in the checkpoint; the data (for the modes that
need images) too, with anything under `data:` here merged on top (e.g. data.source.root=…).
The figure goes to `out` (default <run>/samples/<mode>.png, or <run>/samples/<checkpoint>/
<mode>.png for a checkpoint other than last.ckpt; <mode>_truncation<t>.png with truncation=t,
<mode>_no-average.png with average=false),
extra figures beside it with a suffix, numbers into a JSON file of the same name.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.atomic import write_text
from pegasus_lab.checkpoints import model_from_checkpoint
from pegasus_lab.cli.common import (check_writable, draw_label, log, pick_device, ready_datamodule,
                                    report_user_errors, run_command, use_average)
from pegasus_lab.config_groups import config_dir
from pegasus_lab.errors import (CheckpointError, ConfigError, from_settings,
                                require_auto_or_bool, require_bool, require_int, require_seed)
from pegasus_lab.figures import sampling
from pegasus_lab.figures.memorisation import memorisation_check
from pegasus_lab.figures.pegasi import pick_white
from pegasus_lab.images import grid, save_png
from pegasus_lab.latent.pair_grid import (PairGridSpec, pair_interpolation, require_image_encoder,
                                         select_images)
from pegasus_lab.latent.pegasus_maker import PegasusSpec, make_pegasi
from pegasus_lab.latent.truncation import require_truncation
from pegasus_lab.metrics.evaluation import build_extractor
from pegasus_lab.metrics.features import extract, uint8_batches
from pegasus_lab.metrics.generated import to_uint8
from pegasus_lab.metrics.memorisation import pixel_features
from pegasus_lab.metrics.pegasus_score import scorer_from_config
from pegasus_lab.plots import draw_histograms


def _data(cfg, stored):
    return ready_datamodule(OmegaConf.merge(stored.data, cfg.get("data") or {}))


def _fraction(value) -> str:
    """A stored fraction (e.g. the probe's test accuracy) to 4 digits, or 'unknown'."""
    return "unknown" if value is None else f"{float(value):.4f}"


def _pegasus_report(cfg: DictConfig, images: torch.Tensor, device) -> dict:
    """Each image's p(body) and p(wing) from the pegasus classifier ({} when unavailable)."""
    if cfg.pegasus_score is False:
        return {}
    scorer, why_not = scorer_from_config(cfg.fid, cfg.pegasus, device,
                                         required=cfg.pegasus_score is True)
    if scorer is None:
        log.warning("pegasus score skipped: %s", why_not)
        return {}
    report = scorer.report(to_uint8(images))
    log.info("pegasus score: %.3f of images pass (threshold %.2f), mean min(p_body, p_wing) "
             "%.3f; classifier test accuracy %s", report["pegasus_share"],
             report["pegasus_threshold"], report["pegasus_mean_min"],
             _fraction(report["classifier_test_accuracy"]))
    return report


def _featuriser(cfg, device):
    """Inception features when the FID weights are there (or required), else pixels."""
    if cfg.nearest.features != "pixels":
        try:
            extractor = build_extractor(cfg.fid)
            return (lambda imgs: extract(extractor, uint8_batches(imgs, cfg.fid.batch_size),
                                         device)), "inception"
        except CheckpointError as err:
            if cfg.nearest.features == "inception":
                raise
            log.warning("nearest neighbours in pixel space: %s", err)
    return pixel_features, "pixels"


def _figures(cfg: DictConfig, model, stored, out: Path) -> tuple[dict, dict]:
    """(name suffix → (images, nrow), report) for the chosen mode; suffix '' is the main one."""
    mode, t = cfg.mode, cfg.truncation
    if mode == "grid":
        return {"": sampling.random_grid(model, cfg.num_samples, cfg.seed, t)}, {}
    if mode == "class_grid":
        return {"": sampling.class_grid(model, cfg.per_class, cfg.seed, t)}, {}
    if mode == "walk":
        w = cfg.walk
        return {"": sampling.latent_walk(model, w.rows, w.steps, w.method, cfg.seed, t)}, {}
    if mode == "critic_picks":
        return {"": sampling.critic_picks(model, cfg.num_samples, cfg.num_candidates,
                                          cfg.seed, truncation=t)}, {}
    if mode == "nearest":
        featurise, space = _featuriser(cfg, model.device)
        check = memorisation_check(model, _data(cfg, stored), featurise,
                                   cfg.nearest.num_generated, cfg.nearest.num_pairs, cfg.seed,
                                   t)
        draw_histograms(check["distances"], out.with_name(f"{out.stem}_distances.png"),
                        f"distance to the nearest training image ({space})")
        log.info("memorisation: median distance generated %.4g vs held-out %.4g (%s)",
                 check["report"]["generated_median"], check["report"]["heldout_median"], space)
        return {"": (check["pairs"], 8)}, {"feature_space": space, "truncation": t,
                                           **check["report"]}
    if mode in ("interpolate", "pegasus"):
        require_image_encoder(model, f"mode={mode}")
    if mode == "interpolate":
        spec = _spec(PairGridSpec, cfg, "interpolation")
        images, partners = pair_interpolation(model, *select_images(_data(cfg, stored), spec),
                                              spec.weights(), spec.method, spec.seed)
        report = {**_pegasus_report(cfg, images, model.device), "partners": partners.tolist()}
        return {"": (images, spec.steps)}, report
    if mode == "pegasus":
        spec = _spec(PegasusSpec, cfg, "blend")
        images, made_from = make_pegasi(model, _data(cfg, stored), spec)
        scores = _pegasus_report(cfg, images, model.device)
        picked = pick_white(images, spec.top_k, spec.large_size, scores or None)
        log.info("best pegasus (by %s): image %d", picked["report"]["ranked_by"],
                 picked["report"]["ranking"][0])
        figures = {"": (images, math.ceil(math.sqrt(len(images)))),
                   f"_top{spec.top_k}": picked["top"], "_best": picked["best"]}
        return figures, {**scores, **made_from, **picked["report"]}
    raise ConfigError(f"unknown mode {mode!r}; valid choices: {list(MODES)}")


MODES = ("grid", "class_grid", "walk", "critic_picks", "nearest", "interpolate", "pegasus")
# the counts each mode reads from the config: each a positive integer, or at least its LEAST
COUNTS = {"grid": ("num_samples",), "class_grid": ("per_class",),
          "walk": ("walk.rows", "walk.steps"),
          "critic_picks": ("num_samples", "num_candidates"),
          "nearest": ("nearest.num_generated", "nearest.num_pairs"),
          "interpolate": ("interpolation.steps",), "pegasus": ("blend.count", "blend.top_k")}
LEAST = {"walk.steps": 2}  # a walk has two ends: with one step it was a column of its start


def _spec(kind: type, cfg: DictConfig, key: str):
    """The figure spec of config group `key` (interpolation, blend)."""
    return from_settings(kind, key, OmegaConf.to_container(cfg[key], resolve=True))


NEAREST_FEATURES = ("auto", "inception", "pixels")
DATA_MODES = ("nearest", "interpolate", "pegasus")  # the modes that read images (`data`)
# the modes that draw random latents (`truncation`): the others encode real images
DRAWING_MODES = ("grid", "class_grid", "walk", "critic_picks", "nearest")
SPECS = {"interpolate": (PairGridSpec, "interpolation"), "pegasus": (PegasusSpec, "blend")}


def _check_counts(cfg: DictConfig) -> None:
    """Said before the checkpoint loads: a zero or negative count of the chosen mode, a seed
    out of range, the mode's figure spec (interpolation, blend)."""
    require_seed("seed", cfg.seed)
    require_bool("tensorboard", cfg.tensorboard)
    require_auto_or_bool("pegasus_score", cfg.pegasus_score)
    require_truncation("truncation", cfg.truncation)
    require_bool("average", cfg.average)
    if cfg.truncation is not None and cfg.mode not in DRAWING_MODES:
        raise ConfigError(f"mode={cfg.mode} encodes real images and draws no random latent, so "
                          f"truncation={cfg.truncation} would change nothing: it applies to "
                          f"modes {', '.join(DRAWING_MODES)}")
    for key in COUNTS[cfg.mode]:
        require_int(key, OmegaConf.select(cfg, key), LEAST.get(key, 1),
                    where=f"mode={cfg.mode}: ")
    if cfg.mode in SPECS:
        kind, key = SPECS[cfg.mode]
        _spec(kind, cfg, key)
    if cfg.get("data") and cfg.mode not in DATA_MODES:  # it would be ignored
        keys = ", ".join(f"data.{key}" for key in cfg.data)
        raise ConfigError(f"mode={cfg.mode} draws from the model alone, so {keys} would change "
                          f"nothing: the data is read by modes {', '.join(DATA_MODES)} only")
    if cfg.mode == "nearest" and cfg.nearest.features not in NEAREST_FEATURES:
        raise ConfigError(f"unknown nearest.features {cfg.nearest.features!r}; valid choices: "
                          f"{list(NEAREST_FEATURES)}")
    if cfg.mode == "grid" and cfg.nrow is not None:
        require_int("nrow", cfg.nrow, 1, where="mode=grid: ")
    if cfg.mode == "critic_picks" and cfg.num_candidates < cfg.num_samples:
        raise ConfigError(f"critic_picks keeps the best num_samples={cfg.num_samples} of "
                          f"num_candidates={cfg.num_candidates}: draw at least as many")


def _which(ckpt: Path) -> str:
    """"" for the run's last.ckpt, else the checkpoint's name (best-fid, best-epoch…): where
    its figures go, so that two checkpoints' figures of one run sit side by side."""
    return "" if ckpt.stem == "last" else ckpt.stem


def default_out(ckpt: Path, mode: str, label: str = "") -> Path:
    """<run>/samples/<mode>.png, or <run>/samples/<checkpoint>/<mode>.png (`_which`); a
    draw other than the default one says how in its name (`draw_label`:
    <mode>_truncation0.5.png)."""
    return ckpt.parent.parent / "samples" / _which(ckpt) / f"{mode}{label}.png"


def sample(cfg: DictConfig) -> Path:
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.mode!r}; valid choices: {list(MODES)}")
    _check_counts(cfg)
    ckpt = Path(cfg.ckpt).resolve()
    run_dir = ckpt.parent.parent
    out = Path(cfg.out) if cfg.out else default_out(ckpt, cfg.mode, draw_label(cfg))
    if out.suffix.lower() != ".png":  # the figures are PNGs, whatever the name says
        raise ConfigError(f"out={out} must name a .png file (figures beside it: "
                          f"{out.stem}_….png, numbers: {out.stem}.json)")
    check_writable(out, "out")
    model, stored = model_from_checkpoint(cfg.ckpt, pick_device(cfg.device))
    use_average(model, cfg.average, cfg.ckpt)
    with torch.no_grad():
        figures, report = _figures(cfg, model, stored, out)
    if cfg.mode == "grid" and cfg.nrow:
        figures[""] = (figures[""][0], cfg.nrow)
    for suffix, (images, nrow) in figures.items():
        save_png(images, out.with_name(f"{out.stem}{suffix}.png"), nrow)
    if report:
        write_text(out.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        tag = "/".join(filter(None, ["pegasus-sample", _which(ckpt),
                                     cfg.mode + draw_label(cfg)]))
        with SummaryWriter(str(run_dir / "tensorboard")) as writer:
            for suffix, (images, nrow) in figures.items():
                writer.add_image(f"{tag}{suffix}", grid(images, nrow))
    print(out)
    return out


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(sample, cfg)


def main() -> None:
    run_command(_hydra_main, "sample")


if __name__ == "__main__":
    main()
