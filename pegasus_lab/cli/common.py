"""What the entry points share: where the configs are, a quiet console, and how user errors
are reported."""
from __future__ import annotations

import contextlib
import difflib
import importlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.argument_types import check_argument_types
from pegasus_lab.config_groups import config_dir, group_options, options_with_key
from pegasus_lab.errors import ConfigError, find_user_error, method_name

if TYPE_CHECKING:
    import torch

log = logging.getLogger("pegasus_lab")
EXIT_USER_ERROR = 2
# a command stopped by Ctrl-C (SIGINT) or SIGTERM: the status a shell gives one those end
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def one_console_line_per_record() -> None:
    """Importing `lightning` gives its logger a console handler of its own, while its records
    also reach the console handler Hydra puts on the root logger: every Lightning line was
    printed twice. Under Hydra's logging (root handlers set), Lightning's own one goes; its
    records still reach the console and the run's log file through the root."""
    importlib.import_module("lightning")  # its handler is added on import
    if not logging.getLogger().handlers:
        return
    lightning_log = logging.getLogger("lightning")
    for handler in list(lightning_log.handlers):
        if type(handler) is logging.StreamHandler:
            lightning_log.removeHandler(handler)


# Notices inside libraries that a user of the commands can do nothing about (module, category,
# start of the message): Lightning's own use of torch's pytree; torch.jit, which loads the FID
# network (a TorchScript file); torchmetrics' KID keeping the features it is fed, which is
# how the project uses it (features computed once, handed over); Lightning's note, in every
# GAN run, that the data module has a validation set the method has no step for (the GANs
# validate nothing, by design). The test suite still shows them.
LIBRARY_NOTICES = [("lightning.pytorch.utilities._pytree", FutureWarning, ""),
                   ("torch.jit._serialization", FutureWarning, ""),
                   ("torchmetrics.utilities.prints", UserWarning,
                    "Metric `Kernel Inception Distance` will save all extracted features"),
                   ("lightning.pytorch.trainer.configuration_validator", UserWarning,
                    "You passed in a `val_dataloader` but have no `validation_step`")]


# Lightning's own logger of rank-zero messages, which also carries its adverts for its cloud
# services ("💡 Tip: … try installing litlogger"), printed in every run
LIGHTNING_MESSAGES = "lightning.pytorch.utilities.rank_zero"


def _not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip:")


def quiet_library_notices() -> None:
    for module, category, message in LIBRARY_NOTICES:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category,
                                module=module)
    logging.getLogger(LIGHTNING_MESSAGES).addFilter(_not_an_advert)  # added once however often


class FailedJob(CompactHydraException):
    """A multirun job's user error. Hydra marks the job failed and goes on with the sweep's
    other jobs, then reports the first failure once more, in this one line, at the end."""


# failures of this process's multirun jobs, for the exit status at the end
_failed_jobs = {"user": 0, "other": 0}


def report_user_errors(task, cfg):
    """Run `task(cfg)`, every command's one way in: first the console is set up (one line per
    log record, no library notices or adverts); then a user error (bad data, config,
    checkpoint) becomes one `error: …` line on stderr (and in the run's log file) and exit
    status 2 instead of a traceback; in a multirun it fails that job only (`FailedJob`).
    Ctrl-C is one line too, and status 130 (in a multirun: the multirun's). Anything else is a
    bug and keeps its traceback."""
    from pegasus_lab.sweep import in_multirun
    one_console_line_per_record()
    quiet_library_notices()
    try:
        with in_launch_dir():
            return task(cfg)
    except KeyboardInterrupt:  # outside training (there: cli/train.py's _fit says more)
        say_error("interrupted (Ctrl-C)")  # files are written whole or not at all
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        user_error = find_user_error(exc)
        if user_error is None:
            _failed_jobs["other"] += in_multirun()
            raise
        log.debug("user error", exc_info=True)
        if not in_multirun():
            exit_with_error(str(user_error))
        say_error(str(user_error))
        _failed_jobs["user"] += 1
        from hydra.core.hydra_config import HydraConfig
        raise FailedJob(f"error: job {HydraConfig.get().job.num} failed: {user_error}") from None


@contextlib.contextmanager
def in_launch_dir():
    """Run in the folder the command was launched from even under `hydra.job.chdir=true`, so
    relative paths (`paths.root_dir`, `ckpt=…`, `data.source.root=…`) mean what they mean
    without it; every output goes to the run folder by its absolute `paths.output_dir`."""
    from hydra.core.hydra_config import HydraConfig
    here = os.getcwd()
    launch_dir = HydraConfig.get().runtime.cwd if HydraConfig.initialized() else here
    if os.path.realpath(here) == os.path.realpath(launch_dir):
        yield
        return
    log.info("hydra.job.chdir: relative paths are read from %s; outputs go to %s",
             launch_dir, here)
    os.chdir(launch_dir)
    try:
        yield
    finally:
        os.chdir(here)


def say_error(message: str) -> None:
    """`error: message` on stderr and in the run's log file."""
    line = f"error: {message}"
    print(line, file=sys.stderr)
    _into_log_files(line)


def exit_with_error(message: str, status: int = EXIT_USER_ERROR):
    """Say `error: message` and end the command with `status`."""
    say_error(message)
    sys.exit(status)


def _into_log_files(message: str) -> None:
    """`message` into the run's log file (Hydra's file handler), not to the console again."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _primary_config(args: list[str], config_name: str) -> Path | None:
    """The primary config a command line composes: the command's own, or the one that
    `--config-name NAME` (`-cn`) names in `conf/`; None for one kept elsewhere
    (`--config-path`, `--config-dir`, or a name `conf/` does not hold)."""
    for i, arg in enumerate(args):
        flag, sep, value = arg.partition("=")
        if flag in ("--config-path", "-cp", "--config-dir", "-cd"):
            return None
        if flag in ("--config-name", "-cn"):
            config_name = value if sep else (args[i + 1] if i + 1 < len(args) else "")
    path = Path(config_dir()) / f"{config_name.removesuffix('.yaml')}.yaml"
    return path if path.is_file() else None


def _sweep_items(value: str) -> list[str]:
    """The values of one override: `mnist,null` and `choice(mnist,null)` (a multirun's) are
    two, anything else (`[a,b]`, `{k:v}`, `range(…)`) is one."""
    value = re.sub(r"^choice\((.*)\)$", r"\1", value.strip())
    items, depth, start = [], 0, 0
    for i, char in enumerate(value):
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(value[start:i].strip())
            start = i + 1
    return items + [value[start:].strip()]


def refuse_nulls(args: list[str], config_name: str) -> None:
    """`callbacks=null` (a config group: Hydra stops on it with a traceback, as a group takes
    the name of one of its options) or `manifold=null` (a block of settings the command reads
    key by key) on the command line, also as one value of a multirun (`data=mnist,null`):
    said in one line before Hydra composes the config."""
    path = _primary_config(args, config_name)
    if path is None:
        return
    try:
        primary = OmegaConf.load(path)
    except Exception:  # noqa: BLE001 - a config of the user's that Hydra will name
        return
    groups = {re.sub(r"^(optional|override) ", "", str(key)) for entry in
              primary.get("defaults") or [] if isinstance(entry, DictConfig) for key in entry}
    blocks = {key for key in primary if key not in ("defaults", "hydra")
              and isinstance(primary._get_node(key), DictConfig)}
    for arg in args:
        key, sep, value = arg.lstrip("+").partition("=")
        if not sep or "null" not in _sweep_items(value):
            continue
        if key in groups:
            group = key.partition("@")[0]
            exit_with_error(f"{arg}: {group} is a config group, which takes one of its "
                            f"options ({', '.join(group_options(group))}), or ~{key} to "
                            "leave it out")
        if key in blocks:
            exit_with_error(f"{arg}: {key} is a block of settings, not one value: set its keys "
                            f"one by one ({key}.<name>=…)")


MULTIRUN_FLAGS = ("-m", "--multirun")


def split_hydra_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's flags with their values, the overrides), each in the order given. The flags
    are read off Hydra's own argument parser: `--cfg job`, `--cfg=job`, `-p model`,
    `--info` with or without one of its choices, `-m`."""
    from hydra._internal.utils import get_args_parser
    actions = {s: a for a in get_args_parser()._actions for s in a.option_strings}
    flags, overrides, rest = [], [], list(args)
    while rest:
        arg = rest.pop(0)
        action = actions.get(arg.partition("=")[0]) if arg.startswith("-") else None
        if action is None:
            overrides.append(arg)
            continue
        flags.append(arg)
        if "=" in arg or action.nargs == 0 or not rest:
            continue
        if action.nargs is None or (action.nargs == "?" and rest[0] in (action.choices or ())):
            flags.append(rest.pop(0))  # its value
    return flags, overrides


def hydra_flags_first(args: list[str]) -> list[str]:
    """`args` with Hydra's flags (and their values) moved before the overrides. Hydra's
    argument parser takes the overrides as one run of words: `pegasus-train seed=1 -m lr=1,2`
    or `pegasus-train model=dcgan --cfg job data=mnist` stopped with a usage message and
    "unrecognized arguments". No override starts with `-`, so where a flag stands changes
    nothing else."""
    flags, overrides = split_hydra_flags(args)
    return flags + overrides


def _first_job(override: str) -> str:
    """A multirun's override as its first job has it, by Hydra's own parser: `a=1,2`,
    `a=choice(1,2)` and `a=range(1,3)` as `a=1`. One it cannot list (`interval(…)`, a search's)
    or parse is left as given."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    try:
        parsed = OverridesParser.create().parse_override(override)
        if not parsed.is_sweep_override():
            return override
        return f"{override.partition('=')[0]}={next(iter(parsed.sweep_string_iterator()))}"
    except Exception:  # noqa: BLE001 - Hydra says what is wrong with it
        return override


def closest_key(args: list[str], config_name: str) -> str | None:
    """After Hydra refused a command line: where an override names a key the config lacks
    (`model.encoder.widht=16`, `trainr.max_epochs=3`), "did you mean …?" with the closest key
    there is (Hydra's own message suggests adding the misspelt one with +), and where it names
    a group option there is no file of (`model=vae_cnov`), the closest option; in a multirun, of
    its first job's values. None where there is no such key or none close, or for a config
    kept elsewhere."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    if _primary_config(args, config_name) is None:
        return None
    overrides = split_hydra_flags(args)[1]
    if any(a in MULTIRUN_FLAGS for a in args):
        overrides = [_first_job(o) for o in overrides]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return closest_key_composed(compose, config_name, overrides)
    except Exception:  # noqa: BLE001 - a hint only: Hydra has said what went wrong
        return None
    finally:
        GlobalHydra.instance().clear()


def closest_key_composed(compose: Callable, config_name: str, overrides: list[str]
                         ) -> str | None:
    """`closest_key`'s hint with `compose` (Hydra's, where it is set up: in a running
    command, one that composes another config, as pegasus-study does each run's)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException
    try:
        try:
            compose(config_name, overrides)
            return None
        except MissingConfigException as err:  # a group's option: model=vae_cnov
            return _closest_option(err, overrides)
        except ConfigCompositionException as err:
            missing = getattr(err.__cause__, "full_key", None)
        if not missing:
            return None
        # the override of that key (or of a key under it), and a config without it
        under = [f"{o.partition('=')[0]}.".startswith(f"{missing}.") for o in overrides]
        given = next((o.partition("=")[0] for o, u in zip(overrides, under) if u), missing)
        cfg = compose(config_name, [o for o, u in zip(overrides, under) if not u])
    except Exception:  # noqa: BLE001 - a hint only: Hydra has said what went wrong
        return None
    group, _, inside = missing.partition(".")
    having = options_with_key(group, inside) if inside else []
    if having:  # a setting of other options of its group: say which, not a guess
        return f"{given}: a setting of {group}={', '.join(having)} only"
    parent, _, name = missing.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    close = difflib.get_close_matches(name, [str(k) for k in node], n=1, cutoff=0.7) \
        if isinstance(node, DictConfig) else []
    if not close:
        return None
    return f"{given}: did you mean {'.'.join(filter(None, [parent, close[0]]))}" \
           f"{given[len(missing):]}?"


def _closest_option(err, overrides: list[str]) -> str | None:
    """"model=vae_cnov: did you mean model=vae_conv?" for a group option Hydra did not find
    (`err`, its MissingConfigException: the file it looked for, the group's options)."""
    group, _, option = str(getattr(err, "missing_cfg_file", None) or "").rpartition("/")
    options = [o for o in getattr(err, "options", None) or [] if not o.startswith("_")]
    close = difflib.get_close_matches(option, options, n=1, cutoff=0.7)
    given = next((o.partition("=")[0] for o in overrides if o.partition("=")[2] == option
                  and o.partition("=")[0].lstrip("+~").partition("@")[0] == group), None)
    if not (close and given):
        return None
    return f"{given}={option}: did you mean {given}={close[0]}?"


def run_command(hydra_main, config_name: str) -> None:
    """A command's `main`: its Hydra entry point (whose primary config is `config_name`), with
    the exit status of a multirun whose failed jobs all failed on user errors set to 2, as a
    single run's would be (Hydra's is 1 for any failure). Hydra's flags (-m, --cfg job, …)
    may come anywhere among the overrides; a config group or block of settings given as null is refused first; a key
    Hydra finds in no config, or a group option it finds in no file, is followed by the
    closest one (`closest_key`)."""
    sys.argv[1:] = hydra_flags_first(sys.argv[1:])
    refuse_nulls(sys.argv[1:], config_name)
    try:
        hydra_main()
    except SystemExit as stop:
        if stop.code == 1 and _failed_jobs["user"] and not _failed_jobs["other"]:
            sys.exit(EXIT_USER_ERROR)
        if stop.code == 1 and not _failed_jobs["user"] and not _failed_jobs["other"]:
            hint = closest_key(sys.argv[1:], config_name)
            if hint:
                print(hint, file=sys.stderr)
        raise


def check_values(cfg: DictConfig) -> None:
    """Before anything is built: name every `???` value the run still needs, then the first
    value of a kind its reader does not take (`trainer.max_epochs=abc`)."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        example = " ".join(f"{key}=…" for key in missing)
        raise ConfigError(f"required config value(s) not set: {', '.join(missing)} "
                          f"(give them on the command line: {example})")
    check_argument_types(cfg)


def check_writable(path: str | Path, key: str) -> Path:
    """A file the command writes when its work is done, checked before the work starts: not a
    folder, and its nearest existing folder takes a new file. Nothing is created."""
    path = Path(path).absolute()
    if path.is_dir():
        raise ConfigError(f"{key}={path} is a folder: give a file name in it")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{key}={path} cannot be written: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ConfigError(f"{key}={path} cannot be written: no new file can be made in "
                          f"{folder} ({err.strerror or err})") from err
    return path


def ready_datamodule(data_cfg):
    """Instantiate a data config and load it, outside a Trainer (evaluation, figures)."""
    from hydra.utils import instantiate
    datamodule = instantiate(data_cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def pick_device(name: str) -> torch.device:
    """`auto` (a GPU when there is one), or the device named; a name torch does not know, or
    a GPU this machine lacks, is a config error."""
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"unknown device {name!r} (auto, cpu, cuda or cuda:N): "
                          f"{str(err).splitlines()[0]}") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"device={name}, but this machine has {count} CUDA device(s): "
                              f"use device=auto or device=cpu")
    return device


def draw_label(cfg: DictConfig) -> str:
    """How pegasus-sample's or pegasus-evaluate's draw differs from the default one, for the
    names of its figure or results: its truncation, and the trained weights rather than their
    average ('_truncation0.5_no-average'; '' for the default draw)."""
    from pegasus_lab.latent.truncation import truncation_label
    return truncation_label(cfg.truncation) + ("" if cfg.average else "_no-average")


def use_average(model, average: bool, ckpt) -> None:
    """`average` of pegasus-sample and pegasus-evaluate: a model that keeps an average of its
    generator's weights (model.ema_decay) samples from it, or with `average=false` from the
    trained weights; false for a model without one would change nothing, and is refused."""
    if average:
        return
    if getattr(model, "generator_ema", None) is None:
        raise ConfigError(f"average=false: the {method_name(model)} of {ckpt} keeps no average "
                          f"of generator weights (it was trained with model.ema_decay=null): its "
                          f"samples come from its trained weights already")
    model.sample_from_average = False
