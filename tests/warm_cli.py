"""`python -m module args…` without paying the interpreter's start-up each time.

Importing torch, Lightning (which imports torchmetrics, torchvision and torch._dynamo) and Hydra
takes about 4 seconds; the command-line tests start dozens of processes. Here the imports happen
once, in a multiprocessing fork server that has computed nothing (so no OpenMP thread pool
exists to break in a forked child); every command is then a fresh child forked from it that runs
the module as `__main__` the way `python -m` does: its own working directory, environment,
sys.argv and sys.path[0], stdout and stderr in files, atexit handlers at the end, and the exit
status of SystemExit or 1 with the traceback on stderr. The modules run are never imported by
the server, so each child executes its CLI module from the top.

Where the fork server is not available (Windows), tests/conftest.py's run_cli starts a new
interpreter instead.
"""
from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
import types
from pathlib import Path

# heavy imports every CLI makes; not the CLI modules themselves (runpy runs those afresh)
PRELOAD = ["torch", "torchvision", "lightning.pytorch", "hydra", "omegaconf", "torchmetrics",
           "tensorboard", "PIL.Image", "pegasus_lab.methods", "pegasus_lab.data",
           "pegasus_lab.metrics", "pegasus_lab.callbacks", "pegasus_lab.nets"]

_context = None


def available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def _server():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def start() -> None:
    """Start the fork server (its imports then run while other tests do)."""
    if available():
        from multiprocessing import forkserver
        _server()
        forkserver.ensure_running()


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _own_resource_tracker() -> None:
    """A child forked from the server shares the server's multiprocessing resource tracker. One
    that is killed (SIGKILL) leaves its semaphores (tqdm's lock) registered there, and the
    tracker warns of them when the test session ends; a new interpreter has a tracker of its
    own, which cleans up after it where its output goes. This child starts its own, too."""
    from multiprocessing import resource_tracker
    resource_tracker._resource_tracker._fd = None  # the next registration starts a new one
    resource_tracker._resource_tracker._pid = None


def _run_as_main(module: str, args: list[str], cwd: str, env: dict, out: str, err: str,
                 own_tracker: bool = False) -> None:
    if own_tracker:
        _own_resource_tracker()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.argv = [module, *args]
    sys.path.insert(0, cwd)  # as `python -m` puts the working directory first
    status = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException:
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@contextlib.contextmanager
def _no_main_to_import():
    """multiprocessing re-imports the parent's __main__ in each child (pytest's, or a script
    without a main guard, which would then run again); these children need nothing from it."""
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


def _start_child(module: str, args: list[str], cwd: Path, env: dict, out: Path, err: Path,
                 own_tracker: bool = False):
    child = _server().Process(target=_run_as_main,
                              args=(module, list(args), str(cwd), dict(env), str(out), str(err),
                                    own_tracker))
    with _no_main_to_import():
        child.start()
    return child


class Running:
    """`python -m module args` started as a forked child of the warm server and left running,
    with the part of subprocess.Popen's interface a test that kills it uses; its output is
    not kept."""

    def __init__(self, module: str, args: list[str], cwd: Path, env: dict) -> None:
        self._child = _start_child(module, args, cwd, env, Path(os.devnull), Path(os.devnull),
                                   own_tracker=True)

    def poll(self) -> int | None:
        return None if self._child.is_alive() else self._child.exitcode

    def send_signal(self, signum: int) -> None:
        os.kill(self._child.pid, signum)

    def kill(self) -> None:
        self._child.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        self._child.join(timeout)
        return self.poll()


def run(module: str, args: list[str], cwd: Path, env: dict, timeout: float
        ) -> subprocess.CompletedProcess:
    """Run `python -m module args` as a forked child of the warm server; its output."""
    command = [sys.executable, "-m", module, *args]
    with tempfile.TemporaryDirectory(prefix="warm-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = _start_child(module, args, cwd, env, out, err)
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(command, timeout)
        read = lambda p: p.read_text(encoding="utf-8", errors="replace") if p.exists() else ""
        return subprocess.CompletedProcess(command, child.exitcode, read(out), read(err))
