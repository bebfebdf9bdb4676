"""The commands README.md and docs/ show in their code blocks, against today's configs: each
composes as its entry point would compose it (a renamed key or group breaks this test, not a
reader's first run). Placeholders stand for a path: `outputs/…/last.ckpt`, `<run>/…`, `…`."""
import re

import pytest

from tests.conftest import ENTRY_CONFIGS, ROOT, as_one_run, compose_config, shell_commands

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shown_commands():
    """(doc#k, entry point, arguments) of each pegasus-* command in a fenced code block."""
    for doc in DOCS:
        blocks = re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S)
        for k, (program, args) in enumerate(shell_commands("\n".join(blocks)), 1):
            yield f"{doc.name}#{k}", program, args


def _concrete(args: list[str]) -> list[str]:
    """One run's overrides, each placeholder made a path."""
    overrides, _ = as_one_run([a for a in args if a != "…"])
    return [f"{key}=outputs/run/checkpoints/last.ckpt" if "…" in value or "<" in value
            else f"{key}={value}" for key, _, value in (o.partition("=") for o in overrides)]


COMMANDS = list(_shown_commands())


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 10 and {p for _, p, _ in COMMANDS} >= {
        "pegasus-train", "pegasus-sample", "pegasus-evaluate", "pegasus-study"}


@pytest.mark.parametrize("program,args", [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_each_shown_command_composes(program, args):
    compose_config(ENTRY_CONFIGS[program], _concrete(args))


def test_the_readme_s_table_of_gan_options_names_the_models_that_take_each():
    """Each row's models are those of `conf/model/` whose config sets its key, no more."""
    from pegasus_lab.config_groups import options_with_key
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `model\.([\w.]+)=[^`]*` \| ([\w, ]+) \|", readme, re.M)
    assert len(rows) >= 6
    for key, models in rows:
        assert models.split(", ") == options_with_key("model", key), key
