"""A command for tests/test_warm_cli.py: reports what `python -m` gave it, then ends as told
(`exit N`, `raise`, `sleep`, or normally); `threads` also reports torch's thread count;
`launch module|script` runs itself again as `python -m …` or `python its_path.py …`, as a
DDP launcher or pegasus-study does, and says what became of those runs."""
import atexit
import os
import sys

if sys.argv[1:2] != ["sleep"]:  # (it is killed while its starter prints)
    print("argv", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("PROBE"))
    print("main", __name__, "path0", sys.path[0])
    print("to stderr", file=sys.stderr)
    atexit.register(lambda: print("atexit ran"))
    # where asked, a warm run says so on stderr (stdout must be what a new interpreter gives)
    if os.environ.get("PROBE_SAYS_WARM") and "tests.warm_cli" in sys.modules:
        print("in a warm interpreter", file=sys.stderr)
if sys.argv[1:2] == ["threads"]:
    import torch
    print("threads", torch.get_num_threads())


def _timed_out(process) -> bool:
    try:
        process.wait(timeout=0.1)
    except Exception as exc:
        return type(exc).__name__ == "TimeoutExpired"
    return False


if sys.argv[1:2] == ["exit"]:
    sys.exit(int(sys.argv[2]))
if sys.argv[1:2] == ["raise"]:
    raise ValueError("probe failed")
if sys.argv[1:2] == ["sleep"]:
    import time
    time.sleep(120)
if sys.argv[1:2] == ["launch"]:
    import subprocess
    itself = ([sys.executable, "-m", "tests.warm_cli_probe"] if sys.argv[2] == "module" else
              [sys.executable, os.path.abspath(__file__)])
    done = subprocess.run([*itself, "exit", "5"])  # its output goes where this one's does
    print("it ended with", done.returncode)
    subprocess.run([*itself, "plain"], env={**os.environ, "PROBE": "changed"},
                   cwd=os.path.dirname(os.getcwd()), check=True)
    running = subprocess.Popen([*itself, "sleep"])
    print("running", running.poll() is None, "timed out", _timed_out(running))
    running.kill()
    print("killed", running.wait(timeout=60))
    quiet = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True,
                           text=True)  # captured: a real subprocess
    print("captured", quiet.stdout.strip())
