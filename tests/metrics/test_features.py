"""Batched feature extraction: features in the batches' order, a clear error for no images,
and a log line on the way through a long extraction."""
import logging

import pytest
import torch

from pegasus_lab.metrics import features
from pegasus_lab.metrics.features import extract, uint8_batches


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
