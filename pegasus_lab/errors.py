"""Errors a user can fix: the command-line entry points print them as one line and exit non-zero."""

import math


class PegasusError(Exception):
    """Base class for errors caused by the user's input (config, data, checkpoints)."""


class DataError(PegasusError):
    """Missing, unknown or unreadable data."""


class ConfigError(PegasusError):
    """A configuration value the code cannot work with."""


class CheckpointError(PegasusError):
    """A checkpoint that is missing, corrupt or does not fit the model."""


def find_user_error(exc: BaseException) -> PegasusError | None:
    """Walk an exception's cause chain (Hydra wraps errors raised while instantiating).
    Lightning's MisconfigurationException counts: it names a Trainer setting the run's config
    gave (`trainer.max_epochs=-2`)."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, PegasusError):
            return exc
        if isinstance(exc, MisconfigurationException):
            return ConfigError(f"Lightning refuses the run's settings: {exc}")
        if isinstance(exc, (MissingMandatoryValue, InterpolationToMissingValueError)):
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ConfigError(f"a required config value is not set: {first_line} "
                               "(give it on the command line as key=value)")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


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


def require_weight(key: str, value, where: str = "") -> float:
    """`value` as a float if it is a finite number of at least 0 (a loss weight, a clipping
    bound: 0 turns the term off), else a ConfigError naming `key`."""
    if not isinstance(value, bool) and isinstance(value, (int, float)) \
            and math.isfinite(value) and value >= 0:
        return float(value)
    raise ConfigError(f"{where}{key} must be a finite number of at least 0, got {value!r}")
