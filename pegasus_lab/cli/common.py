"""What the entry points share: a quiet console, how user errors are reported and with which
exit status, and the checks and helpers of several commands (an output path, a device, a
draw's name). The command line around Hydra's reading of it: cli/command_line.py."""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.argument_types import check_argument_types
from pegasus_lab.cli.command_line import closest_key, hydra_flags_first, refuse_nulls
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


def run_command(hydra_main, config_name: str) -> None:
    """A command's `main`: its Hydra entry point (whose primary config is `config_name`), with
    the exit status of a multirun whose failed jobs all failed on user errors set to 2, as a
    single run's would be (Hydra's is 1 for any failure). Before Hydra reads the command
    line, its flags (-m, --cfg job, …) are moved before the overrides and a config group or
    block of settings given as null is refused; after it refused one, a key it finds in no
    config, or a group option it finds in no file, is followed by the closest one
    (cli/command_line.py)."""
    sys.argv[1:] = hydra_flags_first(sys.argv[1:])
    try:
        refuse_nulls(sys.argv[1:], config_name)
    except ConfigError as err:
        exit_with_error(str(err))
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
