"""STL-10's reader on files written here in the real binary layout."""
import numpy as np
import pytest

from pegasus_lab.data.stl10 import Stl10Source
from pegasus_lab.errors import DataError


def write_stl10(root, parts=("train", "test"), n=4, unlabeled=0, seed=0):
    """Write stl10_binary/ as the dataset ships: X column-major per channel, y in 1..10.
    Returns the images (N×96×96×3, as they should read back) and labels (0-based) per part."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "class_names.txt").write_text(
        "\n".join(["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                   "truck"]) + "\n")
    truth = {}
    for part, count in [(p, n) for p in parts] + ([("unlabeled", unlabeled)] if unlabeled else []):
        images = rng.integers(0, 256, size=(count, 96, 96, 3), dtype=np.uint8)
        # the file stores, per image, channel-major planes each written column by column
        images.transpose(0, 3, 2, 1).tofile(folder / f"{part}_X.bin")
        labels = rng.integers(0, 10, size=count)
        if part != "unlabeled":
            (labels + 1).astype(np.uint8).tofile(folder / f"{part}_y.bin")
        truth[part] = (images, labels)
    return truth


def test_reads_pixels_in_the_right_orientation(tmp_path):
    truth = write_stl10(tmp_path)
    src = Stl10Source(tmp_path, split="train")
    assert len(src) == 4
    assert src.classes[6] == "horse"
    assert np.array_equal(np.asarray(src.image(2)), truth["train"][0][2])
    assert src.labels().tolist() == truth["train"][1].tolist()


def test_an_asymmetric_image_is_not_transposed(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    img = np.zeros((96, 96, 3), dtype=np.uint8)
    img[:10, :, 0] = 255  # a red band across the top rows
    img[None].transpose(0, 3, 2, 1).tofile(folder / "train_X.bin")
    np.array([7], dtype=np.uint8).tofile(folder / "train_y.bin")
    pixels = np.asarray(Stl10Source(tmp_path).image(0))
    assert pixels[:10, :, 0].min() == 255 and pixels[10:, :, 0].max() == 0


def test_splits_concatenate_and_unlabelled_get_minus_one(tmp_path):
    truth = write_stl10(tmp_path, n=3, unlabeled=5)
    src = Stl10Source(tmp_path, split="all")
    assert len(src) == 3 + 3 + 5
    assert (src.labels()[6:] == -1).all()
    assert np.array_equal(src.array()[[7, 1]], np.stack([truth["unlabeled"][0][1],
                                                         truth["train"][0][1]]))


def test_materialise_resizes_96_to_32(tmp_path):
    write_stl10(tmp_path, n=2)
    images, labels = Stl10Source(tmp_path, split="labeled").materialise(32, 3)
    assert images.shape == (4, 3, 32, 32)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"train_X\.bin"):
        len(Stl10Source(tmp_path, split="train"))


def test_truncated_file_is_reported(tmp_path):
    write_stl10(tmp_path, parts=("train",))
    x = tmp_path / "stl10_binary" / "train_X.bin"
    x.write_bytes(x.read_bytes()[:-5])
    with pytest.raises(DataError, match="corrupt STL-10 file"):
        len(Stl10Source(tmp_path))


def test_label_count_mismatch_is_reported(tmp_path):
    write_stl10(tmp_path, parts=("train",))
    np.array([1], dtype=np.uint8).tofile(tmp_path / "stl10_binary" / "train_y.bin")
    with pytest.raises(DataError, match="corrupt STL-10 labels"):
        len(Stl10Source(tmp_path))
