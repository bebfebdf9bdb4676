"""A file is replaced whole or not at all, and gets the permissions a plain write would."""
import collections
import errno
import os
import shutil
import stat

import pytest

from pegasus_lab.atomic import DiskFull, keep_if_writable, replacing, write_text
from pegasus_lab.errors import find_user_error
from tests.helpers import refuse_new_files


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


def _usage(free):
    usage = collections.namedtuple("usage", "total used free")
    return lambda folder: usage(10 ** 9, 10 ** 9 - free, free)


def test_a_write_that_fills_the_disk_is_one_error_naming_the_file(tmp_path, monkeypatch):
    """torch.save on a full file system says only "unexpected pos 1088 vs 982" (a traceback
    from the data cache, the feature cache, a probe); any write there is one line now."""
    import torch
    target = tmp_path / "cache.pt"
    target.write_text("the previous cache")
    monkeypatch.setattr(shutil, "disk_usage", _usage(4096))

    def full_save(obj, path):
        with open(path, "wb") as f:
            f.write(b"part of it")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 1088 "
                           "vs 982")
    monkeypatch.setattr(torch, "save", full_save)
    with pytest.raises(DiskFull, match=rf"^cannot write {target}: no space left on its file "
                                       r"system; free some space, or have it written "
                                       r"elsewhere$"):
        with replacing(target) as tmp:
            torch.save({}, tmp)
    assert target.read_text() == "the previous cache" and os.listdir(tmp_path) == ["cache.pt"]
    assert isinstance(find_user_error(DiskFull(target, "x")), DiskFull)  # one line, exit 2


def test_a_full_quota_or_disk_said_by_the_system_is_the_same_error(tmp_path):
    def write(path):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    with pytest.raises(DiskFull, match=f"cannot write {tmp_path / 'a.json'}: Disk quota "
                                       "exceeded; free some space"):
        with replacing(tmp_path / "a.json") as tmp:
            write(tmp)


def test_another_failure_with_room_left_stays_what_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", _usage(10 ** 8))
    with pytest.raises(RuntimeError, match="a bug"):
        with replacing(tmp_path / "a.pt"):
            raise RuntimeError("a bug")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [errno.EROFS, errno.EACCES])
def test_a_cache_in_a_folder_that_cannot_be_written_is_a_warning(tmp_path, monkeypatch, caplog,
                                                                error):
    refuse_new_files(monkeypatch, error)
    kept = keep_if_writable(tmp_path / "c.pt", lambda tmp: tmp.write_text("x"), "the cache",
                            "cache_dir=… moves it")
    assert kept is False and os.listdir(tmp_path) == []
    [record] = caplog.records
    assert record.levelname == "WARNING" and record.getMessage() == (
        f"cannot keep the cache in {tmp_path} ({os.strerror(error)}): this run goes on without "
        "it, and the next one computes it again; cache_dir=… moves it")


def test_a_cache_that_can_be_written_is_kept_and_other_failures_stay_errors(tmp_path,
                                                                           monkeypatch):
    assert keep_if_writable(tmp_path / "c.txt", lambda tmp: tmp.write_text("x"), "c", "")
    assert (tmp_path / "c.txt").read_text() == "x"
    with pytest.raises(DiskFull):  # a full disk is not a folder one may not write in
        keep_if_writable(tmp_path / "d.txt", _raises(OSError(errno.ENOSPC, "No space")), "d",
                         "")
    with pytest.raises(FileExistsError):  # a file where its folder should be
        keep_if_writable(tmp_path / "c.txt" / "e", lambda tmp: None, "e", "")


def _raises(err):
    def write(tmp):
        raise err
    return write
