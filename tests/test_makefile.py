"""`make install` outlives a dropped connection: pip is run again, and a lasting failure still fails.

A fake interpreter stands in for the virtual environment's python, so no package is installed.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_env

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

FAKE_PYTHON = """#!/usr/bin/env bash
# Logs each call; the project install fails while the fail budget lasts.
echo "$*" >> "{log}"
if [[ "$*" == *"-e .[dev]"* ]]; then
  left=$(cat "{budget}")
  if [ "$left" -gt 0 ]; then echo $((left - 1)) > "{budget}"; echo "connection interrupted" >&2; exit 1; fi
fi
exit 0
"""


def _install(tmp_path: Path, failures: int):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log, budget = tmp_path / "calls.log", tmp_path / "budget"
    budget.write_text(str(failures))
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON.format(log=log, budget=budget))
    python.chmod(0o755)
    result = subprocess.run(
        ["make", "-C", str(ROOT), "install", f"VENV={venv}", "PIP_PAUSE=0", "PIP_ATTEMPTS=4"],
        capture_output=True, text=True, timeout=60, env=make_env(),
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls, venv / ".installed"


def test_install_retries_pip_after_a_failed_download(tmp_path):
    result, calls, stamp = _install(tmp_path, failures=2)
    assert result.returncode == 0, result.stderr
    assert calls[0] == "-m pip install --retries 10 --upgrade pip"
    assert calls[1:] == ["-m pip install --retries 10 -e .[dev]"] * 3
    assert "try 1 of 4" in result.stderr and "try 2 of 4" in result.stderr
    assert stamp.exists()


def test_install_fails_when_pip_keeps_failing(tmp_path):
    result, calls, stamp = _install(tmp_path, failures=10)
    assert result.returncode != 0
    assert calls.count("-m pip install --retries 10 -e .[dev]") == 4
    assert "failed 4 times; giving up" in result.stderr
    assert not stamp.exists()


def test_help_lists_every_target_with_what_it_does():
    """`make` alone (help is the first target) names each target a user can run."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    phony = set(re.search(r"^\.PHONY:(.*)$", text, re.MULTILINE).group(1).split())
    result = subprocess.run(["make", "-s", "-C", str(ROOT)], capture_output=True, text=True,
                            timeout=60, env=make_env())
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line.split(None, 1)[1] for line in result.stdout.splitlines()
              if line.startswith("  ")}
    assert set(listed) == phony
    assert all(len(what) > 8 for what in listed.values())
