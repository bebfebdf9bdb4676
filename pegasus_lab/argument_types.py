"""A config value of the wrong kind (`trainer.max_epochs=abc`, `model.optimizer.lr=abc`,
`trainer.max_epochs=1.5`) named before anything is built: each `_target_` node's values are
held against the annotations of the class or function it builds (Lightning's, torch's and this
project's). Without this check such a value failed deep inside the library that reads it, as a
traceback (an `assert`, or `'<=' not supported between 'float' and 'str'`).

Only what an annotation says plainly is held against a value: classes, `None`, `Union`s and
`Optional`s of them, `Literal`s, and containers (any list for a list, tuple or sequence, any
mapping for a dict). An annotation it cannot read (`Any`, a callable, a type variable, a name
that does not resolve) passes every value, as does a nested `_target_` node (built into an
object first). Some values of another kind pass as their reader takes them: a number where a
string is expected (Hydra reads `name=2024` as an int), 0 or 1 for a switch, text for a path,
an integer for a float. A whole float for an integer does not (`max_epochs=2.0` fails an
assert in Lightning): the error says which integer to write. Nor does a switch for a number
(`max_epochs=true`, which Python would take as 1) or for a string.
"""
from __future__ import annotations

import collections.abc
import importlib
import inspect
import os
import pathlib
import types
import typing

from omegaconf import DictConfig, ListConfig, OmegaConf

from pegasus_lab.errors import ConfigError

_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable,
              collections.abc.Collection, collections.abc.MutableSequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
# the keys Hydra reads itself in a node it builds
_HYDRA_KEYS = {"_partial_": bool, "_recursive_": bool}
# the verdicts of _accepts on one annotation
YES, NO, CANNOT_TELL = "yes", "no", "cannot tell"


def check_argument_types(cfg: DictConfig) -> None:
    """Every `_target_` node in `cfg` (nested ones too) against what its target's annotations
    accept; the first value of the wrong kind is a ConfigError naming its key."""
    for key, node in _target_nodes(cfg, ""):
        hints = _hints(node)
        for name in node:
            if not isinstance(name, str):
                continue
            hint = _HYDRA_KEYS.get(name) or (hints.get(name) if not name.startswith("_")
                                             else None)
            if hint is None:
                continue
            try:
                value = node[name]
            except Exception:  # an interpolation that does not resolve: said where it is used
                continue
            if _accepts(hint, value) == NO:
                reader = "Hydra" if name in _HYDRA_KEYS else _what(node)
                raise ConfigError(f"{key}{name}={_shown(value)}{_source(node, name)}: {reader} "
                                  f"takes {_described(hint)} for {name}{_advice(hint, value)}")


def _target_nodes(node, prefix: str):
    """(key prefix, node) for each node with a `_target_` in `node`, lists' items included,
    skipping what is missing (`???`) or null."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            yield prefix, node
        items = ((name, f"{prefix}{name}.") for name in node)
    elif isinstance(node, ListConfig):
        items = ((index, f"{prefix[:-1]}[{index}].") for index in range(len(node)))
    else:
        return
    for name, child_prefix in items:
        try:
            child = node._get_node(name)
        except Exception:
            continue
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_missing() \
                and not child._is_none():
            yield from _target_nodes(child, child_prefix)


def _target(node: DictConfig):
    """The class or function a node's `_target_` names, or None where it cannot be imported
    here (Hydra says so when it builds the node)."""
    path = node.get("_target_")
    if not isinstance(path, str) or "." not in path:
        return None
    module_name, _, attribute = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except Exception:
        try:  # a class's attribute: package.module.Class.build
            owner_module, _, owner = module_name.rpartition(".")
            return getattr(getattr(importlib.import_module(owner_module), owner), attribute)
        except Exception:
            return None


def _hints(node: DictConfig) -> dict:
    """The target's parameters' annotations, resolved; those that cannot be resolved (names
    imported for type checkers only) are left out."""
    target = _target(node)
    if target is None:
        return {}
    function = target.__init__ if inspect.isclass(target) else target
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        hints = {}
        namespace = getattr(function, "__globals__", {})
        for name, parameter in parameters.items():
            annotation = parameter.annotation
            if isinstance(annotation, str):
                try:
                    annotation = eval(annotation, namespace)  # noqa: S307 - the code's own text
                except Exception:
                    continue
            if annotation is not inspect.Parameter.empty:
                hints[name] = annotation
    return {name: hints[name] for name, parameter in parameters.items()
            if name in hints and parameter.kind not in (parameter.VAR_POSITIONAL,
                                                        parameter.VAR_KEYWORD)}


def _accepts(annotation, value) -> str:
    """YES, NO or CANNOT_TELL: whether `annotation` takes the config value `value`."""
    if isinstance(value, DictConfig) and "_target_" in value:
        return CANNOT_TELL  # an object is built from it first
    origin = typing.get_origin(annotation)
    if annotation is None or annotation is type(None):
        return YES if value is None else NO
    if origin is typing.Union or origin is types.UnionType:
        verdicts = {_accepts(member, value) for member in typing.get_args(annotation)}
        return YES if YES in verdicts else CANNOT_TELL if CANNOT_TELL in verdicts else NO
    if origin is typing.Literal:
        return YES if any(value == choice and type(value) is type(choice)
                          for choice in typing.get_args(annotation)) else NO
    kind = origin or annotation
    if not isinstance(kind, type) or kind in (object, typing.Any):
        return CANNOT_TELL  # Any, a TypeVar, a callable, a forward reference
    if kind is collections.abc.Callable:
        return CANNOT_TELL  # built from a `_target_` node, or refused by the code itself
    if value is None:
        return NO  # a class that null is not (Optional[…] is a Union with None, above)
    if isinstance(value, ListConfig):
        return _items_accepted(annotation, value) if kind in _SEQUENCES \
            else _unless_protocol(kind)
    if isinstance(value, DictConfig):
        return YES if kind in _MAPPINGS else _unless_protocol(kind)
    # a switch for a number (`max_epochs=true` trained one epoch, `lr=true` at 1.0) or for a
    # name (`devices=true`)
    if isinstance(value, bool) and kind in (int, float, str):
        return NO
    if kind is float:
        return YES if isinstance(value, (int, float)) else NO  # an int: Python's tower
    if kind is str and isinstance(value, (int, float)):
        return YES  # Hydra reads `name=2024` as a number
    if kind is bool and isinstance(value, int):
        return YES if value in (0, 1) else NO  # 0 and 1 do as false and true
    if isinstance(value, str) and issubclass(kind, (os.PathLike, pathlib.PurePath)):
        return YES  # a path given as text
    if kind in _SEQUENCES and isinstance(value, str):
        return NO if kind is not collections.abc.Iterable else CANNOT_TELL
    try:
        return YES if isinstance(value, kind) else _unless_protocol(kind)
    except TypeError:  # a class isinstance cannot test
        return CANNOT_TELL


def _items_accepted(annotation, items: ListConfig) -> str:
    """A list against `list[X]`, `Sequence[X]`, `tuple[X, ...]` (each item an X) or
    `tuple[X, Y]` (that many items, each of its kind); any list for a bare `list`."""
    kinds = typing.get_args(annotation)
    if not kinds:
        return YES
    if typing.get_origin(annotation) is tuple and kinds[-1] is not Ellipsis:
        if len(kinds) != len(items):
            return NO
    else:
        kinds = kinds[:1] * len(items)
    verdicts = set()
    for index, kind in enumerate(kinds):
        try:
            verdicts.add(_accepts(kind, items[index]))
        except Exception:  # an interpolation that does not resolve
            verdicts.add(CANNOT_TELL)
    return NO if NO in verdicts else CANNOT_TELL if CANNOT_TELL in verdicts else YES


def _unless_protocol(kind: type) -> str:
    """NO, but CANNOT_TELL for an abstract or protocol class, which a value may satisfy
    without being one (os.PathLike, a collections.abc class other than those named)."""
    if getattr(kind, "_is_protocol", False) or inspect.isabstract(kind) \
            or kind.__module__ in ("collections.abc", "typing", "os"):
        return CANNOT_TELL
    return NO


def _members(annotation) -> list:
    """A Union's members, nested Unions flattened; any other annotation alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [inner for member in typing.get_args(annotation) for inner in _members(member)]
    return [annotation]


def _described(annotation) -> str:
    """What an annotation takes, in words: `an integer or null`, `one of 64, 32, …`."""
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    words, choices = [], []
    for member in _members(annotation):
        kind = typing.get_origin(member) or member
        if kind is typing.Literal:
            choices += [repr(choice) for choice in typing.get_args(member)]
        elif member is None or member is type(None):
            words.append("null")
        elif kind in names:
            words.append(names[kind])
        elif kind in _SEQUENCES:
            words.append(_described_list(member))
        elif kind in _MAPPINGS:
            words.append("a mapping")
        elif isinstance(kind, type) and issubclass(kind, (os.PathLike, pathlib.PurePath)):
            words.append("a path")
        else:
            words.append(getattr(kind, "__name__", str(kind)))
    if "a number" in words and "an integer" in words:
        words.remove("an integer")
    # single values first, then lists and mappings, null last: "a string or an integer or a
    # list of items, each an integer", not "a list of items, each an integer or a string …"
    words.sort(key=lambda word: (word == "null", word.startswith(("a list", "a mapping"))))
    if choices:
        words.insert(0, "one of " + ", ".join(dict.fromkeys(choices)))
    return " or ".join(dict.fromkeys(words))


def _described_list(annotation) -> str:
    """`a list`, `a list of items, each a number`, `a list of 2 items, each an integer`,
    `a list of 2 items (a number, a string)`."""
    kinds = typing.get_args(annotation)
    if not kinds:
        return "a list"
    fixed = typing.get_origin(annotation) is tuple and kinds[-1] is not Ellipsis
    each = [_described(kind) for kind in (kinds if fixed else kinds[:1])]
    if len(set(each)) == 1:
        count = f"{len(kinds)} " if fixed else ""
        return f"a list of {count}items, each {each[0]}"
    return f"a list of {len(kinds)} items ({', '.join(each)})"


def _advice(annotation, value) -> str:
    """A whole number given as a float where only integers do (`max_steps=1e5`)."""
    if isinstance(value, float) and value.is_integer() and int in _members(annotation):
        return f" (write {int(value)})"
    return ""


def _shown(value) -> str:
    """A value as the command line writes it: null, true, 'text', [1, 2]."""
    if isinstance(value, (DictConfig, ListConfig)):
        return str(OmegaConf.to_container(value, resolve=False))
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value) if isinstance(value, str) else str(value)


def _source(node: DictConfig, name: str) -> str:
    """` (from ${model.input_range})` for a value another key gave."""
    raw = node._get_node(name)._value()
    return f" (from {raw})" if isinstance(raw, str) and "${" in raw else ""


def _what(node: DictConfig) -> str:
    return str(node._target_).rpartition(".")[2]
