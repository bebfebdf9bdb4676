"""pegasus-train: compose the config, build data, model, callbacks, loggers and Trainer, fit."""
from __future__ import annotations

import gc
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.atomic import write_text
from pegasus_lab.errors import (ConfigError, closest_argument, require_bool, require_int,
                                require_number, require_seed)
from pegasus_lab.cli.common import (EXIT_INTERRUPTED, EXIT_TERMINATED, check_values, log,
                                    report_user_errors, run_command)
from pegasus_lab.config_groups import config_dir

if TYPE_CHECKING:
    import lightning as L

# torch and Lightning are imported where a run is built, so that a mistyped config choice is
# reported by Hydra at once, not after seconds of imports


def _instantiate_group(group: DictConfig | None) -> list:
    """Every entry of a config group that has a `_target_` (null entries switch one off)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values()
            if isinstance(node, DictConfig) and "_target_" in node]


# what Lightning does for a LightningModule that leaves its optimizers to it, and the values
# that leave it off
_AUTOMATIC_ONLY = {"gradient_clip_val": ("clips no gradients", (None, 0)),
                   "accumulate_grad_batches": ("accumulates no gradients", (None, 1))}


def _check_manual_optimization(trainer_cfg: DictConfig, model: L.LightningModule) -> None:
    """Every method here steps its own optimizers (manual optimization), where Lightning
    refuses gradient clipping and accumulation as training starts, advising a switch to
    automatic optimization that a user of these methods cannot make."""
    if model.automatic_optimization:
        return
    for key, (what, off) in _AUTOMATIC_ONLY.items():
        value = trainer_cfg.get(key)
        if value not in off:
            raise ConfigError(f"trainer.{key}={value}: {model.method_name} steps its own "
                              f"optimizers (manual optimization), where Lightning {what}; "
                              f"remove trainer.{key}")


def _check_flush_intervals(loggers: DictConfig | None) -> None:
    """TensorBoard's writer thread takes any flush_secs, and 0 or less keeps it flushing
    without a pause: paper-2's smoke run took 106 s with -1, 15 s with the default."""
    for name, node in (loggers or {}).items():
        if isinstance(node, DictConfig) and node.get("flush_secs") is not None:
            require_number(f"logger.{name}.flush_secs", node.flush_secs, least=0.1)


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """The data, model and Trainer a config describes (what `train` fits; the benchmark too)."""
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor

    from pegasus_lab.callbacks.config_in_checkpoint import ConfigInCheckpoint
    from pegasus_lab.callbacks.monitor_check import MonitorCheck
    from pegasus_lab.callbacks.run_clock import RunClock
    from pegasus_lab.callbacks.speed import SpeedUp
    from pegasus_lab.speed import Speed
    check_values(cfg)
    require_bool("smoke_run", cfg.get("smoke_run", False))  # resume=auto reads it
    if cfg.get("seed") is not None:
        require_seed("seed", cfg.seed)  # null: an unseeded run
        L.seed_everything(cfg.seed, workers=True)
    log.info("data: %s", cfg.data._target_)
    datamodule = instantiate(cfg.data)
    log.info("model: %s", cfg.model._target_)
    model = instantiate(cfg.model)
    _check_manual_optimization(cfg.trainer, model)
    speed = instantiate(cfg.speed) if cfg.get("speed") else Speed.plain()
    callbacks = _instantiate_group(cfg.get("callbacks")) + [
        ConfigInCheckpoint(cfg), SpeedUp(speed), RunClock(), MonitorCheck()]
    _check_flush_intervals(cfg.get("logger"))
    loggers = _instantiate_group(cfg.get("logger"))
    if not loggers:  # nothing to monitor the learning rate into (logger=none)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks = _without_validation_ranking(callbacks, model)
    _require_validation_data(callbacks, datamodule)
    precision = cfg.trainer.get("precision") or \
        speed.precision(Speed.device_type(cfg.trainer.get("accelerator")))
    trainer = _trainer(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                       precision=precision)
    switches = speed.on(trainer.strategy.root_device).enabled()
    if switches:
        log.info("speed switches on: %s (precision %s)", switches, precision)
    return datamodule, model, trainer


def _trainer(trainer_cfg: DictConfig, **kwargs) -> L.Trainer:
    """The Trainer of `trainer.*`; a value its constructor refuses (precision=17, an unknown
    keyword, an accelerator whose package is missing) is a config error, said as Lightning
    says it."""
    from hydra.errors import InstantiationException
    every = trainer_cfg.get("check_val_every_n_epoch")
    if every is not None:  # Lightning takes 0, then divides by it as the first epoch ends
        require_int("trainer.check_val_every_n_epoch", every, 1)
    try:
        return instantiate(trainer_cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, (ValueError, TypeError, ImportError)):
            from lightning.pytorch import Trainer
            hint = closest_argument(cause, Trainer, "trainer")
            raise ConfigError(f"Lightning refuses the run's settings: {cause}{hint}") from err
        raise


def _fit(trainer: L.Trainer, model, datamodule, ckpt_path: str | None, run_dir: str) -> None:
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    except (ValueError, RuntimeError) as err:  # checked once Lightning knows the batches, or
        said = str(err).strip()                 # the metrics logged (a monitor misspelt)
        if "`val_check_interval`" in said or said.startswith("Early stopping conditioned on"):
            raise ConfigError(f"Lightning refuses the run's settings: {said}") from err
        raise
    except SystemExit as stop:  # how Lightning ends a run on Ctrl-C (status 1), SIGTERM (0)
        from lightning.pytorch.utilities.exceptions import SIGTERMException
        if isinstance(stop, SIGTERMException):  # `kill`, `timeout`, a container stopped
            why, status = "terminated (SIGTERM)", EXIT_TERMINATED
        elif isinstance(stop.__context__, KeyboardInterrupt):
            why, status = "interrupted", EXIT_INTERRUPTED
        else:
            raise
        if trainer.is_global_zero:
            log.warning(_stopped(trainer, run_dir, why))
        raise SystemExit(status) from None


def _stopped(trainer: L.Trainer, run_dir: str, why: str) -> str:
    from pegasus_lab.callbacks.last_checkpoint import LastCheckpoint
    from pegasus_lab.resume import after_interrupt
    last = next((c for c in trainer.callbacks if isinstance(c, LastCheckpoint)), None)
    path = Path(last.dirpath) / f"{last.filename}{last.FILE_EXTENSION}" if last else None
    return after_interrupt(trainer.global_step, path, run_dir, why)


def _without_validation_ranking(callbacks: list, model: L.LightningModule) -> list:
    """A model without a validation step (the GANs) logs no val/* metric, so a checkpoint
    ranked by one (the default callbacks', e.g. under callbacks=fid) would never save and only
    warn: it is left out; the latest state (last.ckpt) is still written. Early stopping on
    one would fail at its first check, after an epoch of training: a config error now."""
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.utilities.model_helpers import is_overridden
    if is_overridden("validation_step", model):
        return callbacks
    kept = []
    for c in callbacks:
        if isinstance(c, EarlyStopping) and c.monitor.startswith("val/"):
            raise ConfigError(
                f"early stopping on {c.monitor} needs a validation loss, and "
                f"{model.method_name} has no validation step; stop on the FID curve "
                "instead: callbacks=fid callbacks.fid_curve.patience=N")
        if isinstance(c, ModelCheckpoint) and str(c.monitor or "").startswith("val/"):
            log.info("%s has no validation step: no checkpoint ranked by %s (last.ckpt is "
                     "still written)", model.method_name, c.monitor)
        else:
            kept.append(c)
    return kept


def _require_validation_data(callbacks: list, datamodule) -> None:
    """Early stopping on a val/* metric with no images held out (data.val_fraction=0) would
    fail at its first check, after an epoch of training: a config error now."""
    from lightning.pytorch.callbacks import EarlyStopping
    if getattr(datamodule, "val_fraction", None) != 0:
        return
    for c in callbacks:
        if isinstance(c, EarlyStopping) and c.monitor.startswith("val/"):
            raise ConfigError(f"early stopping on {c.monitor} needs validation images, and "
                              "data.val_fraction=0 holds none out; set data.val_fraction "
                              "above 0, or monitor a training loss (callbacks.early_stopping."
                              "monitor=train/loss_epoch)")


def train(cfg: DictConfig) -> dict[str, float]:
    from pegasus_lab.provenance import command_line
    from pegasus_lab.run_lock import holding
    from pegasus_lab.sweep import in_multirun
    log.info("run folder: %s (checkpoints, TensorBoard logs, figures)", cfg.paths.output_dir)
    datamodule, model, trainer = build(cfg)
    if not trainer.is_global_zero:  # rank 0 holds the folder for all of them
        return _train_in_folder(cfg, datamodule, model, trainer)
    elsewhere = "hydra.sweep.dir=…" if in_multirun() else "hydra.run.dir=…"
    with holding(cfg.paths.output_dir, command_line(), elsewhere, _hydra_subdir()):
        return _train_in_folder(cfg, datamodule, model, trainer)


def _train_in_folder(cfg: DictConfig, datamodule, model, trainer: L.Trainer
                     ) -> dict[str, float]:
    from pegasus_lab.callbacks.run_clock import RunClock
    from pegasus_lab.callbacks.run_hparams import RunHparams
    from pegasus_lab.earlier_run import set_earlier_run_aside
    from pegasus_lab.provenance import code_label, describe, forget_last_part, record_run
    from pegasus_lab.resume import resume_path
    from pegasus_lab.resumed_logs import DropReplayedLogs, logged_step
    ckpt_path = resume_path(cfg)
    if ckpt_path is None and trainer.is_global_zero:  # before anything of this run is written
        set_earlier_run_aside(cfg.paths.output_dir, _hydra_subdir())
    # the code, libraries and machine of this part of the run (written once it is sure to run)
    made = describe(trainer.strategy.root_device) if trainer.is_global_zero else None
    hparams = {**_flat_hparams(cfg), **({"code": code_label(made)} if made else {})}
    trainer.callbacks.append(RunHparams(hparams))  # once a step trains
    resumed_step = None
    if ckpt_path is not None:
        resumed = _fitting_checkpoint(cfg, ckpt_path, model)
        resumed_step = resumed.get("global_step")
        log.info("resuming from %s", ckpt_path)
        trainer.callbacks.append(DropReplayedLogs(logged_step(resumed)))  # steps trained again
    if made is not None:
        record_run(cfg.paths.output_dir, made)
    _fit(trainer, model, datamodule, ckpt_path, cfg.paths.output_dir)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if resumed_step is not None and trainer.global_step == resumed_step:
        metrics = {**_metrics_it_ended_with(ckpt_path, resumed_step), **metrics}
        if made is not None:
            forget_last_part(cfg.paths.output_dir)
    for curve in _fid_curves(trainer):  # its last point (metrics/fid, …) and its best
        metrics.update(curve.final_metrics())
    if trainer.is_global_zero:
        clock = next(c for c in trainer.callbacks if isinstance(c, RunClock))
        _write_summary(cfg, trainer, metrics, clock.seconds())
    log.info("finished: %s (all in %s)", finished_line(metrics),
             Path(cfg.paths.output_dir) / "summary.json")
    return metrics


def finished_line(metrics: dict[str, float]) -> str:
    """The run's last values, once each and to 6 figures: Lightning keeps a value logged on
    steps and epochs three times (`train/loss`, `train/loss_step`, `train/loss_epoch`), and
    the progress bar's `loss` once more."""
    shown = {key: value for key, value in metrics.items()
             if not (key.endswith(("_step", "_epoch")) and key.rsplit("_", 1)[0] in metrics)
             and not (key == "loss" and "train/loss" in metrics)}
    return " ".join(f"{key}={value:.6g}" for key, value in shown.items())


def _fitting_checkpoint(cfg: DictConfig, ckpt_path: str, model) -> dict:
    """The checkpoint to resume, checked against the model. One that `resume` chose (not a
    ckpt_path given) and does not fit is an earlier run of another model or size in the same
    folder, most often a recipe run again with other settings: the error says how to start
    this one afresh."""
    from pegasus_lab.checkpoints import check_fits
    from pegasus_lab.errors import CheckpointError
    from pegasus_lab.resume import afresh
    try:
        return check_fits(ckpt_path, model)
    except CheckpointError as err:
        if cfg.get("ckpt_path") not in (None, "last"):
            raise
        raise CheckpointError(f"{err} {afresh(cfg.get('resume'))}") from err


def _metrics_it_ended_with(ckpt_path: str, step: int) -> dict[str, float]:
    """A resumed run with nothing left to train (a finished run run again, as a recipe does,
    or one that stopped early) logs no metric: its final ones are those the summary.json
    beside its checkpoint holds for that step, kept rather than overwritten by none."""
    summary = Path(ckpt_path).absolute().parents[1] / "summary.json"  # ckpt_path=last.ckpt too
    try:
        said = json.loads(summary.read_text())
        kept = {k: float(v) for k, v in said["metrics"].items()} \
            if said.get("global_step") == step else {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        kept = {}
    log.info("nothing left to train: the run ended at step %d%s", step,
             f"; its final metrics are those of {summary}" if kept else "")
    return kept


def _hydra_subdir() -> str | None:
    """The run folder's Hydra subfolder (`.hydra`; None when Hydra writes none)."""
    from hydra.core.hydra_config import HydraConfig
    return HydraConfig.get().output_subdir if HydraConfig.initialized() else ".hydra"


def _fid_curves(trainer: L.Trainer) -> list:
    from pegasus_lab.callbacks.fid_curve import FIDCurve
    return [c for c in trainer.callbacks if isinstance(c, FIDCurve)]


def _write_summary(cfg: DictConfig, trainer: L.Trainer, metrics: dict, seconds: float) -> None:
    """<run>/summary.json: what a comparison table needs without reading TensorBoard logs."""
    curves = _fid_curves(trainer)
    summary = {"wall_seconds": round(seconds, 2), "epochs": trainer.current_epoch,
               "global_step": trainer.global_step, "metrics": metrics,
               "fid_history": curves[0].history if curves else [],
               "manifold_history": curves[0].manifold_history if curves else [],
               "model": cfg.model._target_, "data": cfg.data.source._target_}
    write_text(Path(cfg.paths.output_dir) / "summary.json", json.dumps(summary, indent=2) + "\n")


def _flat_hparams(cfg: DictConfig) -> dict:
    """The resolved config, flattened to 'a/b/c' keys of TensorBoard-friendly values."""
    flat = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}/{k}" if prefix else str(k))
        elif isinstance(node, (int, float, str, bool)) or node is None:
            flat[prefix] = "null" if node is None else node
        else:
            flat[prefix] = str(node)

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper (e.g. Optuna) optimises: the run's metric named `optimized_metric`.
    A name the run never logged is an error naming those it did, not a silent None."""
    name = cfg.get("optimized_metric")
    if name is None:
        return None
    if name not in metrics:
        raise ConfigError(f"optimized_metric={name} is not a metric this run logged; "
                          f"it logged: {', '.join(sorted(metrics)) or 'nothing'}")
    return metrics[name]


def train_for_sweeper(cfg: DictConfig) -> float | None:
    """train, returning `objective`. In a search, a trial that diverges or runs out of GPU
    memory (too wide a network, too big a batch) scores the worst value for the search's
    direction, and the search goes on: one bad setting must not end a night's sweep. Anywhere
    else both stay errors."""
    import torch

    from pegasus_lab.callbacks.divergence import DivergenceError
    try:
        metrics = train(cfg)
    except (DivergenceError, torch.cuda.OutOfMemoryError) as err:
        worst = _worst_for_search(cfg)
        if worst is None:
            raise
        failure = str(err).splitlines()[0]
    else:
        return objective(cfg, metrics)
    # the failed trial's model, optimizers and batches are unreachable once its exception is
    # gone: collect them and hand their cached GPU memory back before the next trial
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    log.error("%s; this trial scores %s and the search goes on", failure, worst)
    return worst


def _worst_for_search(cfg: DictConfig) -> float | None:
    """±inf for a multirun job that returns `optimized_metric` to a single-objective sweeper
    (the sweeper's `direction`, minimize by default); None for any other run."""
    from hydra.core.hydra_config import HydraConfig

    from pegasus_lab.sweep import in_multirun, sweeper_direction
    if cfg.get("optimized_metric") is None or not in_multirun():
        return None
    direction = sweeper_direction(HydraConfig.get())
    if direction is None:  # several objectives: no single worst
        return None
    return math.inf if direction == "minimize" else -math.inf


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    return report_user_errors(train_for_sweeper, cfg)


def main() -> None:
    run_command(_hydra_main, "train")


if __name__ == "__main__":
    main()
