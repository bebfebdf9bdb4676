"""A file is replaced whole or not at all, and gets the permissions a plain write would."""
import os
import stat

import pytest

from pegasus_lab.atomic import replacing, write_text


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_block_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "deep" / "figure.png"
    with replacing(target, suffix=".png") as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp.name.startswith(".")
        tmp.write_bytes(b"new")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["figure.png"]


def test_a_failing_block_keeps_the_previous_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with replacing(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_written_files_are_as_readable_as_a_plain_write(tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    written = write_text(tmp_path / "atomic.txt", "x")
    assert _mode(written) == _mode(tmp_path / "plain.txt") == 0o666 & ~_umask()


def test_csv_rows_under_their_header(tmp_path):
    import csv
    from pegasus_lab.atomic import write_csv
    path = write_csv(tmp_path / "t.csv", [{"a": 1, "b": None, "extra": 3}, {"a": "x"}], ["a", "b"])
    with path.open(newline="") as f:
        assert list(csv.reader(f)) == [["a", "b"], ["1", ""], ["x", ""]]
    assert os.listdir(tmp_path) == ["t.csv"]


def test_a_pillow_image_in_the_format_its_suffix_names(tmp_path):
    from PIL import Image
    from pegasus_lab.atomic import save_pil
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG")):
        path = save_pil(Image.new("RGB", (4, 3), "red"), tmp_path / name)
        with Image.open(path) as img:
            assert img.format == fmt and img.size == (4, 3)
    assert sorted(os.listdir(tmp_path)) == ["a.png", "b.jpg"]
