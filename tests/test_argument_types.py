"""Config values held against the annotations of what their `_target_` builds."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Sequence

import pytest
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from pegasus_lab.argument_types import check_argument_types
from pegasus_lab.errors import ConfigError
from tests.conftest import compose_config, smoke

if TYPE_CHECKING:
    from collections import OrderedDict  # a name that does not resolve at run time


class Part:
    def __init__(self, width: int, gain: float = 1.0, name: str = "part",
                 root: str | Path = ".", path: Path | None = None, flag: bool = False,
                 mode: Literal["fast", "plain", 16] = "fast", sizes: tuple[int, int] = (1, 2),
                 names: list[str] | None = None, options: dict | None = None,
                 rate: Optional[float | torch.Tensor] = None, anything: Any = None,
                 hidden: OrderedDict | None = None, items: Sequence[int] = (),
                 child: Part | None = None, factory: Callable[..., Any] = print,
                 choice: list[int] | str | int | None = None, **more):
        pass


def build_parts(parts: list, scale: float = 1.0):
    return parts


T = f"{__name__}.Part"


def _check(**node):
    check_argument_types(OmegaConf.create({"model": {"_target_": T, **node}}))


@pytest.mark.parametrize("node", [
    {"width": 8}, {"width": 8, "gain": 2}, {"width": 8, "gain": 0.5},
    {"width": 8, "name": 2024}, {"width": 8, "root": "/data"}, {"width": 8, "path": "/data"},
    {"width": 8, "path": None}, {"width": 8, "flag": 1}, {"width": 8, "mode": "plain"},
    {"width": 8, "mode": 16}, {"width": 8, "sizes": [3, 4]}, {"width": 8, "names": ["a"]},
    {"width": 8, "options": {"a": 1}}, {"width": 8, "names": ["a", 2024]},
    {"width": 8, "_partial_": True, "_recursive_": False}, {"width": 8, "rate": 0.1},
    {"width": 8, "rate": None}, {"width": 8, "factory": None},  # said by the code itself
    {"width": 8, "anything": "x"}, {"width": 8, "hidden": "x"}, {"width": 8, "items": [1]},
    {"width": 8, "undeclared": "x"},  # into **more
    {"width": 8, "child": {"_target_": T, "width": 4}},  # built into a Part first
    {"width": "${oc.env:NO_SUCH_VARIABLE_HERE}"},  # unresolved: said where it is used
])
def test_values_of_the_annotated_kinds_pass(node):
    _check(**node)


@pytest.mark.parametrize("node,says", [
    ({"width": "abc"}, "model.width='abc': Part takes an integer for width"),
    ({"width": 1.5}, "model.width=1.5: Part takes an integer for width"),
    ({"width": None}, "model.width=null: Part takes an integer for width"),
    ({"width": 8, "items": None},
     "model.items=null: Part takes a list of items, each an integer for items"),
    ({"width": 8, "mode": True}, "model.mode=true: Part takes one of 'fast', 'plain', 16"),
    ({"width": 1e3}, "model.width=1000.0: Part takes an integer for width (write 1000)"),
    ({"width": 8, "gain": "abc"}, "model.gain='abc': Part takes a number for gain"),
    ({"width": 8, "gain": [1, 2]}, "model.gain=[1, 2]: Part takes a number for gain"),
    ({"width": 8, "flag": "yes"}, "model.flag='yes': Part takes true or false for flag"),
    ({"width": 8, "flag": 2}, "model.flag=2: Part takes true or false for flag"),
    # a switch for a number: Python takes true as 1 (one epoch, a learning rate of 1)
    ({"width": True}, "model.width=true: Part takes an integer for width"),
    ({"width": 8, "gain": False}, "model.gain=false: Part takes a number for gain"),
    ({"width": 8, "rate": True}, "model.rate=true: Part takes a number or Tensor or null"),
    ({"width": 8, "name": True}, "model.name=true: Part takes a string for name"),
    ({"width": 8, "choice": [1, "x"]},
     "model.choice=[1, 'x']: Part takes a string or an integer or a list of items, each an "
     "integer or null for choice"),
    ({"width": 8, "path": 3}, "model.path=3: Part takes a path or null for path"),
    ({"width": 8, "mode": "fastest"},
     "model.mode='fastest': Part takes one of 'fast', 'plain', 16 for mode"),
    ({"width": 8, "mode": "16"}, "model.mode='16'"),
    ({"width": 8, "sizes": "3,4"},
     "model.sizes='3,4': Part takes a list of 2 items, each an integer for sizes"),
    ({"width": 8, "sizes": [3, 4, 5]}, "model.sizes=[3, 4, 5]: Part takes a list of 2 items"),
    ({"width": 8, "sizes": [3, "x"]}, "model.sizes=[3, 'x']: Part takes a list of 2 items"),
    ({"width": 8, "names": {"a": 1}},
     "model.names={'a': 1}: Part takes a list of items, each a string or null for names"),
    ({"width": 8, "options": [1]}, "model.options=[1]: Part takes a mapping or null for options"),
    ({"width": 8, "rate": "abc"},
     "model.rate='abc': Part takes a number or Tensor or null for rate"),
    ({"width": 8, "items": "abc"},
     "model.items='abc': Part takes a list of items, each an integer for items"),
    ({"width": 8, "items": [1, 2.5]}, "model.items=[1, 2.5]: Part takes a list of items"),
    ({"width": 8, "_partial_": "yes"}, "model._partial_='yes': Hydra takes true or false"),
])
def test_a_value_of_another_kind_is_named_with_what_its_target_takes(node, says):
    with pytest.raises(ConfigError, match="^" + re.escape(says)):
        _check(**node)


def test_nested_nodes_and_lists_of_nodes_are_checked_under_their_full_key():
    cfg = OmegaConf.create({"model": {"_target_": T, "width": 8,
                                      "child": {"_target_": T, "width": "wide"}}})
    with pytest.raises(ConfigError, match=r"^model\.child\.width='wide'"):
        check_argument_types(cfg)
    cfg = OmegaConf.create({"trainer": {"_target_": f"{__name__}.build_parts", "parts": [
        {"_target_": T, "width": 8}, {"_target_": T, "width": 8, "flag": "no"}]}})
    with pytest.raises(ConfigError, match=r"^trainer\.parts\[1\]\.flag='no'"):
        check_argument_types(cfg)


def test_an_interpolated_value_is_checked_as_it_resolves_and_named_with_its_source():
    cfg = OmegaConf.create({"size": "big", "model": {"_target_": T, "width": "${size}"}})
    with pytest.raises(ConfigError, match=r"^model\.width='big' \(from \$\{size\}\): Part"):
        check_argument_types(cfg)
    cfg = OmegaConf.create({"range": [0, "x"], "model": {"_target_": T, "width": 8,
                                                         "items": "${range}"}})
    with pytest.raises(ConfigError, match=r"^model\.items=\[0, 'x'\] \(from \$\{range\}\)"):
        check_argument_types(cfg)


def test_what_cannot_be_imported_here_is_left_to_hydra():
    check_argument_types(OmegaConf.create({
        "a": {"_target_": "no_such_package.Thing", "width": "abc"},
        "b": {"_target_": "NoDots", "width": "abc"}, "c": {"_target_": T, "width": "???"}}))


def _numbers_and_switches(node, key=""):
    """(key, value) of each number or switch a `_target_` node holds itself (not through an
    interpolation), nested nodes included."""
    if isinstance(node, ListConfig):
        for index in range(len(node)):
            yield from _numbers_and_switches(node._get_node(index), f"{key[:-1]}[{index}].")
    if not isinstance(node, DictConfig):
        return
    for name in node:
        child = node._get_node(name)
        if isinstance(child, (DictConfig, ListConfig)):
            yield from _numbers_and_switches(child, f"{key}{name}.")
        elif "_target_" in node and not name.startswith("_") \
                and isinstance(child._value(), (int, float, bool)):
            yield f"{key}{name}", child._value()


# numbers a word may also be: checked elsewhere, or taking text too
TEXT_TOO = {"logger.tensorboard.flush_secs",  # the logger's **kwargs: cli/train.py checks it
            "trainer.devices"}  # or "auto"


@pytest.mark.parametrize("model", ["vae_conv", "acwgan_gp", "vaegan"])
def test_every_number_or_switch_of_a_run_refuses_a_word(model, tmp_path):
    """Each one the run's config gives its Trainer, callbacks, data, networks and optimizers
    is read by an annotated parameter: a new one left unannotated fails here."""
    cfg = compose_config("train", smoke(model), tmp_path)
    found = dict(_numbers_and_switches(cfg))
    assert {"trainer.max_epochs", "data.batch_size", "trainer.plugins[0].background"} <= set(found)
    assert any(key.endswith("optimizer.lr") for key in found)
    for key in set(found) - TEXT_TOO:
        bad = cfg.copy()
        OmegaConf.update(bad, key.replace("[", ".").replace("]", ""), "abc")
        with pytest.raises(ConfigError) as err:
            check_argument_types(bad)
        assert f"{key}='abc'" in str(err.value) or "{" + key + "}" in str(err.value), key
