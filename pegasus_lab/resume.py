"""Which checkpoint `pegasus-train … resume=true` (or ckpt_path=last) continues: the run
folder's own last.ckpt, else the newest earlier run's; in a multirun, each job its own. A
cluster job its scheduler restarts (preempted, or out of time, and requeued) continues its own
last.ckpt whatever `resume` says."""
from __future__ import annotations

import logging
import os
import platform
from pathlib import Path

from omegaconf import DictConfig

from pegasus_lab.earlier_run import EARLIER
from pegasus_lab.errors import ConfigError
from pegasus_lab.overrides import typed

log = logging.getLogger(__name__)


def resume_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: ckpt_path as given, or for ckpt_path=last / resume=true
    this run folder's last.ckpt (hydra.run.dir=<old run> continues its logs in place), else the
    newest last.ckpt among earlier runs of the same task. A multirun's job only ever continues
    its own folder (hydra.sweep.dir=<old sweep>): see `_resume_in_sweep`. resume=auto: this
    run folder's last.ckpt when there is one, else a new start (never another run's): a
    recipe run again, or a requeued cluster job, goes on where it stopped."""
    given = cfg.get("ckpt_path")
    if given not in (None, "last"):
        return str(given)
    mode = cfg.get("resume")
    if not (mode is None or isinstance(mode, bool) or mode == "auto"):  # 1 == True in Python
        raise ConfigError(f"resume must be true, false or auto, got {mode!r}")
    if given != "last" and not mode:
        return _restarted_job(cfg)
    here = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    auto = given != "last" and mode == "auto"
    if auto and not here.is_file():
        log.info("resume=auto: no last.ckpt in %s yet, so training starts at step 0",
                 here.parent)
        return None
    if auto and not _same_kind_of_run(cfg, here):
        return None
    sweep = _sweep_dir()
    if sweep is not None:
        _require_a_repeatable_sweep()
    if here.is_file():
        if sweep is not None:
            require_the_same_sweep_point(here, sweep, _task_overrides())
        return str(here)
    if sweep is not None:
        return _resume_in_sweep(cfg, sweep, here)
    runs = Path(cfg.paths.log_dir) / cfg.task_name
    found = _last_checkpoints(runs)
    if not found:
        raise ConfigError(f"nothing to resume: no last.ckpt in {here.parent} nor under {runs}")
    return str(found[-1])


def _same_kind_of_run(cfg: DictConfig, here: Path) -> bool:
    """resume=auto continues a run folder's last.ckpt only when it and this run are both
    smoke runs (debug=smoke) or both not. A real run (a recipe run after `make
    reproduce-paper-N ARGS="debug=smoke"`) does not continue the smoke run's few batches: it
    starts at step 0, the smoke run's outputs set aside (False). A smoke run in a real run's
    folder would set that run aside, for the recipe to start it again: refused."""
    from pegasus_lab.checkpoints import CONFIG_KEY, load_checkpoint
    from pegasus_lab.errors import CheckpointError
    try:
        stored = load_checkpoint(here, mmap=True)
    except CheckpointError as err:
        raise CheckpointError(f"{err}. {afresh('auto')}") from err
    was_smoke = bool((stored.get(CONFIG_KEY) or {}).get("smoke_run", False))
    is_smoke = bool(cfg.get("smoke_run", False))
    if was_smoke == is_smoke:
        return True
    if is_smoke:
        raise ConfigError(f"{here} is a real run's checkpoint (step {stored.get('global_step')})"
                          ": a debug=smoke run with resume=auto there would set it aside, and "
                          "the recipe would train it again from step 0; run the smoke run in "
                          "another folder: hydra.run.dir=…, or a recipe's folder variable "
                          "(make reproduce-paper-1 P1=outputs/smoke ARGS=\"debug=smoke\")")
    log.warning("resume=auto: %s was written by a debug=smoke run, which a real run does not "
                "continue: training starts at step 0 (the smoke run's outputs are set aside)",
                here)
    return False


def hydra_overrides() -> dict | None:
    """This run's command-line overrides as Hydra took them ("job": a multirun's job has its
    own values) and, in a multirun, the keys it sweeps ("swept"); None outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    if not HydraConfig.initialized():
        return None
    sweep = _sweep_dir()
    return {"job": _task_overrides(),
            "swept": _swept_keys(sweep) if sweep is not None else []}


def _task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig
    return [str(o) for o in HydraConfig.get().overrides.task]


def require_the_same_sweep_point(here: Path, sweep: Path, overrides: list[str]) -> None:
    """A multirun continued in its folder gives job N job N's folder: that is the same setting
    only when it sweeps the same values in the same order as the multirun that made the
    folder. Otherwise (another order, a value added in front, one value of a list kept) job N
    would continue another setting's model, silently where the shapes fit (a loss weight, a
    seed): refused, naming the values that differ, of the keys either multirun swept.
    Checkpoints without stored overrides are not checked."""
    from pegasus_lab.checkpoints import OVERRIDES_KEY, load_checkpoint
    from pegasus_lab.sweep import parse_override
    stored = load_checkpoint(here, mmap=True).get(OVERRIDES_KEY)
    if not isinstance(stored, dict):
        return
    was, now = (dict(parse_override(o) for o in given)
                for given in (stored.get("job", []), overrides))
    swept = dict.fromkeys([*stored.get("swept", []), *_swept_keys(sweep)])
    differ = [key for key in swept if was.get(key) != now.get(key)]
    if differ:
        said = lambda values: ", ".join(f"{k}={values.get(k, '(not set)')}" for k in differ)
        raise ConfigError(f"{here} was trained with {said(was)}, and this job of the multirun "
                          f"has {said(now)}: a multirun continued in its folder gives job N "
                          "job N's checkpoint, so it must sweep the same values in the same "
                          "order as the one that made the folder (or use a new "
                          "hydra.sweep.dir)")


def _swept_keys(sweep: Path) -> list[str]:
    """The keys a multirun sweeps (its multirun.yaml's overrides with several values)."""
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    try:
        task = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["overrides"]["task"]
        parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError, HydraException):
        return []  # unreadable: nothing to compare by
    return list(dict.fromkeys(o.get_key_element().lstrip("+~") for o in parsed
                              if o.is_sweep_override()))  # a key given twice: once


def afresh(mode) -> str:
    """What to do when the checkpoint `resume` chose cannot be continued (damaged, or of
    another model or size)."""
    return (f"It is the run that resume={mode} continues: resume=false trains this model from "
            "step 0 instead (a recipe: make … RESUME=false), and what the earlier run left in "
            "this run folder is set aside in earlier/")


def after_interrupt(step: int, last: Path | None, run_dir: str, why: str = "interrupted"
                    ) -> str:
    """What to say when Ctrl-C (or SIGTERM: `why`) stops a run at `step`: the step its last
    checkpoint (`last`) holds, which is where it goes on, and the command that continues it."""
    if last is None or not last.is_file():
        return f"{why} at step {step}, before its first checkpoint: nothing to go on from"
    from pegasus_lab.checkpoints import load_checkpoint
    try:
        held = f"step {int(load_checkpoint(last)['global_step'])}"
    except Exception:  # said, not raised: resumed, a damaged one is refused with the reason
        held = "a step it cannot tell"
    sweep = _sweep_dir()
    again = (f"the same multirun with resume=true {typed('hydra.sweep.dir', sweep)}"
             if sweep is not None
             else f"the same command with {typed('hydra.run.dir', run_dir)} resume=true")
    return (f"{why} at step {step}; it goes on from {last} ({held}; the steps since "
            f"are lost) when run again as {again} (a recipe: make it again)")


def scheduler_job() -> str | None:
    """This process's job when hydra-submitit-launcher started it (`hydra/launcher=slurm` or
    `submitit_local`): "slurm:<job id>" or "local:<host>:<job id>", which stays the same when
    the scheduler restarts the job; None otherwise (another launcher, or none)."""
    executor = os.environ.get("SUBMITIT_EXECUTOR")
    if executor == "slurm" and os.environ.get("SLURM_JOB_ID"):
        return f"slurm:{os.environ['SLURM_JOB_ID']}"
    if executor == "local" and os.environ.get("SUBMITIT_LOCAL_JOB_ID"):
        return f"local:{platform.node()}:{os.environ['SUBMITIT_LOCAL_JOB_ID']}"
    return None


def _restarted_job(cfg: DictConfig) -> str | None:
    """This run folder's last.ckpt when the job that wrote it is this one, restarted by its
    scheduler: submitit requeues a preempted job (and, with hydra.launcher.max_num_timeout,
    one out of time) as the same job with the same settings, which would otherwise train again
    from step 0. A search's trial continues too: the requeued job is the same trial."""
    from pegasus_lab.checkpoints import JOB_KEY, load_checkpoint
    job = scheduler_job()
    here = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    if job is None or not here.is_file():
        return None
    if load_checkpoint(here, mmap=True).get(JOB_KEY) != job:
        return None
    log.warning("job %s was restarted by its scheduler (preempted or out of time): it "
                "continues its own %s", job, here)
    return str(here)


def _last_checkpoints(folder: Path) -> list[Path]:
    """last.ckpt files of the runs and multirun jobs under `folder`, oldest first."""
    found = list(folder.glob("*/*/checkpoints/last.ckpt"))
    found += folder.glob("*/*/*/checkpoints/last.ckpt")
    return sorted(found, key=lambda p: p.stat().st_mtime)


def _sweep_dir() -> Path | None:
    """The multirun's folder when this is one of its jobs, else None."""
    from hydra.core.hydra_config import HydraConfig

    from pegasus_lab.sweep import in_multirun
    return Path(HydraConfig.get().sweep.dir) if in_multirun() else None


def _require_a_repeatable_sweep() -> None:
    """Job N of a resumed multirun continues job N's folder, which is only the same trial when
    the sweeper gives job N the same settings again: Hydra's basic sweeper does; a search
    (Optuna) draws them anew."""
    from hydra.core.hydra_config import HydraConfig
    sweeper = HydraConfig.get().sweeper.get("_target_", "")
    if not sweeper.endswith(".BasicSweeper"):
        raise ConfigError(f"a search ({sweeper.rsplit('.', 1)[-1]}) cannot be resumed: it "
                          f"draws each trial's settings anew, so a job would continue another "
                          f"trial's model; start a new search, or resume one trial on its own "
                          f"with ckpt_path=<its last.ckpt>")


def _resume_in_sweep(cfg: DictConfig, sweep: Path, here: Path) -> None:
    """A job of a resumed multirun has no last.ckpt of its own. Falling back to the newest
    earlier run would make every job continue the same model; instead: when no job of the
    sweep has a checkpoint, the sweep is a new folder (an error saying to name the old one);
    when others have, this job had not reached its first checkpoint and starts afresh."""
    if not any(EARLIER not in p.relative_to(sweep).parts  # a job's own, not one set aside
               for p in sweep.glob("**/checkpoints/last.ckpt")):
        earlier = [p.parents[2] for p in _last_checkpoints(
            Path(cfg.paths.log_dir) / cfg.task_name / "multiruns")]
        hint = f" (the newest with checkpoints: {earlier[-1]})" if earlier else ""
        raise ConfigError(f"nothing to resume in this multirun's folder {sweep}: each job "
                          f"continues its own last.ckpt, so run the same command with the sweep "
                          f"to continue as hydra.sweep.dir=<its folder>{hint}")
    log.warning("nothing to resume in %s (this job had not reached its first checkpoint): "
                "it starts from step 0", here.parent)
    return None
