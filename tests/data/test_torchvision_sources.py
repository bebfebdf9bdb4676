"""CIFAR-10 and MNIST readers: MNIST on idx files written here; the missing-data errors."""
import gzip
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from pegasus_lab.data.torchvision_sources import Cifar10Source, MnistSource
from pegasus_lab.errors import DataError

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist" / "MNIST" / "raw"


def write_idx(path, array):
    dims = array.shape
    code = 0x08  # unsigned byte
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, code, len(dims)))
        f.write(struct.pack(">" + "I" * len(dims), *dims))
        f.write(array.astype(np.uint8).tobytes())


def write_mnist(root, n_train=6, n_test=4, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    truth = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28))
        labels = rng.integers(0, 10, size=n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        truth[prefix] = images, labels
    return truth


def test_mnist_reads_generated_idx_files(tmp_path):
    truth = write_mnist(tmp_path)
    src = MnistSource(tmp_path, split="train")
    assert src.classes == [str(i) for i in range(10)]
    assert len(src) == 6
    assert src.labels().tolist() == truth["train"][1].tolist()
    assert np.array_equal(np.asarray(src.image(3)), truth["train"][0][3])
    both = MnistSource(tmp_path, split="both")
    assert len(both) == 10


def test_mnist_materialises_to_rgb_32(tmp_path):
    write_mnist(tmp_path)
    images, _ = MnistSource(tmp_path).materialise(32, 3)
    assert images.shape == (6, 3, 32, 32)
    assert (images[:, 0] == images[:, 1]).all()


def _pack(raw):
    for name in list(raw.iterdir()):
        with open(name, "rb") as src, gzip.open(f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        name.unlink()


@pytest.mark.parametrize("download", [False, True])  # with the archives there: no download
def test_mnist_reads_idx_files_kept_as_their_gz_archives(tmp_path, download, monkeypatch):
    truth = write_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    _pack(raw)
    monkeypatch.setattr("urllib.request.urlopen", _no_network)
    src = MnistSource(tmp_path, split="train")
    src.prepare(download=download)
    assert np.array_equal(src.array(), truth["train"][0])
    assert np.array_equal(src.labels(), truth["train"][1])
    assert (raw / "train-images-idx3-ubyte").is_file()  # unpacked once, beside the archive


def test_a_damaged_mnist_archive_is_named(tmp_path):
    write_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    _pack(raw)
    archive = raw / "train-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(DataError, match=f"cannot unpack {archive}"):
        len(MnistSource(tmp_path, split="train"))
    assert not (raw / "train-images-idx3-ubyte").exists()  # no half-unpacked file left


def _no_network(*args, **kwargs):
    raise AssertionError("the archives were there: nothing is downloaded")


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason="../shared MNIST copy not present")
def test_mnist_reads_the_real_offline_copy(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                 "train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        with gzip.open(SHARED_MNIST / f"{name}.gz") as src, open(raw / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    src = MnistSource(tmp_path, split="test")
    assert len(src) == 10_000
    assert np.bincount(src.labels()).min() > 800


def test_missing_cifar10_with_download_off_names_path_and_fix(tmp_path):
    src = Cifar10Source(tmp_path, split="train")
    src.prepare(download=False)
    with pytest.raises(DataError, match=r"cifar-10-batches-py.*data.download=true") as err:
        len(src)
    assert "cifar10_folder" not in str(err.value)  # no JPEG copy here to point at


def _unreachable(root, train, download):
    if download:
        raise ConnectionError("Name or service not known")
    raise RuntimeError("Dataset not found or corrupted.")


@pytest.mark.parametrize("download", [False, True])
def test_cifar10_missing_beside_its_jpeg_copy_names_the_copy(tmp_path, download, monkeypatch):
    """Offline, with the JPEG zips (data/cifar10/{train,test}.zip) there: the way to read them."""
    import torchvision
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _unreachable)
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "train.zip").write_bytes(b"")
    src = Cifar10Source(tmp_path, split="train")
    with pytest.raises(DataError, match=re.escape(f"; {tmp_path / 'cifar10'} holds CIFAR-10 "
                                                  "as JPEG class folders, which "
                                                  "data=cifar10_folder reads")):
        src.prepare(download=download)
        len(src)


def test_missing_mnist_with_download_off(tmp_path):
    with pytest.raises(DataError, match="MNIST not found"):
        len(MnistSource(tmp_path))


def test_a_cut_off_mnist_file_is_said_to_be_damaged_not_missing(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"cannot read MNIST under .*MNIST/raw \(.*\): files "
                                        r"cut short or damaged\?"):
        len(MnistSource(tmp_path, split="test"))
    images.unlink()  # one file missing beside the others: that is "not found"
    with pytest.raises(DataError, match="MNIST not found"):
        len(MnistSource(tmp_path, split="test"))


def test_unknown_split(tmp_path):
    with pytest.raises(DataError, match="valid choices"):
        Cifar10Source(tmp_path, split="val")
