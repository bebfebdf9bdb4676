"""Batched feature extraction: features in the batches' order, a clear error for no images,
and a log line on the way through a long extraction."""
import logging

import pytest
import torch

from pegasus_lab.metrics import features
from pegasus_lab.metrics.features import extract, uint8_batches
from tests.helpers import refuse_new_files


class _MeanColour(torch.nn.Module):
    def forward(self, x):
        return x.float().mean((2, 3))


def test_features_come_in_the_batches_order():
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    out = extract(_MeanColour(), uint8_batches(images, 3))
    assert torch.equal(out, images.float().mean((2, 3)))


def test_features_can_stay_on_the_device():
    # for statistics computed there ("meta" stands in for a GPU)
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    out = extract(_MeanColour(), uint8_batches(images, 3), device="meta", keep_on_device=True)
    assert out.device.type == "meta" and out.shape == (10, 3)


def test_no_images_is_a_clear_error():
    with pytest.raises(ValueError, match="no images"):
        extract(_MeanColour(), [])


def test_a_long_extraction_says_how_far_it_got(monkeypatch, caplog):
    monkeypatch.setattr(features, "PROGRESS_EVERY_S", 0.0)  # every batch "long"
    images = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    with caplog.at_level(logging.INFO, logger=features.__name__):
        extract(_MeanColour(), uint8_batches(images, 4), total=10)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" images,")[0] for line in lines] == [
        "Inception features: 4 of 10", "Inception features: 8 of 10",
        "Inception features: 10 of 10"]


def test_a_short_extraction_logs_nothing(caplog):
    with caplog.at_level(logging.INFO, logger=features.__name__):
        extract(_MeanColour(), uint8_batches(torch.zeros(4, 3, 4, 4, dtype=torch.uint8), 2))
    assert not caplog.records


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_host_batches_reach_a_gpu_without_host_syncs():
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # a wait for the GPU raises
    try:
        out = extract(_MeanColour(), uint8_batches(images, 3), device="cuda",
                      keep_on_device=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.equal(out.cpu(), images.float().mean((2, 3)))


class _Counted(_MeanColour):
    """Counts the images it sees, and stops (as a Ctrl-C would) once it has seen `stop_at`."""

    def __init__(self, stop_at=None):
        super().__init__()
        self.seen, self.stop_at = 0, stop_at

    def forward(self, x):
        if self.stop_at is not None and self.seen >= self.stop_at:
            raise KeyboardInterrupt
        self.seen += len(x)
        return super().forward(x)


def test_a_slow_extraction_stopped_part_way_goes_on_from_the_parts_done(tmp_path, monkeypatch):
    """A CPU's features of a 50k set take hours: interrupted, all of them were lost."""
    monkeypatch.setattr(features, "PART_IMAGES", 4)
    monkeypatch.setattr(features, "KEEP_PARTS_SLOWER_THAN_S", -1.0)  # every part "slow"
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    stopped = _Counted(stop_at=8)  # in the third part (images 8, 9)
    with pytest.raises(KeyboardInterrupt):
        features.cached_image_features("set", stopped, images, 2, tmp_path)
    (parts,) = tmp_path.glob("features-*.parts")
    assert sorted(p.name for p in parts.iterdir()) == ["00000.pt", "00001.pt"]
    again = _Counted()
    out = features.cached_image_features("set", again, images, 2, tmp_path)
    assert again.seen == 2 and torch.equal(out, images.float().mean((2, 3)))
    assert not parts.exists() and len(list(tmp_path.glob("features-*.pt"))) == 1
    cached = _Counted()  # the whole set's cache from now on
    assert torch.equal(features.cached_image_features("set", cached, images, 2, tmp_path), out)
    assert cached.seen == 0


def test_a_fast_extraction_writes_no_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "PART_IMAGES", 4)
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    with pytest.raises(KeyboardInterrupt):
        features.cached_image_features("set", _Counted(stop_at=8), images, 2, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_part_or_cache_of_another_size_is_computed_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(features, "PART_IMAGES", 4)
    monkeypatch.setattr(features, "KEEP_PARTS_SLOWER_THAN_S", -1.0)
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    with pytest.raises(KeyboardInterrupt):
        features.cached_image_features("set", _Counted(stop_at=4), images, 2, tmp_path)
    (part,) = tmp_path.glob("features-*.parts/00000.pt")
    torch.save({"features": torch.zeros(3, 3)}, part)  # not the part's 4 rows
    again = _Counted()
    out = features.cached_image_features("set", again, images, 2, tmp_path)
    assert again.seen == 10 and torch.equal(out, images.float().mean((2, 3)))
    assert "3 rows, not 4" in caplog.text


@pytest.mark.parametrize("in_parts", [False, True])
def test_features_are_computed_where_their_cache_cannot_be_written(in_parts, tmp_path,
                                                                   monkeypatch, caplog):
    if in_parts:  # three parts, each slow enough to keep: one warning, not one a part
        monkeypatch.setattr(features, "PART_IMAGES", 2)
        monkeypatch.setattr(features, "KEEP_PARTS_SLOWER_THAN_S", -1.0)
    refuse_new_files(monkeypatch)
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    out = features.cached_image_features("set", _MeanColour(), images, 4, tmp_path / "fid")
    assert torch.equal(out, images.float().mean((2, 3))) and not list(tmp_path.rglob("*.pt"))
    assert caplog.text.count("cannot keep the real images' Inception features") == 1
