"""pegasus-classifier: the pegasus score's CIFAR-10 classifier — a linear probe on the FID
Inception features of the training split, its accuracy measured on the test split."""
from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pegasus_lab.atomic import write_text
from pegasus_lab.cli.common import (check_values, check_writable, log, pick_device,
                                    ready_datamodule, report_user_errors, run_command)
from pegasus_lab.config_groups import config_dir
from pegasus_lab.errors import ConfigError, DataError, require_int, require_number, require_seed
from pegasus_lab.metrics.evaluation import build_extractor, dataset_features
from pegasus_lab.metrics.pegasus_score import accuracy, fit_linear_probe, save_probe


def _features(extractor, data_cfg, fid_cfg, device):
    dm = ready_datamodule(data_cfg)
    feats, labels = dataset_features(extractor, dm, fid_cfg.batch_size, fid_cfg.cache_dir, device)
    return feats, labels, dm.classes


def _check_settings(cfg: DictConfig) -> None:
    """The probe's training settings, said before any features are extracted."""
    require_int("epochs", cfg.epochs, 1)
    require_int("batch_size", cfg.batch_size, 1)
    require_seed("seed", cfg.seed)
    if not require_number("lr", cfg.lr) > 0:
        raise ConfigError(f"lr must be positive, got {cfg.lr!r}")
    if not require_number("weight_decay", cfg.weight_decay) >= 0:
        raise ConfigError(f"weight_decay must be 0 or more, got {cfg.weight_decay!r}")


def train_classifier(cfg: DictConfig) -> dict:
    check_values(cfg)
    _check_settings(cfg)
    check_writable(cfg.pegasus.classifier, "pegasus.classifier")  # before the features
    device = pick_device(cfg.device)
    extractor = build_extractor(cfg.fid)
    train_x, train_y, classes = _features(extractor, cfg.train_data, cfg.fid, device)
    test_x, test_y, test_classes = _features(extractor, cfg.test_data, cfg.fid, device)
    if test_classes != classes:
        raise DataError(f"train and test classes differ: {classes} vs {test_classes}")
    probe = fit_linear_probe(train_x, train_y, classes, cfg.epochs, cfg.lr, cfg.weight_decay,
                             cfg.batch_size, cfg.seed)
    report = {"train_accuracy": accuracy(probe, train_x, train_y),
              "test_accuracy": accuracy(probe, test_x, test_y),
              "classes": classes, "num_train": len(train_y), "num_test": len(test_y),
              "feature_sha256": extractor.sha256}
    out = save_probe(probe, cfg.pegasus.classifier, **report)
    write_text(Path(out).with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    log.info("classifier test accuracy %.4f — saved to %s", report["test_accuracy"], out)
    print(json.dumps({k: v for k, v in report.items() if k != "classes"}))
    return report


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="classifier")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(train_classifier, cfg)


def main() -> None:
    run_command(_hydra_main, "classifier")


if __name__ == "__main__":
    main()
