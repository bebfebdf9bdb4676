"""Errors a user can fix: the command-line entry points print them as one line and exit non-zero."""

import difflib
import inspect
import math
import pickle
import re
import zipfile
from pathlib import Path


class PegasusError(Exception):
    """Base class for errors caused by the user's input (config, data, checkpoints)."""


class DataError(PegasusError):
    """Missing, unknown or unreadable data."""


class ConfigError(PegasusError):
    """A configuration value the code cannot work with."""


class CheckpointError(PegasusError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


# what torch.load raises for a file cut short, damaged or of another kind
TORCH_LOAD_ERRORS = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
                     ValueError)


def method_name(model) -> str:
    """The method as messages to the user name it (GenerativeModule.method_name: "AC-GAN",
    "conditional VAE"), or the class's name for an object without one (a stand-in model)."""
    return getattr(model, "method_name", type(model).__name__)


def torch_load_failure(err: BaseException) -> str:
    """Why torch.load(weights_only=True) failed, in one line: torch's messages run to a page
    of advice (among it, to load the file unsafely). An OSError (torch maps some cut-off
    files and fails with EINVAL) says so."""
    if isinstance(err, OSError):
        return str(err.strerror or err) + ("" if isinstance(err, PermissionError) else
                                           " (cut short or damaged?)")
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].startswith("Weights only load failed"):
        mark = "WeightsUnpickler error:"
        detail = next((line.split(mark, 1)[1].strip() or following
                       for line, following in zip(lines, lines[1:] + [""]) if mark in line), "")
        return ("not a file of tensors that torch.load reads safely"
                + (f" ({detail})" if detail else ""))
    first = lines[0].split(". This is an internal miniz error")[0]
    return first[:300]


def find_user_error(exc: BaseException) -> PegasusError | None:
    """Walk an exception's cause chain (Hydra wraps errors raised while instantiating).
    Lightning's MisconfigurationException counts: it names a Trainer setting the run's config
    gave (`trainer.max_epochs=-2`)."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import (InterpolationResolutionError,
                                  InterpolationToMissingValueError, MissingMandatoryValue)

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PegasusError):
            return exc
        if isinstance(exc, MisconfigurationException):
            return ConfigError(f"Lightning refuses the run's settings: {exc}")
        instantiating = _instantiation_error(exc)
        if instantiating is not None:
            return instantiating
        if isinstance(exc, (MissingMandatoryValue, InterpolationToMissingValueError)):
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ConfigError(f"a required config value is not set: {first_line} "
                               "(give it on the command line as key=value)")
        if isinstance(exc, InterpolationResolutionError):
            return _unresolved(exc)
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _unresolved(exc) -> ConfigError:
    """An interpolation the config's values leave without a value (`model.encoder=null` under
    `${model.encoder.latent_dim}`, a key misspelt in one given on the command line, an
    environment variable that is not set): the key, its interpolation, and OmegaConf's why."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    why = re.sub(r"^\w+ raised while resolving interpolation: ", "", lines[0])
    key = getattr(exc, "full_key", None) or "a config value"
    node = getattr(exc, "child_node", None)
    raw = node._value() if node is not None else None
    given = f"={raw}" if isinstance(raw, str) and "${" in raw else ""
    return ConfigError(f"{key}{given} cannot be resolved: {why}")


def _instantiation_error(exc: BaseException) -> ConfigError | None:
    """What Hydra could not build because of the config itself: a `_target_` that cannot be
    imported or is not callable, or keys that do not fit its arguments (`+model.encoder.foo=1`,
    a required one left out). An error raised inside the target's own code is not one."""
    from hydra.errors import InstantiationException
    if not isinstance(exc, InstantiationException):
        return None
    said = str(exc)
    key = re.search(r"^full_key: (\S+)$", said, re.MULTILINE)
    where = key.group(1) if key else "the config"
    target = re.match(r"Error (?:locating|in call to) target '([^']+)'", said)
    cause = exc.__cause__
    if said.startswith("Error locating target") and target:
        why = "; ".join(str(cause).splitlines()[1:]) if cause else ""
        return ConfigError(f"{where}._target_: cannot import {target.group(1)!r}"
                           + (f": {why}" if why else ""))
    if said.startswith("Expected a callable target"):
        return ConfigError(f"{where}._target_: {said.splitlines()[0]}")
    if target and arguments_misfit(cause):
        return settings_misfit(where, target.group(1), cause,
                               closest_argument(cause, target.group(1), where))
    return None


def arguments_misfit(err: BaseException | None) -> bool:
    """Whether `err` is the TypeError of calling a config's target with arguments that do not
    fit its signature, raised by the call itself (Hydra's frame or the caller's is where its
    traceback ends), not by code inside the target."""
    if not isinstance(err, TypeError) or err.__traceback__ is None:
        return False
    first = last = err.__traceback__
    while last.tb_next is not None:
        last = last.tb_next
    import hydra
    hydra_dir = Path(hydra.__file__).resolve().parent
    return last is first or hydra_dir in Path(last.tb_frame.f_code.co_filename).resolve().parents


def from_settings(kind, key: str, settings: dict, name: str | None = None):
    """`kind(**settings)`, the settings being config key `key`'s; keys that do not fit its
    arguments are a config error naming the key and `name` (kind's own, by default)."""
    try:
        return kind(**settings)
    except TypeError as err:
        if not arguments_misfit(err):
            raise
        raise settings_misfit(key, name or kind.__name__, err,
                              closest_argument(err, kind, key)) from err


def settings_misfit(key: str, target: str, err: TypeError, hint: str = "") -> ConfigError:
    """The config error of keys under `key` that do not fit `target`'s arguments (`hint`:
    `closest_argument`'s)."""
    return ConfigError(f"{key}: {err}{hint} (the keys under {key} are the arguments of "
                       f"{target}: is one misspelt, added or left out?)")


def closest_argument(err: BaseException, target, key: str) -> str:
    """"; did you mean <key>.<name>?" where `err` is a call's refusal of a keyword that is
    close to the name of one of `target`'s arguments (`widht`, `max_epoch`, `lrr`), else "".
    `target`: what was called, or its `_target_` path. A keyword that other options of the
    key's config group set (`+model.r1_gamma` given to the VAE-GAN) is said to be theirs."""
    given = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    if given:
        from pegasus_lab.config_groups import options_with_key
        group, _, inside = key.partition(".")
        having = options_with_key(group, ".".join(filter(None, [inside, given.group(1)])))
        if having:
            return f"; {key}.{given.group(1)} is a setting of {group}={', '.join(having)} only"
    try:
        if isinstance(target, str):
            from hydra.utils import get_object
            target = get_object(target)
        # a factory of the config (`_partial_: true`): the arguments of what it makes
        parameters = inspect.signature(getattr(target, "func", target)).parameters.values()
    except Exception:  # noqa: BLE001 - a builtin without a signature: a hint only
        return ""
    names = [p.name for p in parameters
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]
    close = difflib.get_close_matches(given.group(1), names, n=1, cutoff=0.7) if given else []
    return f"; did you mean {key}.{close[0]}?" if close else ""


def require_int(key: str, value, least: int = 1, most: int | None = None,
                where: str = "") -> int:
    """`value` if it is an integer in [least, most], else a ConfigError naming `key` (after
    `where`, e.g. the network or mode that reads it) and the range it must lie in."""
    if not isinstance(value, bool) and isinstance(value, int) and value >= least \
            and (most is None or value <= most):
        return value
    if most is not None:
        kind = f"an integer from {least} to {most}"
    else:
        kind = {1: "a positive integer", 0: "0 or a positive integer"}.get(
            least, f"an integer of at least {least}")
    raise ConfigError(f"{where}{key} must be {kind}, got {value!r}")


def require_bool(key: str, value, where: str = "") -> bool:
    """`value` if it is true or false, else a ConfigError: a switch given as a word Hydra
    keeps as text (`speed.bf16=flase`) would otherwise count as on."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}{key} must be true or false, got {value!r}")


def require_auto_or_bool(key: str, value, where: str = ""):
    """`value` if it is "auto", true or false, else a ConfigError (1 is none of them, though
    Python finds 1 == True)."""
    if value == "auto" or isinstance(value, bool):
        return value
    raise ConfigError(f"{where}{key} must be auto, true or false, got {value!r}")


def require_seed(key: str, value, where: str = "") -> int:
    """A seed: an integer numpy takes as well as torch (0 to 2³² − 1), else a ConfigError."""
    return require_int(key, value, 0, 2**32 - 1, where)


def require_number(key: str, value, where: str = "", least: float | None = None,
                   most: float | None = None) -> float:
    """`value` as a float if it is a finite real number in [least, most] (each bound where
    given), else a ConfigError naming `key` and what it must be."""
    if not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
            and (least is None or value >= least) and (most is None or value <= most):
        return float(value)
    bounds = {(True, True): f" in [{least}, {most}]", (True, False): f" of at least {least}",
              (False, True): f" of at most {most}", (False, False): ""}
    raise ConfigError(f"{where}{key} must be a finite number"
                      f"{bounds[least is not None, most is not None]}, got {value!r}")


def require_weight(key: str, value, where: str = "") -> float:
    """`value` as a float if it is a finite number of at least 0 (a loss weight, a clipping
    bound: 0 turns the term off), else a ConfigError naming `key`."""
    return require_number(key, value, where, least=0)


def as_class_name(value) -> str | None:
    """A class as a config names it: the name, or for an integer its digits (MNIST's classes
    are '0'…'9', and Hydra reads `data.classes=[3,5]` as numbers); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def require_class_name(key: str, value, where: str = "") -> str:
    """`as_class_name(value)`, else a ConfigError naming `key`."""
    name = as_class_name(value)
    if name is None:
        raise ConfigError(f"{where}{key} must be a class name, got {value!r}")
    return name
