"""bench/device_carry.sh refuses, with one clear line, a shared folder that lacks what the GPU
machine's calls need, and leaves the folders it would replace alone."""
import subprocess

from tests.conftest import ROOT


def test_missing_shared_folder_is_one_clear_error(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "bench" / "device_carry.sh"),
                             str(tmp_path / "nowhere")], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "wheels-gpu not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
