"""bench/device_call.sh, the GPU recipe's calls: each call's commands are ones the benchmark
scripts accept, and a call that cannot run says why in one line before it does anything."""
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from bench import quality, run
from tests.conftest import ROOT

SCRIPT = ROOT / "bench" / "device_call.sh"


def _call(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env})


def _commands(call: int) -> list[str]:
    result = _call(str(call), DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("call", [1, 2, 3, 4, 5])
def test_every_call_runs_commands_the_scripts_accept(call, tmp_path):
    parsers = {"bench.run": run.parse_args, "bench.quality": quality.parse_args}
    measured = 0
    for line in _commands(call):
        words = shlex.split(line.split(" | tee ")[0].replace("$OUT", str(tmp_path)))
        if words[0] == "timeout":
            words = words[2:]
        if words[:2] == ["python3", "-m"] and words[2] in parsers:
            parsers[words[2]](words[3:])  # argparse exits on an argument it does not know
            measured += 1
            assert f"{tmp_path}/" in line.replace("$OUT", str(tmp_path))  # results come back
        elif words[:3] == ["python3", "-m", "pytest"]:
            assert all((ROOT / w).is_file() for w in words[4:])
    assert measured >= 1


def test_the_quality_calls_measure_what_the_docs_say():
    assert "--lr-horizon run" in _commands(3)[-1] and "ema_decay" in _commands(3)[-1]
    assert "--speeds fast,plain,fast@1" in _commands(4)[-1]
    assert "--lr-horizon paper" in _commands(5)[-1]


def test_an_unknown_call_is_one_clear_error(tmp_path):
    result = _call("9", OUT=str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: give the call's number")
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_the_weights_a_quality_call_stops_before_anything(tmp_path):
    result = _call("3", OUT=str(tmp_path), DEVICE_FID_WEIGHTS=str(tmp_path / "gone.pt"))
    assert result.returncode == 3 and "gone.pt is gone" in result.stderr
    assert not list(Path(tmp_path).iterdir())  # nothing installed, copied or measured


def test_without_out_nothing_runs():
    result = _call("1", OUT="")
    assert result.returncode == 2 and "OUT is not set" in result.stderr
