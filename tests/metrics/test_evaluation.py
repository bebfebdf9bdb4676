"""model_metrics with a stand-in conditional generator: per-class FID follows the labels; the
Inception Score is that of the very samples FID was computed on."""
import pytest
import torch

from pegasus_lab.data.datamodule import ImageDataModule
from pegasus_lab.data.synthetic import SyntheticSource
from pegasus_lab.metrics import distances
from pegasus_lab.metrics.evaluation import dataset_features, manifold_metrics, model_metrics
from pegasus_lab.metrics.generated import generated_uint8
from pegasus_lab.metrics.inception_score import inception_score_metric
from pegasus_lab.metrics.inception import InceptionFeatures
from pegasus_lab.methods.base import GenerativeModule


class ReplayGenerator(GenerativeModule):
    """'Generates' real images of the asked class (or of another class when `swap`)."""

    def __init__(self, images, labels, swap=False):
        super().__init__(latent_dim=4)
        self.images, self.labels, self.swap, self.num_classes = images, labels, swap, 2
        self.register_buffer("dummy", torch.zeros(1))

    def generate(self, z, labels=None):
        wanted = (1 - labels) if self.swap else labels
        picks = [torch.nonzero(self.labels == int(k))[:, 0] for k in wanted]
        idx = torch.stack([p[int(abs(float(z[i, 0])) * 1000) % len(p)]
                           for i, p in enumerate(picks)])
        return self.images[idx].float() / 255


def _replaying(weights, per_class: int):
    """Two classes of 16² synthetic images, their features, and a generator replaying them."""
    dm = ImageDataModule(SyntheticSource(num_classes=2, per_class=per_class, image_size=16),
                         image_size=16, batch_size=8, num_workers=0)
    dm.setup("fit")
    extractor = InceptionFeatures(*weights)
    real, labels = dataset_features(extractor, dm, 32, None, "cpu")
    return dm, extractor, real, labels, ReplayGenerator(*dm.uint8_images())


def test_per_class_fid_follows_the_labels(tiny_fid_weights):
    dm = ImageDataModule(SyntheticSource(num_classes=2, per_class=60, image_size=16),
                         image_size=16, batch_size=8, num_workers=0)
    dm.setup("fit")
    extractor = InceptionFeatures(*tiny_fid_weights)
    real, labels = dataset_features(extractor, dm, 32, None, "cpu")
    images, image_labels = dm.uint8_images()
    right = model_metrics(ReplayGenerator(images, image_labels), extractor, real, labels,
                          dm.classes, 120, 32, kid_subset_size=50, kid_subsets=10)
    wrong = model_metrics(ReplayGenerator(images, image_labels, swap=True), extractor, real,
                          labels, dm.classes, 120, 32, kid_subset_size=50, kid_subsets=10)
    assert set(right["fid_per_class"]) == set(dm.classes)
    # 120 samples over 2 classes against 60 real images of each (the data module's training
    # split of them)
    counts = right["fid_per_class_counts"]
    assert [counts[name]["generated"] for name in dm.classes] == [60, 60]
    assert [counts[name]["real"] for name in dm.classes] == [int((labels == k).sum())
                                                              for k in range(2)]
    for name in dm.classes:
        assert right["fid_per_class"][name] < 0.1 * wrong["fid_per_class"][name]
    # over all classes both are the same mixture: the overall FID cannot tell them apart
    assert abs(right["fid"] - wrong["fid"]) < 0.5 * wrong["fid_per_class"][dm.classes[0]]


def test_inception_score_of_the_samples_fid_saw(tiny_fid_weights, random_is_weights):
    dm, extractor, real, labels, model = _replaying(tiny_fid_weights, per_class=20)
    # 12 samples in batches of 5: each goes through the full-size InceptionV3 twice
    out = model_metrics(model, extractor, real, labels, dm.classes, 12, 5, seed=3,
                        kid_subset_size=10, kid_subsets=2,
                        inception=inception_score_metric("cpu", random_is_weights))
    # the same 12 samples (seed, batches and labels as model_metrics draws them), on their own
    alone = inception_score_metric("cpu", random_is_weights)
    for batch in generated_uint8(model, 12, 5, 3, torch.arange(12) % 2):
        alone.update(batch)
    assert out["inception_score"] == alone.fields()["inception_score"] > 1.0
    assert out["inception_score_std"] == alone.fields()["inception_score_std"]
    # not wanted: no field at all
    assert not {k for k in model_metrics(model, extractor, real, labels, dm.classes, 12, 12,
                                         kid_subset_size=10, kid_subsets=2)
                if k.startswith("inception")}


def test_a_kept_reference_gives_the_same_fid(tiny_fid_weights, monkeypatch):
    dm, extractor, real, labels, model = _replaying(tiny_fid_weights, per_class=20)
    plain = model_metrics(model, extractor, real, labels, dm.classes, 24, 12, seed=1,
                          per_class=False, with_kid=False)
    reference = distances.Reference.of(real)
    # given the reference, FID does not compute the real set's statistics again
    monkeypatch.setattr(distances, "moments", _counting(distances.moments, calls := []))
    kept = model_metrics(model, extractor, real, labels, dm.classes, 24, 12, seed=1,
                         per_class=False, with_kid=False, reference=reference)
    assert kept["fid"] == pytest.approx(plain["fid"], rel=1e-9, abs=1e-9) and plain["fid"] > 0
    assert len(calls) == 1  # the generated set's


def _counting(function, calls: list):
    def counted(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)
    return counted


def test_too_few_samples_for_the_inception_score_keep_the_fid(tiny_fid_weights,
                                                              random_is_weights):
    dm, extractor, real, labels, model = _replaying(tiny_fid_weights, per_class=10)
    out = model_metrics(model, extractor, real, labels, dm.classes, 6, 6, kid_subset_size=6,
                        kid_subsets=2,
                        inception=inception_score_metric("cpu", random_is_weights))
    assert out["fid"] > 0 and out["inception_score"] is None
    assert "at least 10 samples" in out["inception_score_unavailable"]


class _Tiny(GenerativeModule):
    def __init__(self):
        super().__init__(latent_dim=4)
        self.num_classes = 2
        self.net = torch.nn.Linear(4, 3 * 8 * 8)

    def generate(self, z, labels=None):
        return torch.sigmoid(self.net(z) + labels[:, None]).view(-1, 3, 8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_samples_on_a_gpu_are_the_cpus_and_drawn_without_host_syncs():
    torch.manual_seed(0)
    model = _Tiny()
    labels = torch.arange(20) % 2
    expected = torch.cat(list(generated_uint8(model, 20, 8, 3, labels)))
    model = model.cuda()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # a wait for the GPU raises
    try:
        batches = list(generated_uint8(model, 20, 8, 3, labels))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    got = torch.cat(batches).cpu()
    assert (got.int() - expected.int()).abs().max() <= 1  # rounding at the .5 boundaries


def test_manifold_metrics_subsample_and_say_why_when_a_set_is_too_small():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 8, generator=g), torch.randn(200, 8, generator=g)
    m = manifold_metrics(real, fake, k=3, num_samples=100, seed=1)
    assert m["manifold_num_real"] == m["manifold_num_generated"] == 100
    assert m == manifold_metrics(real, fake, k=3, num_samples=100, seed=1)  # seeded
    small = manifold_metrics(real, fake[:3], k=3, num_samples=100)
    assert small["precision"] is None and small["coverage"] is None
    assert "more than 3 features in each set" in small["manifold_unavailable"]


def test_a_drawn_reference_is_those_images_features_read_alone_and_cached_apart(
        tiny_fid_weights, tmp_path, monkeypatch):
    dm = ImageDataModule(SyntheticSource(num_classes=2, per_class=30, image_size=16),
                         image_size=16, batch_size=8, num_workers=0, cache_dir=None)
    dm.setup("fit")
    extractor = InceptionFeatures(*tiny_fid_weights)
    every, every_labels = dataset_features(extractor, dm, 32, tmp_path, "cpu")
    read = []
    real_read = dm.uint8_images
    monkeypatch.setattr(dm, "uint8_images", lambda indices=None: (
        read.append(None if indices is None else len(indices)) or real_read(indices)))
    drawn, labels = dataset_features(extractor, dm, 32, tmp_path, "cpu", limit=20, seed=3)
    assert read == [20]  # only the drawn images are read
    assert drawn.shape == (20, every.shape[1]) and len(labels) == 20
    # each drawn image's features and label are its own in the whole set's
    rows = [int(torch.nonzero((every == f).all(1))[0, 0]) for f in drawn]
    assert len(set(rows)) == 20 and torch.equal(labels, every_labels[rows])
    again, _ = dataset_features(extractor, dm, 32, tmp_path, "cpu", limit=20, seed=3)
    other, _ = dataset_features(extractor, dm, 32, tmp_path, "cpu", limit=20, seed=4)
    assert torch.equal(again, drawn) and not torch.equal(other, drawn)
    assert len(list(tmp_path.glob("features-*.pt"))) == 3  # all, seed 3's, seed 4's
    # a limit of the whole set or more is the whole set
    whole, _ = dataset_features(extractor, dm, 32, tmp_path, "cpu", limit=60)
    assert torch.equal(whole, every)
