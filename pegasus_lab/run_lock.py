"""One command at a time in a run folder (a training run's, a study's).

A recipe's folder is fixed and resumed (`make reproduce-paper-N`, `resume=auto`), and the
default folder is named by the second it starts in, so a second run can start in a folder
where one is training: the recipe typed again in another terminal, a job submitted twice, two
runs started by a script in the same second. It would continue the first run's last.ckpt while
that run goes on (two runs writing one checkpoint, one provenance record, one TensorBoard log),
or, before the first checkpoint, set the first run's outputs aside under it. So a run holds its
folder (an exclusive `flock` on `<run>/.pegasus.lock`, which the system lets go when the
process ends, however it ends) and a second one is refused before it writes anything. Hydra
writes the config files (`.hydra/`) of the refused run before any of this code runs: the
holder's are kept in the lock file and put back.
"""
from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pegasus_lab.atomic import write_text
from pegasus_lab.errors import PegasusError
from pegasus_lab.overrides import shell_line

log = logging.getLogger(__name__)

LOCK_FILE = ".pegasus.lock"


class FolderInUse(PegasusError):
    """The run folder is held by another process."""


@contextmanager
def holding(run_dir: str | os.PathLike, command: list[str], elsewhere: str,
            hydra_subdir: str | None = ".hydra") -> Iterator[None]:
    """Hold `run_dir` for the block (the only run there); `FolderInUse` when another process
    holds it, its message naming that process and the setting that gives this command another
    folder (`elsewhere`, e.g. "hydra.run.dir=…"). Where the file system cannot lock (some
    network mounts), a warning, and the block runs unheld."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        held = _lock(fd, run_dir)
        if held is False:
            holder = _read(fd)
            _put_back_config(run_dir, hydra_subdir, holder.get("config_files") or {})
            raise FolderInUse(_in_use(run_dir, holder, elsewhere))
        if held:
            since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
            _write(fd, {"pid": os.getpid(), "host": platform.node(), "command": command,
                        "since": since, "config_files": _config_files(run_dir, hydra_subdir)})
        yield
    finally:
        os.close(fd)  # and with it the lock


def _lock(fd: int, run_dir: Path) -> bool | None:
    """True: this process holds the lock now; False: another one holds it; None: it cannot
    be locked here (not a POSIX system; a file system without locks: a warning)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        log.warning("cannot lock %s (%s): a second run started there now would not be "
                    "refused", run_dir / LOCK_FILE, err.strerror or err)
        return None
    return True


def _in_use(run_dir: Path, holder: dict, elsewhere: str) -> str:
    said = ""
    if holder.get("pid"):
        said = (f" (pid {holder['pid']} on {holder.get('host') or '?'}, since "
                f"{holder.get('since') or '?'}: {shell_line(holder.get('command') or [])})")
    return (f"{run_dir} is in use by another command{said}; let it finish (then this "
            f"command, run again, goes on from where it ended), stop it, or give this one "
            f"another folder ({elsewhere}, or a recipe's folder variable)")


def _config_files(run_dir: Path, hydra_subdir: str | None) -> dict[str, str]:
    """The text of the run's Hydra config files, as its Hydra wrote them."""
    if hydra_subdir is None:
        return {}
    found = {}
    for path in sorted((run_dir / hydra_subdir).glob("*.yaml")):
        try:
            found[path.name] = path.read_text()
        except OSError:
            pass
    return found


def _put_back_config(run_dir: Path, hydra_subdir: str | None, files: dict[str, str]) -> None:
    """Rewrite the holder's Hydra config files, which the refused run's Hydra overwrote."""
    if hydra_subdir is None:
        return
    for name, text in files.items():
        if Path(name).name == name:  # a plain file name, as `_config_files` wrote it
            write_text(run_dir / hydra_subdir / name, text)


def _write(fd: int, record: dict) -> None:
    """The holder's record, for a refused command to name it; the lock holds without it (a
    full disk: a refused command then says less)."""
    data = json.dumps(record, indent=1).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as err:
        log.warning("the run folder's lock holds, but its record was not written: %s",
                    err.strerror or err)


def _read(fd: int) -> dict:
    """The holder's record; {} while it is being written, or when it cannot be read."""
    try:
        size = os.fstat(fd).st_size
        record = json.loads(os.pread(fd, size, 0).decode()) if size else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
