import importlib
import importlib.util
import os

import numpy as np
import pytest
import torch
import torchvision.datasets

from pegasus_lab.data.celeba import CelebaSource
from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.data.source import ClassFilter, ConcatSource
from pegasus_lab.data.stl10 import Stl10Source
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.errors import DataError
from tests.data.test_char74k_celeba import write_celeba
from tests.data.test_folder import _zip_tree
from tests.data.test_stl10 import write_stl10


def test_class_filter_keeps_named_classes_and_remaps_labels(cifar_mini):
    full = ImageFolderSource(cifar_mini)  # airplane 0, bird 1, horse 2
    kept = ClassFilter(full, ["horse", "bird"])
    assert kept.classes == ["horse", "bird"]
    assert len(kept) == 64
    assert np.bincount(kept.labels()).tolist() == [32, 32]
    # first kept image is the first bird of the parent (parent order), now label 1
    assert kept.labels()[0] == 1
    assert np.array_equal(np.asarray(kept.image(0)), np.asarray(full.image(32)))


def test_class_filter_materialise_agrees_with_image(cifar_mini):
    kept = ClassFilter(ImageFolderSource(cifar_mini), ["horse"])
    images, labels = kept.materialise(32, 3, np.array([3]))
    assert torch.equal(images[0].permute(1, 2, 0), torch.from_numpy(np.array(kept.image(3))))
    assert labels.tolist() == [0]


def test_unknown_class_lists_valid_choices(cifar_mini):
    with pytest.raises(DataError, match=r"unknown class.*pegasus.*valid choices.*airplane"):
        len(ClassFilter(ImageFolderSource(cifar_mini), ["horse", "pegasus"]))


def test_classes_named_by_digits_are_found_when_given_as_numbers():
    """MNIST's classes are '0'…'9', and Hydra reads `data.classes=[3,5]` as numbers: they were
    'unknown class(es) [3, 5]; valid choices: ['0', …, '3', …]'."""
    digits = SyntheticSource(num_classes=4, per_class=2, image_size=8,
                             class_names=["0", "1", "2", "3"])
    kept = ClassFilter(digits, [3, "1"])
    assert kept.classes == ["3", "1"] and kept.labels().tolist() == [1, 1, 0, 0]
    with pytest.raises(DataError, match=r"unknown class\(es\) \['7'\]"):
        len(ClassFilter(digits, [7]))
    with pytest.raises(DataError, match=r"unknown class\(es\) \[True\]"):  # not a name
        len(ClassFilter(digits, [True]))


def test_an_empty_class_list_is_an_error_not_all_classes(cifar_mini):
    """`data.classes=[]` keeps nothing: said at once, not trained on every class instead."""
    with pytest.raises(DataError, match=r"class list is empty.*null\) for all"):
        ClassFilter(ImageFolderSource(cifar_mini), [])


def test_concat_unions_class_names_in_order():
    a = SyntheticSource(num_classes=2, per_class=3, image_size=8, class_names=["horse", "bird"])
    b = SyntheticSource(num_classes=2, per_class=2, image_size=8, class_names=["bird", "ship"])
    both = ConcatSource({"a": a, "b": b})
    assert both.classes == ["horse", "bird", "ship"]
    assert both.labels().tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]
    assert np.array_equal(np.asarray(both.image(7)), np.asarray(b.image(1)))


def test_concat_materialise_keeps_requested_order():
    a = SyntheticSource(num_classes=1, per_class=3, image_size=8, seed=1)
    b = SyntheticSource(num_classes=2, per_class=2, image_size=8, seed=2)
    both = ConcatSource([a, b])
    order = np.array([5, 0, 3, 1])
    images, labels = both.materialise(8, 3, order)
    full, full_labels = both.materialise(8, 3)
    assert torch.equal(images, full[order]) and torch.equal(labels, full_labels[order])


def test_concat_names_the_missing_part_and_the_way_out(tmp_path):
    parts = {"cifar10": SyntheticSource(num_classes=1, per_class=2, image_size=8),
             "stl10": Stl10Source(tmp_path, split="train")}
    with pytest.raises(DataError, match=r"STL-10 files missing.*data.source.optional=\[stl10\]"):
        len(ConcatSource(parts))


def test_concat_leaves_out_an_optional_missing_part(tmp_path):
    parts = {"cifar10": SyntheticSource(num_classes=1, per_class=2, image_size=8),
             "stl10": Stl10Source(tmp_path, split="train")}
    both = ConcatSource(parts, optional=["stl10"])
    assert len(both) == 2


def test_concat_rejects_unknown_optional_name():
    with pytest.raises(DataError, match="unknown part"):
        ConcatSource({"a": SyntheticSource()}, optional=["b"])


def _unreachable(*args, **kwargs):
    raise ConnectionError("Name or service not known")


@pytest.mark.parametrize("source,dataset,says", [
    ("torchvision_sources.Cifar10Source", "CIFAR10", "CIFAR-10 download into"),
    ("torchvision_sources.MnistSource", "MNIST", "MNIST download into"),
    ("stl10.Stl10Source", "STL10", "STL-10 download into"),
    ("celeba.CelebaSource", "CelebA", "CelebA download into"),
])
def test_a_failed_download_names_the_place_and_the_offline_way(tmp_path, monkeypatch, source,
                                                               dataset, says):
    monkeypatch.setattr(torchvision.datasets, dataset, _unreachable)
    module, name = source.rsplit(".", 1)
    src = getattr(importlib.import_module(f"pegasus_lab.data.{module}"), name)(str(tmp_path))
    with pytest.raises(DataError, match=f"{says} .*{tmp_path}.* failed: Name or service not "
                                        "known. Offline, place the files there and set "
                                        "data.download=false"):
        src.prepare(download=True)


def test_celeba_downloads_have_what_torchvision_needs_for_google_drive():
    assert importlib.util.find_spec("gdown") is not None, "torchvision's CelebA needs gdown"


def _zipped_cifar(root, cifar_mini):
    _zip_tree(cifar_mini, root / "train.zip", prefix="train/")
    return ImageFolderSource(root, split="train"), root / "train.zip"


def _stl10(root, _):
    write_stl10(root)
    return Stl10Source(root, split="train"), root / "stl10_binary" / "train_X.bin"


def _celeba(root, _):
    write_celeba(root)
    return CelebaSource(root, split="train"), root / "celeba" / "list_attr_celeba.txt"


@pytest.mark.parametrize("build", [_zipped_cifar, _stl10, _celeba])
def test_a_file_rewritten_within_the_same_second_at_the_same_size_is_other_data(
        tmp_path, cifar_mini, build):
    """The data cache is keyed by `describe()`: a zip, an STL-10 binary or CelebA's attribute
    file copied over within one second keeps its size, and a time in whole seconds."""
    source, path = build(tmp_path, cifar_mini)
    second = path.stat().st_mtime_ns // 10**9 * 10**9
    os.utime(path, ns=(second, second + 100_000_000))
    first = source.describe()
    os.utime(path, ns=(second, second + 600_000_000))
    if path.stat().st_mtime_ns % 10**9 != 600_000_000:
        pytest.skip("this file system keeps times in whole seconds")
    assert source.describe() != first
    os.utime(path, ns=(second, second + 100_000_000))
    assert source.describe() == first
