"""Where a result came from: the code (its git commit, and the uncommitted changes of the
checkout it ran from), the libraries, the machine and the command. A training run keeps it as
`<run>/provenance.json`, one entry per part of a resumed run (with `code-<part>.diff` when the
checkout had changes); pegasus-evaluate puts it into its JSON. So a number in a table can be
traced to the code and the machine that made it."""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pegasus_lab
from pegasus_lab.atomic import write_text

PACKAGES = ("pegasus-lab", "torch", "torchvision", "lightning", "hydra-core", "omegaconf",
            "numpy", "scipy", "torchmetrics")
_GIT_SECONDS = 10
_NEW_FILES_BYTES = 4 << 20  # of new files' text in a diff
_DIFF_BYTES = 16 << 20  # of the changes to tracked files


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          timeout=_GIT_SECONDS, check=True)
    return done.stdout


def code_state(root: Path | None = None) -> dict:
    """{'commit', 'dirty', 'changed' (paths), 'diff' (the changes and the new files)} of the git
    checkout whose top level is `root` (default: the one holding the package); without one (an
    installed wheel, no git) {'commit': None, 'why': …}: never an error, since a run should not
    fail for want of its history."""
    root = Path(root or Path(pegasus_lab.__file__).resolve().parents[1])
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
        if top != root.resolve():  # e.g. a wheel inside a virtual environment in some repo
            return {"commit": None, "why": f"{root} is not the top of a git checkout"}
        commit = _git(root, "rev-parse", "HEAD").strip()
        status = _status(root)
        diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff") if status else ""
        if len(diff) > _DIFF_BYTES:  # e.g. a large tracked data file edited
            diff = (f"# not included: the changes to tracked files, {len(diff)} bytes (over "
                    f"{_DIFF_BYTES}); the files are named in provenance.json\n")
        diff += _new_files_diff(root, [name for code, name in status if code == "??"])
    except FileNotFoundError:
        return {"commit": None, "why": "git is not installed"}
    except subprocess.CalledProcessError as err:
        said = (err.stderr or "").strip().splitlines()
        return {"commit": None, "why": said[-1] if said else f"git exited with {err.returncode}"}
    except subprocess.TimeoutExpired:
        return {"commit": None, "why": f"git took longer than {_GIT_SECONDS} s"}
    return {"commit": commit, "dirty": bool(status),
            "changed": [name for _, name in status], "diff": diff}


def _status(root: Path) -> list[tuple[str, str]]:
    """(two-letter status, path) of each changed or new file, names as they are (-z: no
    quoting of spaces or other characters); a rename's old name is left out."""
    fields = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=normal").split("\0")
    entries, rest = [], iter(fields)
    for field in rest:
        if field:
            entries.append((field[:2], field[3:]))
            if field[0] in "RC":  # followed by the name it was renamed or copied from
                next(rest, None)
    return entries


def _new_files_diff(root: Path, names: list[str]) -> str:
    """Untracked files (folders walked) as patches that create them, so the diff rebuilds the
    code the run saw; files past `_NEW_FILES_BYTES` in all are only named (the first 20)."""
    files = []
    for name in names:
        path = root / name
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files += [p for p in found if ".git" not in p.relative_to(root).parts]
    patches, left_out, kept = [], [], 0
    for path in files:
        size = path.stat().st_size
        if kept + size > _NEW_FILES_BYTES:
            left_out.append(str(path.relative_to(root)))
            continue
        kept += size
        done = subprocess.run(["git", "-C", str(root), "diff", "--no-color", "--no-index", "--",
                               "/dev/null", str(path.relative_to(root))], capture_output=True,
                              text=True, timeout=_GIT_SECONDS)
        patches.append(done.stdout)  # exit status 1: the files differ, as they must
    patches += [f"# not included (new files past {_NEW_FILES_BYTES} bytes): {name}\n"
                for name in left_out[:20]]
    if len(left_out) > 20:
        patches.append(f"# … and {len(left_out) - 20} more new files not included\n")
    return "".join(patches)


def _versions() -> dict[str, str | None]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def command_line() -> list[str]:
    """The command line as typed: `pegasus-train …`, or `python -m pegasus_lab.cli.train …`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:  # python -m
        return ["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]
    return [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else []


def describe(device=None) -> dict:
    """This process: time, command, host, Python, package versions, the accelerator (its name,
    CUDA and cuDNN versions) and the code (`code_state`, with the diff's text)."""
    import torch
    accelerator = None
    if device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available():
        index = torch.device(device).index or 0
        accelerator = {"name": torch.cuda.get_device_name(index), "cuda": torch.version.cuda,
                       "cudnn": torch.backends.cudnn.version(),
                       "count": torch.cuda.device_count()}
    return {"time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": command_line(),
            "host": platform.node(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": _versions(),
            "device": str(device) if device is not None else None, "accelerator": accelerator,
            "cpu_threads": torch.get_num_threads(), "code": code_state()}


def without_diff(entry: dict) -> dict:
    """`entry` with the diff's text left out (for a JSON read by people and tables)."""
    code = {k: v for k, v in entry["code"].items() if k != "diff"}
    return {**entry, "code": code}


def code_label(entry: dict) -> str:
    """The code in a word, for TensorBoard's HPARAMS column: the commit's first 12 digits,
    "+changes" when the checkout had some; "unknown" without a git history."""
    code = entry["code"]
    if code.get("commit") is None:
        return "unknown"
    return code["commit"][:12] + ("+changes" if code.get("dirty") else "")


def record_run(run_dir: str | Path, entry: dict) -> Path:
    """Add this part of the run (`describe`'s entry) to `<run>/provenance.json` (a resumed run
    adds a part), the uncommitted changes to `<run>/code-<part>.diff`."""
    run_dir = Path(run_dir)
    path = run_dir / "provenance.json"
    parts = []
    if path.is_file():
        try:
            parts = json.loads(path.read_text())["parts"]
        except (ValueError, KeyError, TypeError):  # unreadable: start the record again
            parts = []
    kept = without_diff(entry)
    if entry["code"].get("diff"):
        diff = write_text(run_dir / f"code-{len(parts) + 1}.diff", entry["code"]["diff"])
        kept["code"]["diff_file"] = diff.name
    parts.append(kept)
    return write_text(path, json.dumps({"parts": parts}, indent=2) + "\n")


def forget_last_part(run_dir: str | Path) -> None:
    """Take back the part `record_run` added last when it trained nothing (a finished run run
    again, as a recipe does): the record keeps the code that trained the weights, not that
    of a later command which only loaded them. A record of one part is kept."""
    path = Path(run_dir) / "provenance.json"
    try:
        parts = json.loads(path.read_text())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not isinstance(parts, list) or len(parts) < 2:
        return
    diff = (parts.pop().get("code") or {}).get("diff_file")
    if diff:
        (Path(run_dir) / diff).unlink(missing_ok=True)
    write_text(path, json.dumps({"parts": parts}, indent=2) + "\n")
