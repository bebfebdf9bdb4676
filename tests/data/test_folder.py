import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.errors import DataError


def _zip_tree(src, dest, prefix=""):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                z.write(path, prefix + path.relative_to(src).as_posix())
    return dest


def test_directory_reader_on_real_cifar_jpegs(cifar_mini):
    src = ImageFolderSource(cifar_mini)
    assert src.classes == ["airplane", "bird", "horse"]
    assert len(src) == 96
    assert np.bincount(src.labels()).tolist() == [32, 32, 32]
    img = src.image(0)
    assert img.size == (32, 32) and img.mode == "RGB"


def test_zip_reader_matches_directory_reader(cifar_mini, tmp_path):
    # The shared export's layout: train.zip holding train/<class>/NNNN.jpg
    _zip_tree(cifar_mini, tmp_path / "train.zip", prefix="train/")
    from_zip = ImageFolderSource(tmp_path, split="train")
    from_dir = ImageFolderSource(cifar_mini)
    assert from_zip.classes == from_dir.classes
    assert (from_zip.labels() == from_dir.labels()).all()
    for i in (0, 40, 95):
        assert np.array_equal(np.asarray(from_zip.image(i)), np.asarray(from_dir.image(i)))


def test_split_both_concatenates_train_and_test(cifar_mini, tmp_path):
    shutil.copytree(cifar_mini, tmp_path / "train")
    _zip_tree(cifar_mini / "horse", tmp_path / "test.zip", prefix="test/horse/")
    both = ImageFolderSource(tmp_path, split="both")
    assert len(both) == 96 + 32
    assert both.classes == ["airplane", "bird", "horse"]


def test_materialise_resizes_and_converts_channels(cifar_mini):
    images, labels = ImageFolderSource(cifar_mini).materialise(16, 1, np.array([0, 50]))
    assert images.shape == (2, 1, 16, 16) and images.dtype.is_floating_point is False
    assert labels.tolist() == [0, 1]


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "train")):
        len(ImageFolderSource(tmp_path, split="train"))


def test_unknown_split_lists_choices(tmp_path):
    with pytest.raises(DataError, match="valid choices"):
        ImageFolderSource(tmp_path, split="validation")


def test_folder_without_class_subfolders_is_an_error(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "loose.png")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no class folders"):
        len(ImageFolderSource(tmp_path))


def test_corrupt_image_names_its_path(cifar_mini, tmp_path):
    shutil.copytree(cifar_mini / "bird", tmp_path / "bird")
    (tmp_path / "bird" / "0000.jpg").write_bytes(b"not a jpeg at all")
    src = ImageFolderSource(tmp_path)
    with pytest.raises(DataError, match=r"cannot decode image .*0000\.jpg"):
        src.image(0)


def test_not_a_zip_is_an_error(tmp_path):
    (tmp_path / "train.zip").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable zip"):
        len(ImageFolderSource(tmp_path, split="train"))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_damaged_member_of_a_zip_names_it(cifar_mini, tmp_path, compression):
    # a flipped byte inside one image's data: a bad CRC (stored) or a bad deflate stream
    archive = tmp_path / "train.zip"
    with zipfile.ZipFile(archive, "w", compression) as z:
        for path in sorted((cifar_mini / "bird").iterdir()):
            z.write(path, f"train/bird/{path.name}")
        member = z.getinfo("train/bird/0003.jpg")
    data = bytearray(archive.read_bytes())
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data[start + member.compress_size // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    src = ImageFolderSource(tmp_path, split="train")
    for i in range(3):
        src.image(i)  # the others still read
    with pytest.raises(DataError, match=rf"cannot read image {archive}:train/bird/0003\.jpg: "
                                        r".*the zip is damaged"):
        src.image(3)


# what a Mac adds to a folder it zips or copies: not data, and never a class
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60)


def test_a_zip_made_on_a_mac_reads_as_the_plain_one(cifar_mini, tmp_path):
    # Finder's "Compress": an AppleDouble `._name` for each file under __MACOSX/, .DS_Store
    with zipfile.ZipFile(tmp_path / "train.zip", "w") as z:
        for path in sorted(cifar_mini.rglob("*.jpg")):
            name = path.relative_to(cifar_mini).as_posix()
            z.write(path, f"train/{name}")
            folder, file = name.split("/")
            z.writestr(f"__MACOSX/train/{folder}/._{file}", APPLE_DOUBLE)
        z.writestr("train/.DS_Store", b"\x00\x00\x00\x01Bud1")
    from_zip, plain = ImageFolderSource(tmp_path, split="train"), ImageFolderSource(cifar_mini)
    assert from_zip.classes == plain.classes and len(from_zip) == len(plain) == 96
    assert (from_zip.labels() == plain.labels()).all()
    for i in range(len(from_zip)):
        from_zip.image(i)  # none of them is a Mac's resource file


def test_hidden_files_and_folders_in_a_directory_are_left_out(cifar_mini, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(cifar_mini, root)
    (root / "horse" / "._0000.jpg").write_bytes(APPLE_DOUBLE)  # copied from a Mac (exFAT)
    checkpoints = root / ".ipynb_checkpoints"  # Jupyter's, beside the class folders
    checkpoints.mkdir()
    shutil.copy(cifar_mini / "bird" / "0000.jpg", checkpoints / "0000-checkpoint.jpg")
    (root / "bird" / ".cache").mkdir()
    shutil.copy(cifar_mini / "bird" / "0001.jpg", root / "bird" / ".cache" / "0001.jpg")
    src = ImageFolderSource(root)
    assert src.classes == ["airplane", "bird", "horse"] and len(src) == 96
    for i in range(len(src)):
        src.image(i)


def test_a_directory_is_identified_by_its_files_not_its_own_time(cifar_mini, tmp_path):
    """The data cache is keyed by it: an image added to a class folder, or moved to another
    class, changes neither the directory's size nor its time, but it is other data."""
    root = tmp_path / "data"
    shutil.copytree(cifar_mini, root)
    before = ImageFolderSource(root).describe()
    assert ImageFolderSource(root).describe() == before  # the same files: the same key
    shutil.copy(cifar_mini / "horse" / "0000.jpg", root / "horse" / "extra.jpg")
    added = ImageFolderSource(root).describe()
    shutil.move(root / "horse" / "extra.jpg", root / "bird" / "extra.jpg")
    moved = ImageFolderSource(root).describe()
    assert len({before, added, moved}) == 3
    (root / "bird" / "extra.jpg").unlink()
    assert ImageFolderSource(root).describe() == before


def test_class_folders_linked_in_from_elsewhere_are_read_and_a_link_loop_once(cifar_mini,
                                                                             tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for name in ("bird", "horse"):
        (root / name).symlink_to(cifar_mini / name, target_is_directory=True)
    (root / "horse_copy").mkdir()
    (root / "horse_copy" / "up").symlink_to(root, target_is_directory=True)  # a loop
    shutil.copy(cifar_mini / "horse" / "0000.jpg", root / "horse_copy" / "0000.jpg")
    (root / "horse_copy" / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")  # a link to nothing
    src = ImageFolderSource(root)
    assert src.classes == ["bird", "horse", "horse_copy"] and len(src) == 32 + 32 + 1


def test_16_bit_grey_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 16 * 16).round().astype(np.uint16).reshape(16, 16)
    (tmp_path / "scans").mkdir()
    Image.fromarray(ramp).save(tmp_path / "scans" / "ramp.png")  # Pillow reads it as I;16
    src = ImageFolderSource(tmp_path)
    assert src.image(0).mode == "I;16"
    images, _ = src.materialise(16, 1)
    assert torch.equal(images[0, 0], torch.from_numpy(np.round(ramp / 257).astype(np.uint8)))
    rgb, _ = src.materialise(16, 3)
    assert torch.equal(rgb[0], images[0].expand(3, -1, -1))
