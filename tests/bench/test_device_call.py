"""bench/device_call.sh, the GPU recipe's calls: each call's commands are ones the benchmark
scripts accept, and a call that cannot run says why in one line before it does anything."""
import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import quality, run
from tests.conftest import ROOT

SCRIPT = ROOT / "bench" / "device_call.sh"


def _call(*args, script=SCRIPT, **env):
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env})


def _commands(call) -> list[str]:
    result = _call(str(call), DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


# the sessions the script's header plans (call 5 follows session 2 where time is left)
SESSIONS = {1: ["1", "2", "3"], 2: ["weights-a", "weights-b", "4", "tests"]}
DEVICE_SECONDS = 30 * 60  # a session's device time, the machine's start and idle time included
START = 120  # the machine's start, counted
PER_CALL = 90  # around each call's capped measurement: wheels, copies, transfers, the next ask
COMMAND_SECONDS, SETUP = 600, 40  # the tool stops a command at 600 s; the wheels, the data


def _cap(call) -> int:
    """Seconds call's measurements may run: the sum of their `timeout`s, each with its grace
    before the KILL (`timeout -k GRACE CAP`; none: seconds)."""
    total = 0
    for line in _commands(call):
        if line.startswith("timeout "):
            words = line.split()
            assert words[1] == "-k", line  # a process that ignores the TERM is killed after
            total += int(words[2]) + int(words[3])
    return total


@pytest.mark.parametrize("call", [1, 2, 3, 4, 5, "tests"])
def test_every_call_runs_commands_the_scripts_accept(call, tmp_path):
    parsers = {"bench.run": run.parse_args, "bench.quality": quality.parse_args}
    measured = 0
    for line in _commands(call):
        words = shlex.split(line.split(" | tee ")[0].replace("$OUT", str(tmp_path)))
        if words[0] == "timeout":
            words = words[4:]  # timeout -k GRACE CAP
        if words[:2] == ["python3", "-m"] and words[2] in parsers:
            parsers[words[2]](words[3:])  # argparse exits on an argument it does not know
            measured += 1
            assert f"{tmp_path}/" in line.replace("$OUT", str(tmp_path))  # results come back
        elif words[:3] == ["python3", "-m", "pytest"]:
            files = [w for w in words[3:] if not w.startswith("-")]
            assert files and all((ROOT / w).is_file() for w in files)
            measured += 1
    assert measured >= 1


@pytest.mark.parametrize("call", [1, 2, 3, 4, 5, "tests"])
def test_every_measurement_runs_under_a_cap_that_fits_one_command(call):
    measuring = [line for line in _commands(call) if "| tee " in line]
    assert measuring and all(line.startswith("timeout ") for line in measuring)
    assert 0 < _cap(call) <= COMMAND_SECONDS - SETUP


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_each_sessions_calls_fit_its_device_time_at_their_caps(session):
    used = START + sum(_cap(call) + PER_CALL for call in SESSIONS[session])
    assert used <= DEVICE_SECONDS, f"session {session}: {used} s of {DEVICE_SECONDS}"


def test_session_1_measures_every_targets_figure_but_the_quality_check():
    commands = " ".join(line for call in SESSIONS[1] for line in _commands(call))
    for wanted in ("yardstick", "paper2", "paper0", "fid", "--minutes 7 --lr-horizon run"):
        assert wanted in commands
    assert "pytest" not in commands  # the GPU tests are session 2's


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


def _weights_tree(tmp_path):
    """A checkout with the script, the FID config and two halves of a stand-in weights file."""
    tree = tmp_path / "tree"
    (tree / "bench").mkdir(parents=True)
    shutil.copy(SCRIPT, tree / "bench")
    (tree / "conf" / "fid").mkdir(parents=True)
    shutil.copy(ROOT / "conf" / "fid" / "default.yaml", tree / "conf" / "fid")
    whole = os.urandom(3000)
    for folder, part, half in ((".gpu-a", "part00", whole[:1500]),
                               (".gpu-b", "part01", whole[1500:])):
        (tree / folder).mkdir()
        (tree / folder / f"w.pt.{part}").write_bytes(half)
    env = {"OUT": str(tmp_path / "out"), "DEVICE_PARTS_DIR": str(tmp_path / "parts"),
           "DEVICE_FID_WEIGHTS": str(tmp_path / "w.pt"),
           "DEVICE_FID_SHA256": hashlib.sha256(whole).hexdigest()}
    (tmp_path / "out").mkdir()
    (tmp_path / "parts").mkdir()
    return tree / "bench" / "device_call.sh", whole, env


def test_the_weights_come_back_in_two_short_calls(tmp_path):
    script, whole, env = _weights_tree(tmp_path)
    first = _call("weights-a", script=script, **env)
    assert first.returncode == 0, first.stderr
    assert "call weights-b next" in first.stdout
    second = _call("weights-b", script=script, **env)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "w.pt").read_bytes() == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "parts", "tree", "w.pt"]


@pytest.mark.parametrize("fault", ["first half missing", "another file"])
def test_a_wrong_join_leaves_no_weights_behind(tmp_path, fault):
    script, _, env = _weights_tree(tmp_path)
    if fault == "another file":
        env["DEVICE_FID_SHA256"] = "0" * 64
        assert _call("weights-a", script=script, **env).returncode == 0
    result = _call("weights-b", script=script, **env)
    assert result.returncode == 1
    assert "do not join into the FID weights" in result.stderr
    assert "run weights-a and weights-b" in result.stderr
    assert not (tmp_path / "w.pt").exists() and not (tmp_path / "w.pt.joining").exists()
    # so a quality call stops at once and says how to get them back
    after = _call("3", script=script, **env)
    assert after.returncode == 3 and "run weights-a and weights-b" in after.stderr


def test_the_weights_calls_are_in_the_dry_run():
    assert _commands("weights-a")[0].startswith("cp .gpu-a/*.part00 /tmp/")
    join = _commands("weights-b")[0]
    assert join.startswith("cat /tmp/*.part00 .gpu-b/*.part01")
    assert (ROOT / "conf" / "fid" / "default.yaml").read_text().split("sha256: ")[1][:64] in join
    assert _commands(2)[0] == join  # call 2 joins them the same way
