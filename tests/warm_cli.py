"""`python -m module args…` without paying the interpreter's start-up each time.

Importing torch, Lightning (which imports torchmetrics, torchvision and torch._dynamo) and Hydra
takes about 4 seconds; the command-line tests start dozens of processes. Here the imports happen
once, in a multiprocessing fork server that has computed nothing (so no OpenMP thread pool
exists to break in a forked child); every command is then a fresh child forked from it that runs
the module as `__main__` the way `python -m` does: its own working directory, environment,
sys.argv and sys.path[0], stdout and stderr in files, atexit handlers at the end, and the exit
status of SystemExit or 1 with the traceback on stderr. The modules run are never imported by
the server, so each child executes its CLI module from the top.

A warm child that starts `python -m module …` or `python script.py …` itself (a DDP run its
second rank, pegasus-study its multirun) gets a warm child for it too: the child's
subprocess.Popen hands such a command to a thread of the test process that owns the fork
server (_Launcher), and gets back a handle with Popen's interface; the command's output goes
where the child's own goes, as an inherited stdout and stderr would. Any other command is a
real subprocess. A test that wants a command's own processes to be new interpreters, as a
user's are, runs it with run_cli(fresh=True).

Where the fork server is not available (Windows), tests/conftest.py's run_cli starts a new
interpreter instead.
"""
from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import runpy
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import types
from multiprocessing import connection, reduction
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


class _Fd:
    """A file descriptor handed to a child of the fork server (the server passes it on)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self):
        return _detached, (reduction.DupFd(self.fd),)  # while the child is being started


def _detached(dup) -> int:
    return dup.detach()


def _redirect(fd: int, where) -> None:
    """Point `fd` (1 or 2) at a file path, or at a descriptor passed as _Fd."""
    source = where if isinstance(where, int) else os.open(where, os.O_WRONLY | os.O_CREAT
                                                          | os.O_TRUNC)
    os.dup2(source, fd)
    os.close(source)


def _run_as_main(target: str, args: list[str], cwd: str, env: dict, out, err,
                 own_tracker: bool = False, launcher=None) -> None:
    """Run `target` as `python -m target` does, or as `python target` where it is a script's
    path, then exit with its status."""
    if own_tracker:
        _own_resource_tracker()
    if launcher is not None:
        subprocess.Popen = _popen_routing_to(launcher)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    _redirect(1, out)
    _redirect(2, err)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    script = target.endswith(".py")
    sys.argv = [target, *args]
    # as `python -m` puts the working directory first, and `python script.py` its folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)) if script else cwd)
    status = 0
    try:
        if script:
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
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


_starting = threading.Lock()  # _no_main_to_import swaps a global: one start at a time


def _start_child(target: str, args: list[str], cwd: Path, env: dict, out, err,
                 own_tracker: bool = False):
    child = _server().Process(target=_run_as_main,
                              args=(target, list(args), str(cwd), dict(env), out, err,
                                    own_tracker, _launcher().address_and_key))
    with _starting, _no_main_to_import():
        child.start()
        # joined by whoever started it, and by no one else: multiprocessing's own look at its
        # children (each start polls them) could read a status another thread is waiting for
        multiprocessing.process._children.discard(child)
    return child


class _Launcher:
    """A thread of the process that owns the fork server, starting warm children for the
    commands warm children launch (_WarmProcess), and reporting back each one's pid and then
    its exit status."""

    def __init__(self) -> None:
        key = secrets.token_bytes(16)
        self._listener = connection.Listener(family="AF_UNIX", authkey=key)
        self.address_and_key = (self._listener.address, key)
        threading.Thread(target=self._accept, daemon=True, name="warm-launcher").start()
        atexit.register(self._listener.close)

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError, connection.AuthenticationError):
                if self._listener._listener is None:  # closed at exit
                    return
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        with conn:
            target, args, cwd, env = conn.recv()
            out, err = reduction.recv_handle(conn), reduction.recv_handle(conn)
            try:
                child = _start_child(target, args, cwd, env, _Fd(out), _Fd(err),
                                     own_tracker=True)
            finally:
                os.close(out)
                os.close(err)
            with contextlib.suppress(OSError):  # the starter is gone: nothing to tell
                conn.send(child.pid)
                child.join()
                conn.send(child.exitcode)  # -N where signal N ended it, as Popen.returncode
            child.join()  # (a DDP run's rank 0 leaves its second rank to end by itself)


_the_launcher = None


def _launcher() -> _Launcher:
    global _the_launcher
    if _the_launcher is None:
        _the_launcher = _Launcher()
    return _the_launcher


class _WarmProcess:
    """What subprocess.Popen gives for a command a warm child launches: the command runs as a
    warm child started by the test process's _Launcher. Popen's interface, as far as the
    launchers in use go (Lightning's DDP launcher and its watcher thread, subprocess.run)."""

    def __init__(self, args: list[str], target: str, target_args: list[str], cwd, env,
                 launcher) -> None:
        address, key = launcher
        self.args = args
        self.stdin = self.stdout = self.stderr = None
        self.returncode = None
        self._ended = threading.Event()
        conn = connection.Client(address, family="AF_UNIX", authkey=key)
        conn.send((target, list(target_args), os.path.abspath(cwd or os.getcwd()),
                   dict(os.environ if env is None else env)))
        for fd in (1, 2):  # inherited, as Popen's child inherits them
            reduction.send_handle(conn, fd, 0)
        self.pid = conn.recv()
        threading.Thread(target=self._await_status, args=(conn,), daemon=True).start()

    def _await_status(self, conn) -> None:
        with conn:
            try:
                self.returncode = conn.recv()
            except (EOFError, OSError):  # the test process is gone
                self.returncode = 255
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def communicate(self, input=None, timeout: float | None = None):
        self.wait(timeout)
        return None, None

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile, as Popen's does
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.wait()


# Popen arguments a routed command may have: anything else (pipes, a shell, a new session, …)
# is left to a real subprocess
_ROUTABLE_OPTIONS = {"env", "cwd", "close_fds"}


def _routed(args, options: dict) -> tuple[str, list[str]] | None:
    """(module or script, its arguments) where `args` is `python -m module …` or
    `python script.py …` with this interpreter, else None."""
    if set(options) - _ROUTABLE_OPTIONS or not isinstance(args, (list, tuple)):
        return None
    args = [str(a) for a in args]
    if len(args) < 2 or args[0] != sys.executable:
        return None
    if args[1] == "-m" and len(args) > 2:
        return args[2], args[3:]
    if args[1].endswith(".py") and os.path.isfile(args[1]):
        return args[1], args[2:]
    return None


def _popen_routing_to(launcher):
    real = subprocess.Popen

    class Popen(real):
        def __new__(cls, args, *more, **options):
            routed = None if more else _routed(args, options)
            if routed is None:
                return super().__new__(cls)
            return _WarmProcess(args, *routed, options.get("cwd"), options.get("env"),
                                launcher)

    return Popen


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
