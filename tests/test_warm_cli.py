"""The warm command runner (tests/warm_cli.py) behaves as `python -m` in a new interpreter:
the same output, exit status, working directory, environment and end-of-run handlers."""
import pytest

from tests import warm_cli
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.skipif(not warm_cli.available(), reason="no fork server here")


@pytest.mark.parametrize("args", [["plain", "a=1"], ["exit", "3"], ["exit", "0"], ["raise"]])
def test_a_warm_run_is_what_a_fresh_interpreter_gives(args, tmp_path):
    runs = [run_cli("tests.warm_cli_probe", *args, cwd=ROOT, env={"PROBE": str(tmp_path)},
                    fresh=fresh) for fresh in (True, False)]
    fresh, warm = runs
    assert warm.returncode == fresh.returncode
    assert warm.stdout == fresh.stdout
    if args[0] == "raise":  # the traceback's frames above the module's own are the runner's
        last = lambda text: text.strip().splitlines()[-3:]
        assert last(warm.stderr) == last(fresh.stderr)
        assert warm.stderr.startswith("to stderr\nTraceback (most recent call last):")
        assert warm.returncode == 1 and "ValueError: probe failed" in warm.stderr
    else:
        assert warm.stderr == fresh.stderr
    assert f"env {tmp_path}" in warm.stdout and "main __main__" in warm.stdout
    assert "atexit ran" in warm.stdout


def test_each_warm_run_starts_clean(tmp_path):
    # a module is run afresh every time, whatever an earlier child imported or changed
    first = run_cli("tests.warm_cli_probe", "x", cwd=ROOT, env={"PROBE": "one"})
    second = run_cli("tests.warm_cli_probe", "y", cwd=tmp_path, env={"PROBE": "two"})
    assert "argv ['x']" in first.stdout and "env one" in first.stdout
    assert "argv ['y']" in second.stdout and "env two" in second.stdout
    assert f"cwd {tmp_path}" in second.stdout


@pytest.mark.parametrize("how", ["module", "script"])
def test_what_a_warm_run_launches_is_what_a_fresh_one_would_launch(how, tmp_path):
    """`python -m …` and `python script.py …` started by a warm run (a DDP run's second rank,
    pegasus-study's multirun) are warm runs too: the same output, exit status, working folder,
    environment and Popen handle as new interpreters give; other commands are real ones."""
    (tmp_path / "here").mkdir()
    runs = [run_cli("tests.warm_cli_probe", "launch", how, cwd=tmp_path / "here",
                    env={"PROBE": "given", "PYTHONPATH": str(ROOT), "PROBE_SAYS_WARM": "1"},
                    fresh=fresh)
            for fresh in (True, False)]
    fresh, warm = runs
    assert warm.returncode == fresh.returncode == 0, warm.stderr[-2000:]
    assert warm.stdout == fresh.stdout
    assert "argv ['exit', '5']" in warm.stdout and "it ended with 5" in warm.stdout
    assert f"argv ['plain'] cwd {tmp_path} env changed" in warm.stdout
    assert "running True timed out True" in warm.stdout and "killed -9" in warm.stdout
    assert "captured 42" in warm.stdout
    # the starter and the two runs it waited for; the killed one says nothing
    assert warm.stderr.count("in a warm interpreter") == 3
    assert "in a warm interpreter" not in fresh.stderr
