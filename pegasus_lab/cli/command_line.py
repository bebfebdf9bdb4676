"""The command line around Hydra's reading of it: before, Hydra's flags moved before the
overrides (it takes them only there) and a group or block of settings given as null refused;
after Hydra refused one, the closest key or group option to one it found in no config."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pegasus_lab.config_groups import config_dir, group_options, options_with_key
from pegasus_lab.errors import ConfigError


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
    a ConfigError, said in one line before Hydra composes the config."""
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
            raise ConfigError(f"{arg}: {group} is a config group, which takes one of its "
                              f"options ({', '.join(group_options(group))}), or ~{key} to "
                              "leave it out")
        if key in blocks:
            raise ConfigError(f"{arg}: {key} is a block of settings, not one value: set its "
                              f"keys one by one ({key}.<name>=…)")


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
    group, _, inside = given.lstrip("+~").partition(".")
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
