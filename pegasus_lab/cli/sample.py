"""pegasus-sample: load a checkpoint written by pegasus-train and draw figures from it.

  pegasus-sample ckpt=PATH                      # random samples, an 8×8 grid
  pegasus-sample ckpt=PATH mode=interpolate     # paper-1's horse→bird slerp grid
  pegasus-sample ckpt=PATH mode=pegasus         # paper-0's blended pegasi and the whitest
  pegasus-sample ckpt=PATH mode=class_grid      # a row per class (conditional models)
  pegasus-sample ckpt=PATH mode=walk            # rows of latent interpolation
  pegasus-sample ckpt=PATH mode=critic_picks    # the samples the critic rates most real

The model is rebuilt from the config stored in the checkpoint; the data (for interpolation)
too, with anything under `data:` here merged on top (e.g. data.source.root=…).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.checkpoints import model_from_checkpoint
from pegasus_lab.cli.common import (config_dir, log, pick_device, ready_datamodule,
                                    report_user_errors)
from pegasus_lab.errors import ConfigError
from pegasus_lab.images import grid, save_png
from pegasus_lab.latent.interpolate import interpolator
from pegasus_lab.latent.pair_grid import PairGridSpec, pair_interpolation, select_images
from pegasus_lab.latent.pegasus_maker import PegasusSpec, make_pegasi, rank_pegasi
from pegasus_lab.metrics.generated import to_uint8
from pegasus_lab.metrics.pegasus_score import scorer_from_config
from pegasus_lab.metrics.whiteness import WhitenessRanker

MODES = ("grid", "class_grid", "walk", "critic_picks", "interpolate", "pegasus")


def _grid(cfg, model, stored):
    g = torch.Generator().manual_seed(cfg.seed)
    z = torch.randn(cfg.num_samples, model.latent_dim, generator=g).to(model.device)
    num_classes = getattr(model, "num_classes", 0) or 0
    labels = (torch.arange(cfg.num_samples, device=model.device) % num_classes
              if num_classes else None)
    images = model.to_unit(model.generate(z, labels)).cpu()
    return images, cfg.nrow or int(math.ceil(math.sqrt(cfg.num_samples)))


def _needs_classes(model, mode):
    if not getattr(model, "num_classes", 0):
        raise ConfigError(f"mode={mode} needs a class-conditional model")


def _class_grid(cfg, model, stored):
    """One row per class, cfg.per_class samples each (paper-2's 10×10)."""
    _needs_classes(model, "class_grid")
    g = torch.Generator().manual_seed(cfg.seed)
    n = model.num_classes * cfg.per_class
    z = torch.randn(n, model.latent_dim, generator=g).to(model.device)
    labels = torch.arange(model.num_classes, device=model.device).repeat_interleave(cfg.per_class)
    return model.to_unit(model.generate(z, labels)).cpu(), cfg.per_class


def _walk(cfg, model, stored):
    """Rows of linear interpolation between two random latents (same class along a row)."""
    g = torch.Generator().manual_seed(cfg.seed)
    a = torch.randn(cfg.walk.rows, 1, model.latent_dim, generator=g)
    b = torch.randn(cfg.walk.rows, 1, model.latent_dim, generator=g)
    t = torch.linspace(0, 1, cfg.walk.steps)[None, :, None]
    z = interpolator(cfg.walk.method)(a, b, t[..., 0]).reshape(-1, model.latent_dim)
    labels = None
    if getattr(model, "num_classes", 0):
        row_class = torch.arange(cfg.walk.rows) % model.num_classes
        labels = row_class.repeat_interleave(cfg.walk.steps).to(model.device)
    return model.to_unit(model.generate(z.to(model.device), labels)).cpu(), cfg.walk.steps


def _critic_picks(cfg, model, stored):
    """The num_samples images the critic scores highest among num_candidates."""
    if not hasattr(model, "realness"):
        raise ConfigError("mode=critic_picks needs a model with a critic or discriminator")
    g = torch.Generator().manual_seed(cfg.seed)
    scores, images = [], []
    for start in range(0, cfg.num_candidates, 500):
        k = min(500, cfg.num_candidates - start)
        z = torch.randn(k, model.latent_dim, generator=g).to(model.device)
        x = model.generate(z)
        images.append(x.cpu())
        scores.append(model.realness(x).cpu())
    best = torch.cat(scores).argsort(descending=True)[:cfg.num_samples]
    return model.to_unit(torch.cat(images)[best]), int(math.ceil(math.sqrt(cfg.num_samples)))


def _datamodule(cfg, stored):
    return ready_datamodule(OmegaConf.merge(stored.data, cfg.get("data") or {}))


def _interpolate(cfg, model, stored):
    spec = PairGridSpec(**OmegaConf.to_container(cfg.interpolation, resolve=True))
    images, partners = pair_interpolation(model, *select_images(_datamodule(cfg, stored), spec),
                                          spec.weights(), spec.method, spec.seed)
    log.info("row partners (positions among the %d '%s' images): %s",
             spec.to_count, spec.to_class, partners.tolist())
    return images, spec.steps


def _pegasi(cfg, model, stored):
    spec = PegasusSpec(**OmegaConf.to_container(cfg.blend, resolve=True))
    images, made_from = make_pegasi(model, _datamodule(cfg, stored), spec)
    return images, int(math.ceil(math.sqrt(len(images)))), spec, made_from


def sample(cfg: DictConfig) -> Path:
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.mode!r}; valid choices: {list(MODES)}")
    model, stored = model_from_checkpoint(cfg.ckpt, pick_device(cfg.device))
    run_dir = Path(cfg.ckpt).resolve().parent.parent
    out = Path(cfg.out) if cfg.out else run_dir / "samples" / f"{cfg.mode}.png"
    figures = {}
    with torch.no_grad():
        if cfg.mode == "pegasus":
            images, nrow, spec, made_from = _pegasi(cfg, model, stored)
        else:
            images, nrow = {"grid": _grid, "class_grid": _class_grid, "walk": _walk,
                            "critic_picks": _critic_picks,
                            "interpolate": _interpolate}[cfg.mode](cfg, model, stored)
    save_png(images, out, nrow)
    figures[cfg.mode] = (images, nrow)
    report = None
    if cfg.mode in ("interpolate", "pegasus") and cfg.pegasus_score is not False:
        report = _pegasus_report(cfg, images, model.device)
    if cfg.mode == "pegasus":
        report = _pick_white(images, spec, made_from, report, out, figures)
    if report is not None:
        out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        with SummaryWriter(str(run_dir / "tensorboard")) as writer:
            for name, (imgs, n) in figures.items():
                writer.add_image(f"pegasus-sample/{name}", grid(imgs, n))
    print(out)
    return out


def _pegasus_report(cfg: DictConfig, images: torch.Tensor, device) -> dict | None:
    """Each image's p(body) and p(wing) from the pegasus classifier, and the summary."""
    scorer, why_not = scorer_from_config(cfg.fid, cfg.pegasus, device,
                                         required=cfg.pegasus_score is True)
    if scorer is None:
        log.warning("pegasus score skipped: %s", why_not)
        return None
    report = scorer.report(to_uint8(images))
    log.info("pegasus score: %.3f of images pass (threshold %.2f), mean min(p_body, p_wing) "
             "%.3f; classifier test accuracy %s", report["pegasus_share"],
             report["pegasus_threshold"], report["pegasus_mean_min"],
             report["classifier_test_accuracy"])
    return report


def _pick_white(images, spec: PegasusSpec, made_from: dict, report: dict | None, out: Path,
                figures: dict) -> dict:
    """Rank the pegasi (whiteness, × pegasus score when known); save the top-k grid and the
    best one large (the paper's figure 9)."""
    whiteness = WhitenessRanker().scores(images)
    probs = ((torch.tensor(report["p_body"]), torch.tensor(report["p_wing"]))
             if report else (None, None))
    order, score = rank_pegasi(whiteness, *probs)
    top = images[order[:spec.top_k]]
    top_n = int(math.ceil(math.sqrt(len(top))))
    save_png(top, out.with_name(f"{out.stem}_top{spec.top_k}.png"), top_n)
    best = torch.nn.functional.interpolate(images[order[:1]], size=spec.large_size,
                                           mode="bicubic", align_corners=False).clamp(0, 1)
    save_png(best, out.with_name(f"{out.stem}_best.png"), 1)
    figures[f"pegasus_top{spec.top_k}"] = (top, top_n)
    figures["pegasus_best"] = (best, 1)
    log.info("whitest pegasus: image %d (whiteness %.3f, rank score %.3f)", int(order[0]),
             float(whiteness[order[0]]), float(score[order[0]]))
    return {**(report or {}), **made_from, "whiteness": whiteness.tolist(),
            "rank_score": score.tolist(), "ranking": order.tolist(),
            "ranked_by": "whiteness × min(p_body, p_wing)" if report else "whiteness"}


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(sample, cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
