"""pegasus-sample: load a checkpoint written by pegasus-train and draw figures from it.

  pegasus-sample ckpt=PATH                      # random samples, an 8×8 grid
  pegasus-sample ckpt=PATH mode=interpolate     # paper-1's horse→bird slerp grid

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
from pegasus_lab.latent.pair_grid import PairGridSpec, pair_interpolation, select_images
from pegasus_lab.metrics.generated import to_uint8
from pegasus_lab.metrics.pegasus_score import scorer_from_config

MODES = ("grid", "interpolate")


def sample(cfg: DictConfig) -> Path:
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.mode!r}; valid choices: {list(MODES)}")
    model, stored = model_from_checkpoint(cfg.ckpt, pick_device(cfg.device))
    run_dir = Path(cfg.ckpt).resolve().parent.parent
    out = Path(cfg.out) if cfg.out else run_dir / "samples" / f"{cfg.mode}.png"
    with torch.no_grad():
        if cfg.mode == "grid":
            g = torch.Generator().manual_seed(cfg.seed)
            z = torch.randn(cfg.num_samples, model.latent_dim, generator=g).to(model.device)
            num_classes = getattr(model, "num_classes", 0) or 0
            labels = (torch.arange(cfg.num_samples, device=model.device) % num_classes
                      if num_classes else None)
            images = model.to_unit(model.generate(z, labels)).cpu()
            nrow = cfg.nrow or int(math.ceil(math.sqrt(cfg.num_samples)))
        else:
            data_cfg = OmegaConf.merge(stored.data, cfg.get("data") or {})
            datamodule = ready_datamodule(data_cfg)
            spec = PairGridSpec(**OmegaConf.to_container(cfg.interpolation, resolve=True))
            images, partners = pair_interpolation(model, *select_images(datamodule, spec),
                                                  spec.weights(), spec.method, spec.seed)
            log.info("row partners (positions among the %d '%s' images): %s",
                     spec.to_count, spec.to_class, partners.tolist())
            nrow = spec.steps
    save_png(images, out, nrow)
    if cfg.mode == "interpolate" and cfg.pegasus_score is not False:
        _pegasus_report(cfg, images, out, model.device)
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        with SummaryWriter(str(run_dir / "tensorboard")) as writer:
            writer.add_image(f"pegasus-sample/{cfg.mode}", grid(images, nrow))
    print(out)
    return out


def _pegasus_report(cfg: DictConfig, images: torch.Tensor, out: Path, device) -> None:
    """Each grid image's p(body) and p(wing), and the summary, into <out>.json."""
    scorer, why_not = scorer_from_config(cfg.fid, cfg.pegasus, device,
                                         required=cfg.pegasus_score is True)
    if scorer is None:
        log.warning("pegasus score skipped: %s", why_not)
        return
    report = scorer.report(to_uint8(images))
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    log.info("pegasus score: %.3f of images pass (threshold %.2f), mean min(p_body, p_wing) "
             "%.3f; classifier test accuracy %s", report["pegasus_share"],
             report["pegasus_threshold"], report["pegasus_mean_min"],
             report["classifier_test_accuracy"])


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(sample, cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
