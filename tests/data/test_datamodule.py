import shutil

import numpy as np
import pytest
import torch

from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.device_batches import DeviceBatches
from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.data.source import ClassFilter
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.data.tensor_cache import cache_path, load_or_build
from pegasus_lab.errors import ConfigError, DataError
from tests.helpers import refuse_new_files


def _dm(source, **kw):
    args = dict(image_size=16, batch_size=8, val_fraction=0.25, num_workers=0, hflip=False)
    args.update(kw)
    dm = ImageDataModule(source, **args)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _all_batches(loader):
    xs, ys = zip(*list(loader))
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_fast_and_dataloader_paths_give_the_same_images(cifar_mini, value_range):
    src = ClassFilter(ImageFolderSource(cifar_mini), ["horse", "bird"])
    fast = _dm(src, fast_path=True, value_range=value_range)
    slow = _dm(src, fast_path=False, value_range=value_range)
    assert np.array_equal(fast.val_idx, slow.val_idx)
    xf, yf = _all_batches(fast.val_dataloader())
    xs, ys = _all_batches(slow.val_dataloader())
    assert torch.equal(yf, ys)
    assert torch.allclose(xf, xs, atol=1e-6)
    assert xf.min() >= value_range[0] and xf.max() <= value_range[1]
    assert xf.shape[1:] == (3, 16, 16)


def test_train_loader_shuffles_covers_and_drops_last():
    dm = _dm(SyntheticSource(num_classes=2, per_class=10, image_size=16), val_fraction=0.0,
             batch_size=6)
    loader = dm.train_dataloader()
    assert len(loader) == 3  # 20 images // 6
    _, y1 = _all_batches(loader)
    _, y2 = _all_batches(loader)
    assert len(y1) == 18 and not torch.equal(y1, y2)  # a new order each epoch


@pytest.mark.parametrize("fast_path", [True, False])
def test_overfitting_takes_the_same_batches_every_epoch(fast_path):
    import lightning as L
    dm = _dm(SyntheticSource(num_classes=4, per_class=10, image_size=16), val_fraction=0.0,
             batch_size=6, fast_path=fast_path)

    def two_epochs(trainer):
        dm.trainer = trainer
        loader = dm.train_dataloader()
        return [[x for x, _ in list(loader)[:2]] for _ in range(2)]

    first, second = two_epochs(L.Trainer(overfit_batches=2, accelerator="cpu", logger=False))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    first, second = two_epochs(L.Trainer(accelerator="cpu", logger=False))
    assert not all(torch.equal(a, b) for a, b in zip(first, second))  # shuffled otherwise


@pytest.mark.parametrize("fast_path", [True, False])
def test_overfitting_draws_extra_batches_from_the_overfitted_ones(fast_path):
    # e.g. a WGAN's critic batches drawn inside the step: they too come from the overfit set
    import lightning as L

    class Draws(L.LightningModule):
        def __init__(self, dm):
            super().__init__()
            self.dm, self.seen, self.drawn = dm, [], []
            self.weight = torch.nn.Parameter(torch.zeros(()))

        def training_step(self, batch, batch_idx):
            self.seen.append(batch[0])
            self.drawn.append(self.dm.sample_train(64)[0])
            return self.weight * 0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = ImageDataModule(SyntheticSource(num_classes=4, per_class=10, image_size=16),
                         image_size=16, batch_size=6, val_fraction=0.0, num_workers=0,
                         hflip=False, fast_path=fast_path)
    model = Draws(dm)
    L.Trainer(overfit_batches=2, max_epochs=2, accelerator="cpu", logger=False,
              enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).fit(model, datamodule=dm)
    overfit = torch.cat(model.seen).flatten(1)
    assert len(overfit) == 24  # 2 batches of 6, 2 epochs
    assert len(torch.unique(overfit[:12], dim=0)) == 12
    drawn = torch.cat(model.drawn).flatten(1)
    matches = (drawn[:, None] == overfit[None, :12]).all(-1).any(-1)
    assert matches.all() and len(torch.unique(drawn, dim=0)) > 6  # from both batches


def test_device_batches_flip_and_sample():
    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    images[:, :, :, 0] = 255  # left column white
    batches = DeviceBatches(images, torch.arange(4), batch_size=4, value_range=(0, 1),
                            hflip=True, seed=3)
    x, _ = next(iter(batches))
    left_white = x[:, 0, 0, 0] == 1.0
    right_white = x[:, 0, 0, 1] == 1.0
    assert (left_white ^ right_white).all()  # each image flipped or not, never both
    xs, ys = batches.sample(10)
    assert xs.shape == (10, 1, 2, 2) and ys.shape == (10,)


def test_device_batches_shard_per_rank():
    images = torch.zeros(10, 1, 2, 2, dtype=torch.uint8)
    labels = torch.arange(10)
    seen = []
    for rank in range(2):
        b = DeviceBatches(images, labels, batch_size=5, value_range=(0, 1), shuffle=True,
                          seed=1, rank=rank, world_size=2)
        seen.append(torch.cat([y for _, y in b]))
    assert sorted(torch.cat(seen).tolist()) == list(range(10))


def test_cache_is_written_once_and_reused(tmp_path, cifar_mini):
    src = ImageFolderSource(cifar_mini)
    first = load_or_build(src, 8, 3, tmp_path)
    path = cache_path(src, 8, 3, tmp_path)
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    again = load_or_build(ImageFolderSource(cifar_mini), 8, 3, tmp_path)
    assert path.stat().st_mtime_ns == stamp
    assert torch.equal(first.images, again.images) and first.classes == again.classes
    # a different size is a different cache
    assert cache_path(src, 16, 3, tmp_path) != path


def test_damaged_cache_is_rebuilt(tmp_path):
    src = SyntheticSource(num_classes=1, per_class=4, image_size=8)
    path = cache_path(src, 8, 3, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    tensors = load_or_build(src, 8, 3, tmp_path)
    assert len(tensors) == 4


def test_class_indices_and_example_batch(cifar_mini):
    dm = _dm(ImageFolderSource(cifar_mini))
    horses = dm.class_indices("horse")
    assert len(horses) == 32
    images, labels = dm.uint8_images(horses[:3])
    assert (labels == dm.classes.index("horse")).all() and images.dtype == torch.uint8
    assert dm.example_batch(5).shape == (5, 3, 16, 16)
    with pytest.raises(DataError, match="valid choices"):
        dm.class_indices("pegasus")


def test_too_few_images_for_the_batch_is_a_clear_error():
    dm = _dm(SyntheticSource(num_classes=1, per_class=4, image_size=8), batch_size=64)
    with pytest.raises(DataError, match="lower data.batch_size"):
        dm.train_dataloader()


def test_bad_settings_are_rejected():
    with pytest.raises(ConfigError):
        ImageDataModule(SyntheticSource(), channels=2)
    with pytest.raises(ConfigError):
        ImageDataModule(SyntheticSource(), value_range=(1, 0))
    with pytest.raises(ConfigError, match="image_size must be an integer of at least 4, got 2"):
        ImageDataModule(SyntheticSource(), image_size=2)
    with pytest.raises(ConfigError, match="batch_size must be a positive integer, got 0"):
        ImageDataModule(SyntheticSource(), batch_size=0)
    with pytest.raises(ConfigError, match="num_workers must be 0 or a positive integer"):
        ImageDataModule(SyntheticSource(), num_workers=-1)
    with pytest.raises(ConfigError, match="the data's seed must be an integer from 0 to "):
        ImageDataModule(SyntheticSource(), seed=-1)  # was numpy's traceback at setup
    for switch in ("hflip", "fast_path", "drop_last", "download"):
        with pytest.raises(ConfigError, match=f"^{switch} must be true or false, got 'no'$"):
            ImageDataModule(SyntheticSource(), **{switch: "no"})


def test_classes_setting_filters_any_source(cifar_mini):
    dm = _dm(ImageFolderSource(cifar_mini), classes=["horse", "airplane"], val_fraction=0.0)
    assert dm.classes == ["horse", "airplane"]
    _, labels = _all_batches(dm.train_dataloader())
    assert sorted(set(labels.tolist())) == [0, 1] and len(labels) == 64


def test_cifar_folder_plus_stl10_resized_to_32_horses_and_birds(cifar_mini, tmp_path):
    from pegasus_lab.data.source import ConcatSource
    from pegasus_lab.data.stl10 import Stl10Source
    from tests.data.test_stl10 import write_stl10
    truth = write_stl10(tmp_path, n=20)
    stl_labels = np.concatenate([truth["train"][1], truth["test"][1]])
    stl_names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                 "truck"]
    expected_stl = sum(stl_names[k] in ("horse", "bird") for k in stl_labels)
    source = ConcatSource({"cifar10": ImageFolderSource(cifar_mini),
                           "stl10": Stl10Source(tmp_path, split="labeled")})
    dm = _dm(source, image_size=32, classes=["horse", "bird"], val_fraction=0.0, batch_size=4)
    assert dm.classes == ["horse", "bird"]
    images, labels = dm.uint8_images()
    assert images.shape[1:] == (3, 32, 32)
    assert len(labels) == 64 + expected_stl


def test_an_image_added_to_a_class_folder_is_in_the_next_run_s_data(tmp_path, cifar_mini):
    root = tmp_path / "data"
    shutil.copytree(cifar_mini, root)
    assert len(load_or_build(ImageFolderSource(root), 8, 3, tmp_path / "cache")) == 96
    shutil.copy(cifar_mini / "horse" / "0000.jpg", root / "horse" / "extra.jpg")
    again = load_or_build(ImageFolderSource(root), 8, 3, tmp_path / "cache")
    assert len(again) == 97 and again.labels.tolist().count(2) == 33  # not the cached 96


def test_a_data_folder_that_cannot_be_written_decodes_without_a_cache(tmp_path, monkeypatch,
                                                                      caplog):
    """A cluster's shared, read-only data sets: the run goes on, the cache not kept."""
    refuse_new_files(monkeypatch)
    src = SyntheticSource(num_classes=2, per_class=3, image_size=8)
    tensors = load_or_build(src, 8, 3, tmp_path / "cache")
    assert len(tensors) == 6 and not list(tmp_path.rglob("*.pt"))
    assert "cannot keep the decoded images" in caplog.text and "paths.cache_dir=" in caplog.text
