"""The Makefile's recipes against today's configs: every command `make reproduce-paper-N` (and
demo, sweep) runs composes, passes its command's own checks, and reads only checkpoints an
earlier step of the same recipe writes. Nothing is trained: `make -n` prints the commands."""
import shutil
import subprocess

import pytest
from omegaconf import open_dict

from pegasus_lab.cli import evaluate, sample
from tests.conftest import (ENTRY_CONFIGS, ROOT, as_one_run, compose_config, make_env,
                            shell_commands)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# paper-1 offline from the CIFAR-10 JPEG zips, as the README shows it (its ARGS one word here)
P1_FROM_ZIPS = ("ARGS='data.source.parts.cifar10={_target_:pegasus_lab.data.folder."
                "ImageFolderSource,root:data/cifar10}'")
# a recipe smoke-tested on a CPU, as the README shows it (each variable one word here)
SMOKE = ("ARGS=debug=smoke SAMPLE_ARGS=nearest.features=pixels "
         "EVAL_ARGS=reference_samples=200")
TARGETS = ["reproduce-paper-0", "reproduce-paper-1", f"reproduce-paper-1 {P1_FROM_ZIPS}",
           "reproduce-paper-2",
           "reproduce-paper-2-stl10", "reproduce-paper-3", "reproduce-paper-3 P3_DATA=cifar10",
           f"reproduce-paper-3 {SMOKE}", "reproduce-paper-4", "reproduce-paper-4 ARGS=debug=smoke",
           "demo", "sweep"]


def _commands(target: str) -> list[tuple[str, list[str]]]:
    """(entry point, arguments) of each pegasus-* command the target runs, in order."""
    printed = subprocess.run(["make", "-s", "-n", "-B", "-C", str(ROOT), *target.split()],
                             capture_output=True, text=True, check=True, env=make_env()).stdout
    return shell_commands(printed)


def _last_checkpoint(cfg, run_dir: str) -> str:
    with open_dict(cfg):
        cfg.paths.output_dir = run_dir
    last = cfg.callbacks.last_checkpoint
    return f"{last.dirpath}/{last.filename}.ckpt"


@pytest.mark.parametrize("target", TARGETS)
def test_each_recipe_step_composes_and_reads_what_an_earlier_step_wrote(target):
    commands = _commands(target)
    assert commands, f"make -n {target} printed no pegasus command"
    written = set()
    for program, args in commands:
        overrides, hydra_settings = as_one_run(args)
        run_dir = hydra_settings.get("hydra.run.dir")
        cfg = compose_config(ENTRY_CONFIGS[program], overrides)
        if program == "pegasus-train":
            if cfg.get("pretrained_ckpt"):
                assert cfg.pretrained_ckpt in written, f"{target}: {args} reads an unmade one"
            if run_dir is not None:
                written.add(_last_checkpoint(cfg, run_dir))
                # run again after a kill, the recipe goes on from its own last.ckpt
                assert cfg.resume == "auto", f"{target}: {args}"
        elif program == "pegasus-sample":
            assert cfg.mode in sample.MODES, f"{target}: {args}"
            sample._check_counts(cfg)
        elif program == "pegasus-evaluate":
            evaluate._check_counts(cfg)
        elif program == "pegasus-study":  # run again, its runs go on in the same folder
            assert any(a.startswith("sweep_dir=") for a in args) and cfg.resume == "auto"
        if program in ("pegasus-sample", "pegasus-evaluate"):
            assert cfg.ckpt in written, f"{target}: {args} reads {cfg.ckpt}, which no step writes"


def test_the_recipes_figures_do_not_overwrite_each_other():
    for target in TARGETS:
        outs = [arg.partition("=")[2] for _, args in _commands(target) for arg in args
                if arg.startswith("out=")]
        assert len(outs) == len(set(outs)), f"{target} writes one file twice: {outs}"


def test_recipes_read_without_what_an_enclosing_make_passes_down(monkeypatch):
    """`make test ARGS="--durations=25"` hands `ARGS` down to every make it starts: the recipes
    read here are the Makefile's own, not ones with pytest's arguments appended."""
    monkeypatch.setenv("MAKEFLAGS", " -- ARGS=--durations=25 P3_DATA=cifar10")
    monkeypatch.setenv("MAKELEVEL", "1")
    monkeypatch.setenv("ARGS", "--durations=25")
    monkeypatch.setenv("P3_DATA", "cifar10")
    assert _commands("demo") == [("pegasus-train", ["experiment=demo"])]
    assert "experiment=paper3_stl10" in _commands("reproduce-paper-3")[0][1]


@pytest.mark.parametrize("paper", ["0", "1", "2", "2-stl10", "3"])
def test_a_recipes_sample_and_evaluate_commands_each_take_their_own_options(paper):
    """ARGS go to the training runs; SAMPLE_ARGS and EVAL_ARGS to every pegasus-sample and
    pegasus-evaluate command of the recipe, and only to those."""
    commands = _commands(f"reproduce-paper-{paper} {SMOKE}")
    wanted = {"pegasus-train": "debug=smoke", "pegasus-sample": "nearest.features=pixels",
              "pegasus-evaluate": "reference_samples=200"}
    assert {program for program, _ in commands} == set(wanted)
    for program, args in commands:
        assert [a for a in args if a in wanted.values()] == [wanted[program]], (program, args)
