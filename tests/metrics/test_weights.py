import os

import pytest

from pegasus_lab.metrics import weights
from pegasus_lab.metrics.inception import FID_WEIGHTS_SHA256, sha256_of
from tests.conftest import SHARED_FID_PARTS


def test_parts_with_the_wrong_content_are_not_installed(tmp_path):
    (tmp_path / "w.pt.part00").write_bytes(b"abc")
    (tmp_path / "w.pt.part01").write_bytes(b"def")
    dest = tmp_path / "out" / "w.pt"
    with pytest.raises(SystemExit, match="sha256"):
        weights.main(["--from-parts", str(tmp_path), "--dest", str(dest)])
    assert not dest.exists() and os.listdir(dest.parent) == []  # no temporary file left


@pytest.mark.skipif(not SHARED_FID_PARTS.exists(), reason="../shared FID weights not present")
def test_the_offline_parts_install_with_the_right_sha(tmp_path):
    dest = tmp_path / "w.pt"
    weights.main(["--from-parts", str(SHARED_FID_PARTS), "--dest", str(dest)])
    assert sha256_of(dest) == FID_WEIGHTS_SHA256
