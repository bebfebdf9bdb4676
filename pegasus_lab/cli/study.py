"""pegasus-study (make reproduce-paper-4): check which data sets are present, train every model
on each by one Hydra multirun, then write the comparison table and side-by-side grids. Where a
run failed, the table and grids of the others are still written, and the command then exits
with the multirun's status (2 when every failure was a user error), as `pegasus-train -m` does.

  pegasus-study                                   # all models × all present data sets
  pegasus-study 'datasets=[mnist]' "overrides=['trainer.max_epochs=2']"
  pegasus-study 'seeds=[1,2,3]'                   # each pair 3 times: mean ± std
  pegasus-study sweep_dir=outputs/paper4/study/<time>   # run again: each run goes on
"""
from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from pathlib import Path

import hydra
from hydra import compose
from hydra.utils import instantiate
from omegaconf import DictConfig

from pegasus_lab.argument_types import check_argument_types
from pegasus_lab.cli.command_line import closest_key_composed
from pegasus_lab.cli.common import (EXIT_INTERRUPTED, EXIT_TERMINATED, exit_with_error, log,
                                    report_user_errors, run_command)
from pegasus_lab.config_groups import config_dir, group_options
from pegasus_lab.errors import (ConfigError, PegasusError, require_auto_or_bool, require_int,
                                require_seed)
from pegasus_lab.metrics.inception import InceptionFeatures
from pegasus_lab.overrides import override, shell_line
from pegasus_lab.study.table import collect, side_by_side, write_tables
from pegasus_lab.sweep import jobs, parse_override


def _shared(cfg: DictConfig) -> list[str]:
    """The study's own paths and overrides, for every training run it makes (`debug=smoke`
    given to the study: to each run, a few CPU batches of it)."""
    return [override("paths.data_dir", cfg.paths.data_dir),
            override("paths.cache_dir", cfg.paths.cache_dir),
            *(["debug=smoke"] if cfg.get("smoke_run") else []), *cfg.overrides]


def check_overrides_apply(cfg: DictConfig) -> None:
    """Every run gets the study's overrides, so each of its models must take them: one a
    model lacks (a GAN's model.diff_augment, a VAE's model.kl_weight) is said at once, naming
    the model, where the training multirun would have stopped at that model's first run. The
    study's own axes (the model, the data set, the experiment) are not overrides."""
    from hydra.errors import ConfigCompositionException
    for item in cfg.overrides:
        key = parse_override(str(item))[0].lstrip("+~")
        if key in _STUDY_AXES:
            raise ConfigError(f"overrides=[{item!r}]: the study chooses {_STUDY_AXES[key]} "
                              f"itself; overrides are the settings all its runs share")
    failed = {}
    for model in cfg.models:
        try:
            compose("train", _model_run(cfg, model))
        except ConfigCompositionException as err:
            failed[model] = str(err.__cause__ or err).strip().splitlines()[0]
    if not failed:
        return
    said = f"the study gives overrides={list(cfg.overrides)} to every run"
    if len(failed) == len(cfg.models):  # a misspelt key, or one of other models: which
        model, why = next(iter(failed.items()))
        hint = closest_key_composed(compose, "train", _model_run(cfg, model))
        raise ConfigError(f"{said}, and its runs cannot take them: {why}"
                          f"{f' ({hint})' if hint else ''}")
    taking = [m for m in cfg.models if m not in failed]
    model, why = next(iter(failed.items()))
    raise ConfigError(f"{said}, and model={model} does not take them ({why}): study the models "
                      f"that do (models=[{','.join(taking)}]) and the others apart")


def _model_run(cfg: DictConfig, model: str) -> list[str]:
    """The overrides of the study's runs of `model`, before the data set is chosen."""
    return ["experiment=paper4", f"model={model}", *_shared(cfg)]


# what the study sets for each run itself, and says so when an override sets it
_STUDY_AXES = {"model": "each run's model (models=[…])",
               "paper4_data": "each run's data set (datasets=[…])",
               "experiment": "the experiment (paper4)"}


def present_datasets(cfg: DictConfig) -> tuple[list[str], list[str]]:
    """(data sets whose files load, notes on the ones skipped and why), read as the study's
    first model's runs read them."""
    present, notes = [], []
    for name in cfg.datasets:
        train_cfg = compose("train", [*_model_run(cfg, cfg.models[0]), f"+paper4_data={name}"])
        check_argument_types(train_cfg)  # overrides=['data.val_fraction=abc']: the study's error
        try:
            dm = instantiate(train_cfg.data)
            dm.prepare_data()
            dm.setup("fit")
            present.append(name)
        except PegasusError as err:
            notes.append(f"{name} skipped: {err}")
            log.warning("data set %s skipped: %s", name, err)
    return present, notes


def _fid_overrides(cfg: DictConfig, notes: list[str]) -> list[str]:
    if cfg.measure_fid is False:
        notes.append("FID not measured (measure_fid=false)")
        return []
    if cfg.measure_fid == "auto" and cfg.get("smoke_run"):  # the reference's features alone
        notes.append("FID not measured: a smoke study (measure_fid=true measures it)")
        return []                                         # take hours on a CPU
    try:
        InceptionFeatures(cfg.fid_weights.weights, cfg.fid_weights.sha256)
    except PegasusError as err:
        if cfg.measure_fid is True:
            raise
        notes.append(f"FID not measured: {err}")
        return []
    return ["callbacks=study_fid", f"callbacks.fid_curve.num_samples={cfg.fid_samples}",
            override("fid.weights", cfg.fid_weights.weights),
            override("fid.sha256", cfg.fid_weights.sha256)]


# groups of pegasus-train's config: given to the study itself, they would reach none of its runs
# (its trainer node is there for debug=smoke alone)
_TRAINING_GROUPS = ("trainer", "model", "data", "callbacks", "logger", "speed", "experiment")


def _refuse_training_settings() -> None:
    """`pegasus-study trainer.max_epochs=2` (or `+trainer.max_epochs=2`, as Hydra suggests when
    the study has no trainer node) changed nothing in the runs: said with the way that does."""
    from hydra.core.hydra_config import HydraConfig
    if not HydraConfig.initialized():
        return
    for item in HydraConfig.get().overrides.task:
        key, _ = parse_override(item)
        if key.split(".")[0].split("@")[0] in _TRAINING_GROUPS:
            raise ConfigError(f"{item} is a training setting given to the study itself, which "
                              f"passes it to no run: give it as overrides=[{item!r}]")


def _check_settings(cfg: DictConfig) -> None:
    """Model and data set names, and the counts, said before any data is read or trained."""
    _refuse_training_settings()
    for key in ("models", "datasets"):
        value = cfg[key]
        if isinstance(value, (int, str)) or value is None:
            example = f" ({key}=[{value}])" if isinstance(value, str) else ""
            raise ConfigError(f"{key} must be a list of names{example}, got {value!r}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{key} repeat: {list(value)} (each pair is trained once per "
                              "seed; seeds=[…] repeats it)")
    if not cfg.models or not cfg.datasets:
        raise ConfigError("the study needs at least one model and one data set")
    if isinstance(cfg.overrides, (int, str)) or cfg.overrides is None:
        raise ConfigError("overrides must be a list of the training runs' overrides "
                          f"(\"overrides=['{cfg.overrides}']\"), got {cfg.overrides!r}")
    for key, group in (("models", "model"), ("datasets", "paper4_data")):
        known = group_options(group)
        unknown = [name for name in cfg[key] if name not in known]
        if unknown:
            raise ConfigError(f"unknown {key} {unknown}; valid choices: {known}")
    require_int("fid_samples", cfg.fid_samples, 2)
    require_int("stability_epochs", cfg.stability_epochs, 1)
    if cfg.seeds is not None:
        if isinstance(cfg.seeds, (int, str)) or not len(cfg.seeds):
            raise ConfigError(f"seeds must be a list of seeds, e.g. [1,2,3], got {cfg.seeds!r}")
        for seed in cfg.seeds:
            require_seed("seeds", seed, where="each of ")
        if len(set(cfg.seeds)) != len(cfg.seeds):
            raise ConfigError(f"seeds repeat: {list(cfg.seeds)}")
        if any(str(o).lstrip("+~").startswith("seed=") for o in cfg.overrides):
            raise ConfigError("seeds given twice: in seeds=[…] and as seed=… in overrides; "
                              "keep one")
    require_auto_or_bool("measure_fid", cfg.measure_fid)
    require_auto_or_bool("resume", cfg.resume)


def planned_jobs(models: list[str], datasets: list[str], seeds: list | None
                 ) -> list[tuple[str, str, str | None]]:
    """(model, data set, seed) of each job of the study's multirun, by job number: Hydra's
    basic sweeper takes the product of the swept values in the order the command gives them
    (model, then data set, then seed)."""
    return list(itertools.product(models, datasets,
                                  [str(s) for s in seeds] if seeds else [None]))


def require_the_same_study(sweep_dir: Path, planned: list[tuple[str, str, str | None]]) -> int:
    """A study run again in its folder (sweep_dir=<it>, as `make reproduce-paper-4` does)
    continues each job's own last.ckpt (resume=auto), so job N must be the same pair as
    before: a run of other models, data sets (one found now that was skipped then) or seeds
    would continue another pair's model. Returns how many jobs the folder already holds."""
    held = [(job, overrides) for job, overrides, _ in jobs(sweep_dir) if job.name.isdigit()]
    for job, overrides in held:
        said = dict(parse_override(o) for o in overrides)
        was = (said.get("model"), said.get("paper4_data"), said.get("seed"))
        number = int(job.name)
        now = planned[number] if number < len(planned) else None
        if was != now:
            raise ConfigError(
                f"{sweep_dir} holds a study with other runs: its job {number} is "
                f"{_pair(was)}, and this study's would be {_pair(now)}; run it again with the "
                f"models, data sets and seeds it had (each job's .hydra/overrides.yaml), or "
                f"give another sweep_dir")
    return len(held)


def _pair(job: tuple[str | None, str | None, str | None] | None) -> str:
    if job is None:
        return "none (it has fewer jobs)"
    model, dataset, seed = job
    return f"{model} on {dataset}" + (f" seed {seed}" if seed is not None else "")


def study(cfg: DictConfig) -> Path:
    """Train the study's runs, then tabulate them. The study holds its folder (`run_lock`):
    the same study started again while it runs (a second `make reproduce-paper-4`) is refused
    before it trains or rewrites anything there."""
    from pegasus_lab.provenance import command_line
    from pegasus_lab.run_lock import holding
    _check_settings(cfg)
    check_overrides_apply(cfg)
    sweep_dir = Path(cfg.sweep_dir)
    present, notes = present_datasets(cfg)
    if not present:
        raise ConfigError("none of the data sets is present: " + "; ".join(notes))
    with holding(sweep_dir, command_line(), "sweep_dir=…", hydra_subdir=None):
        return _study_in_folder(cfg, sweep_dir, present, notes)


def _study_in_folder(cfg: DictConfig, sweep_dir: Path, present: list[str], notes: list[str]
                     ) -> Path:
    held = require_the_same_study(sweep_dir, planned_jobs(cfg.models, present, cfg.seeds))
    if held and cfg.resume == "auto":
        log.info("%s holds %d of this study's runs: each continues its own last.ckpt (a "
                 "finished one trains nothing; resume=false trains them again)", sweep_dir, held)
    command = [sys.executable, "-m", "pegasus_lab.cli.train", "-m", "experiment=paper4",
               f"model={','.join(cfg.models)}", f"+paper4_data={','.join(present)}",
               *([f"seed={','.join(map(str, cfg.seeds))}"] if cfg.seeds else []),
               f"resume={cfg.resume}",
               override("hydra.sweep.dir", sweep_dir), *_fid_overrides(cfg, notes), *_shared(cfg)]
    log.info("training: %s", shell_line(command))
    status = _train(command)
    if status != 0:
        if not any(jobs(sweep_dir)):  # refused before any run started: nothing to tabulate
            raise ConfigError(f"the training multirun stopped before its first run (status "
                              f"{status}): its message is above; check overrides")
        notes.append(f"the multirun exited with status {status}: see the job logs")
    rows = collect(sweep_dir, cfg.stability_epochs)
    md, csv_path = write_tables(rows, sweep_dir, notes)
    grids = side_by_side(rows, sweep_dir)
    for note in notes:
        print(f"note: {note}")
    print(md.read_text())
    print(f"table: {md} and {csv_path}; sample grids: {', '.join(map(str, grids))}")
    if status != 0:  # as `pegasus-train -m` ends: a failed run fails the command
        finished = sum(row["status"] == "ok" for row in rows)
        planned = len(cfg.models) * len(present) * len(cfg.seeds or [None])
        if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            how = "interrupted" if status == EXIT_INTERRUPTED else "stopped by SIGTERM"
            exit_with_error(f"the training multirun was {how}: {finished} of its "
                            f"{planned} runs finished (table: {md}); the same command goes "
                            f"on, each run from its own last.ckpt", status)
        logs = [str(found) for row in rows if row["status"] != "ok"
                for found in sorted(Path(row["job"]).glob("*.log"))]
        exit_with_error(f"the training multirun exited with status {status}: "
                        f"{finished} of its {planned} runs finished (table: {md}); the "
                        f"others' errors are above" + (f" and in {', '.join(logs)}" if logs
                                                      else ""), status)
    return md


def _train(command: list[str]) -> int:
    """The training multirun's exit status. Ctrl-C is left to it, as a shell leaves it to the
    command in the foreground (the terminal sends it to both), and a SIGTERM sent to this
    command is passed on to it: its run stops and says where it goes on, and this command
    still writes the table of the runs that finished."""
    child = subprocess.Popen(command)
    handlers = {signal.SIGINT: signal.SIG_IGN,
                signal.SIGTERM: lambda signum, frame: child.send_signal(signum)}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="study")
def _hydra_main(cfg: DictConfig) -> None:
    report_user_errors(study, cfg)


def main() -> None:
    run_command(_hydra_main, "study")


if __name__ == "__main__":
    main()
