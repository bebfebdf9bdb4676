"""Char74K and CelebA readers on files written here in their real layouts."""
import numpy as np
import pytest
from PIL import Image

from pegasus_lab.data.celeba import CelebaSource
from pegasus_lab.data.char74k import Char74kSource
from pegasus_lab.errors import DataError


def write_char74k(root, samples=(1, 11, 37, 62), per_class=2, folder="Fnt"):
    for k in samples:
        folder_k = root / "English" / folder / f"Sample{k:03d}"
        folder_k.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((128, 128), 40 * i + k, dtype=np.uint8)).save(
                folder_k / f"img{k:03d}-{i + 1:05d}.png")


def test_char74k_names_classes_by_their_character(tmp_path):
    write_char74k(tmp_path)
    src = Char74kSource(tmp_path)
    assert src.classes == ["0", "A", "a", "z"]
    assert len(src) == 8 and src.labels().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    images, _ = src.materialise(32, 1)
    assert images.shape == (8, 1, 32, 32)


def test_char74k_missing_and_odd_folders(tmp_path):
    with pytest.raises(DataError, match="Char74K not found"):
        len(Char74kSource(tmp_path))
    with pytest.raises(DataError, match=r"Char74K not found.*unpack EnglishHnd.tgz"):
        Char74kSource(tmp_path, subset="Hnd").describe()  # the data module's cache key
    write_char74k(tmp_path, samples=(1,))
    (tmp_path / "English" / "Fnt" / "Extra").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "English" / "Fnt" / "Extra" / "x.png")
    with pytest.raises(DataError, match="unexpected Char74K class folder"):
        len(Char74kSource(tmp_path))


@pytest.mark.parametrize("subset,folder,beside", [
    ("Hnd", "Hnd/Img", ["Hnd/Trj/Sample001"]),  # EnglishHnd.tgz: strokes beside the images
    ("Img", "Img/GoodImg/Bmp", ["Img/GoodImg/Msk/Sample001", "Img/BadImag/Bmp/Sample001"]),
])
def test_char74k_hand_drawn_and_photographed_subsets_in_their_archives_layout(
        tmp_path, subset, folder, beside):
    write_char74k(tmp_path, samples=(2, 12), folder=folder)
    for extra in beside:  # what the archive holds that is not this subset's sample images
        write_char74k(tmp_path, samples=(1,), folder=extra.rsplit("/", 1)[0])
    src = Char74kSource(tmp_path, subset=subset)
    assert src.classes == ["1", "B"] and len(src) == 4


def test_char74k_unknown_subset(tmp_path):
    with pytest.raises(DataError, match=r"unknown Char74K subset 'Bad'; valid choices"):
        Char74kSource(tmp_path, subset="Bad")


def write_celeba(root, n=6):
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = ["5_o_Clock_Shadow", "Male", "Smiling"]
    rows, parts = [], []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        img[:20] = 255  # a white band at the top: cropped away by the centre square
        Image.fromarray(img).save(folder / "img_align_celeba" / name)
        male = 1 if i % 2 else -1
        rows.append(f"{name} -1 {male:2d} 1")
        parts.append(f"{name} {0 if i < 4 else 2}")
    (folder / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(names)}\n" + "\n".join(rows) + "\n")
    (folder / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")


def test_celeba_reads_the_attribute_and_splits(tmp_path):
    write_celeba(tmp_path)
    train = CelebaSource(tmp_path, split="train")
    assert train.classes == ["not_Male", "Male"]
    assert train.labels().tolist() == [0, 1, 0, 1]
    assert len(CelebaSource(tmp_path, split="test")) == 2 and len(CelebaSource(tmp_path, "all")) == 6
    img = train.image(0)
    assert img.size == (178, 178)  # centre square
    assert np.asarray(img).max() < 30  # the top band lies outside the crop (JPEG ringing aside)


def test_celeba_errors(tmp_path):
    with pytest.raises(DataError, match="CelebA files missing"):
        len(CelebaSource(tmp_path))
    write_celeba(tmp_path)
    with pytest.raises(DataError, match="valid choices"):
        len(CelebaSource(tmp_path, attribute="Wings"))


@pytest.mark.parametrize("cut, line, why", [
    # a download cut off mid-row, and one cut off between rows
    (lambda text: text[:-15], "line 8", "expected an image name and 3 values of 1 or -1"),
    (lambda text: text.rsplit("\n", 3)[0] + "\n", "ending at line 6",
     "first line counts 6 images, it lists 4"),
    (lambda text: "", "line 1", "expected the image count"),
    (lambda text: text.replace("000003.jpg -1 -1 1", "000003.jpg -1 0 1"), "line 5",
     "values of 1 or -1"),
])
def test_a_cut_off_or_damaged_attribute_file_is_one_error_naming_the_line(tmp_path, cut, line,
                                                                         why):
    write_celeba(tmp_path)
    attrs = tmp_path / "celeba" / "list_attr_celeba.txt"
    attrs.write_text(cut(attrs.read_text()))
    with pytest.raises(DataError, match=f"corrupt CelebA file {attrs}, {line}: .*{why}"):
        len(CelebaSource(tmp_path))


def test_a_damaged_partition_file_is_one_error_naming_the_line(tmp_path):
    write_celeba(tmp_path)
    parts = tmp_path / "celeba" / "list_eval_partition.txt"
    parts.write_text(parts.read_text().replace("000002.jpg 0", "000002.jpg train"))
    with pytest.raises(DataError, match=f"{parts}, line 2: .*split 0, 1 or 2"):
        len(CelebaSource(tmp_path))
