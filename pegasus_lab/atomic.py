"""Files written beside their target and renamed over it (a rename within one folder is
atomic): a run killed mid-write leaves the previous file, or none, never a half-written one."""
from __future__ import annotations

import csv
import errno
import io
import logging
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from pegasus_lab.errors import PegasusError

log = logging.getLogger(__name__)


# what is left on a file system when a write has filled it: less than one write's chunk
FULL_BELOW_BYTES = 1 << 20


class DiskFull(PegasusError):
    """A file could not be written: its file system is full (or the user's quota spent)."""

    def __init__(self, path: Path, why: str) -> None:
        self.reason = f"{why}; free some space, or have it written elsewhere"
        super().__init__(f"cannot write {path}: {self.reason}")


@contextmanager
def replacing(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A new, hidden file beside `path` (its folder made) for the block to write; it replaces
    `path` when the block ends and is removed when the block raises. It is created as any new
    file here is (0666 less the umask), so what it replaces is as readable as a plain write.
    A block that fails on a full file system raises `DiskFull`, one line naming the file:
    torch.save says only "unexpected pos 1088 vs 982" there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as err:
        if _out_of_space(err, path.parent):  # seen while the part written still fills it
            why = (err.strerror if isinstance(err, OSError) and err.strerror else
                   "no space left on its file system")
            raise DiskFull(path, why) from err
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


# a folder this process may not write in: a shared data set's, read-only or another user's
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def keep_if_writable(path: str | os.PathLike, write: Callable[[Path], None], what: str,
                     instead: str) -> bool:
    """`write(tmp)` a cache file as `replacing` does; where its folder cannot be written (read
    only, another user's) a warning says so and the work goes on without it: False. `what`
    names the file for the warning, `instead` says the setting that moves it."""
    try:
        with replacing(path) as tmp:
            write(tmp)
    except OSError as err:
        if err.errno not in NOT_WRITABLE:
            raise
        log.warning("cannot keep %s in %s (%s): this run goes on without it, and the next one "
                    "computes it again; %s", what, Path(path).parent, err.strerror or err,
                    instead)
        return False
    return True


def _out_of_space(err: Exception, folder: Path) -> bool:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW_BYTES
    except OSError:
        return False


def write_text(path: str | os.PathLike, text: str) -> Path:
    with replacing(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_csv(path: str | os.PathLike, rows: Iterable[dict], columns: Sequence[str]) -> Path:
    """Rows as CSV under a header of `columns` (keys of a row outside them are left out)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def save_pil(img, path: str | os.PathLike) -> Path:
    """A Pillow image saved as `path`, in the format its suffix names."""
    path = Path(path)
    with replacing(path, suffix=path.suffix) as tmp:
        img.save(tmp)
    return path
