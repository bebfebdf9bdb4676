"""The commands README.md and docs/ show in their code blocks, against today's configs: each
composes as its entry point would compose it (a renamed key or group breaks this test, not a
reader's first run). Placeholders stand for a path: `outputs/…/last.ckpt`, `<run>/…`, `…`."""
import re
import shlex

import pytest

from tests.conftest import ROOT, compose_config

CONFIG_OF = {"pegasus-train": "train", "pegasus-sample": "sample",
             "pegasus-evaluate": "evaluate", "pegasus-study": "study",
             "pegasus-classifier": "classifier", "pegasus-explore": "explore"}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _shown_commands():
    """(doc#k, entry point, arguments) of each pegasus-* command in a fenced code block."""
    for doc in DOCS:
        count = 0
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                program = words[0].rsplit("/", 1)[-1] if words else ""
                if program in CONFIG_OF:
                    count += 1
                    yield f"{doc.name}#{count}", program, words[1:]


def _overrides(args: list[str]) -> list[str]:
    """Placeholders made concrete; a sweep's first value; Hydra's own settings left out."""
    sweep, overrides = "-m" in args, []
    for arg in args:
        if arg in ("-m", "…") or arg.startswith("hydra."):
            continue
        key, _, value = arg.partition("=")
        if "…" in value or "<" in value:
            value = "outputs/run/checkpoints/last.ckpt"
        elif sweep and "," in value and not value.startswith("["):
            value = value.split(",")[0]
        overrides.append(f"{key}={value}")
    return overrides


COMMANDS = list(_shown_commands())


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 10 and {p for _, p, _ in COMMANDS} >= {
        "pegasus-train", "pegasus-sample", "pegasus-evaluate", "pegasus-study"}


@pytest.mark.parametrize("program,args", [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_each_shown_command_composes(program, args):
    compose_config(CONFIG_OF[program], _overrides(args))
