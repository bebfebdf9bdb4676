"""The Inception Score: its formula against torch-fidelity's, and the whole path (network,
CPU chunks, grey images) against torch-fidelity's own computation on the same weights."""
from unittest import mock
from urllib.error import URLError

import pytest
import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from torch_fidelity.metric_isc import isc_features_to_metric

from pegasus_lab.errors import CheckpointError
from pegasus_lab.metrics import inception_score as isc
from pegasus_lab.metrics.inception_score import (InceptionLogits, inception_score,
                                                 inception_score_metric)


def test_formula_matches_torch_fidelity_with_uneven_parts():
    logits = torch.randn(105, 1008, generator=torch.Generator().manual_seed(0)) * 4
    mean, std = inception_score(logits)  # 105 rows: parts of 10 and 11, as torch-fidelity's
    ref = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-10)


def test_known_values():
    # the same prediction for every image: no information, a score of 1
    mean, std = inception_score(torch.randn(1, 20).expand(50, 20))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)
    # confident predictions spread evenly over k classes in each part: a score of k
    k = 4
    onehot = torch.nn.functional.one_hot(torch.arange(80) % k, 1008).double() * 60
    mean, std = inception_score(onehot)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_fewer_samples_than_parts_is_an_error():
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score(torch.randn(9, 1008))


def _images(n, channels=3, seed=0):
    return torch.randint(0, 256, (n, channels, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_the_whole_path_matches_torch_fidelity(random_is_weights, monkeypatch):
    # a full-size InceptionV3 on a CPU: few images, in smaller chunks and 5 parts of 2
    monkeypatch.setattr(isc, "CPU_CHUNK", 4)
    images = _images(2 * isc.CPU_CHUNK + 2)  # two whole CPU chunks and a part
    metric = inception_score_metric("cpu", random_is_weights)
    assert metric.available
    metric.splits = 5
    metric.update(images[:7])  # batches of any size
    metric.update(images[7:])
    fields = metric.fields()
    mean, std = fields["inception_score"], fields["inception_score_std"]

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(images)

        def __getitem__(self, i):
            return images[i]

    ref = torch_fidelity.calculate_metrics(
        input1=Images(), isc=True, feature_extractor_weights_path=str(random_is_weights),
        isc_splits=5, samples_shuffle=False, cuda=False, batch_size=len(images), verbose=False,
        cache=False, save_cpu_ram=True)  # no loader workers
    assert mean > 1.001  # the random network's predictions differ between images
    assert mean == pytest.approx(ref["inception_score_mean"], abs=1e-6)
    assert std == pytest.approx(ref["inception_score_std"], abs=1e-6)


def test_grey_images_are_scored_as_three_equal_channels(random_is_weights):
    net = InceptionLogits(str(random_is_weights))
    grey = _images(3, channels=1)
    logits = net(grey)
    assert logits.shape == (3, 1008) and torch.isfinite(logits).all()
    assert torch.allclose(logits, net(grey.expand(-1, 3, -1, -1)))


def test_the_network_is_frozen_in_inference_mode(random_is_weights):
    net = InceptionLogits(str(random_is_weights))
    net.train()  # as Lightning or a caller might
    assert not any(m.training for m in net.modules())  # batch norm: running statistics
    assert not any(p.requires_grad for p in net.parameters())


def test_without_a_download_the_score_is_unavailable_with_the_reason():
    with mock.patch.object(tf_inception, "load_state_dict_from_url",
                           side_effect=URLError("no network")):
        metric = inception_score_metric("cpu")
    assert not metric.available
    metric.update(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))  # nothing to do
    reason = metric.fields()["inception_score_unavailable"]
    assert metric.fields()["inception_score"] is None and reason.startswith("Inception Score unavailable: URLError") and "no network" in reason
    assert "inception_score_weights=" in reason  # and what to do offline


def test_named_weights_missing_or_damaged_are_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found .*inception_score=false"):
        inception_score_metric("cpu", tmp_path / "none.pth")
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not a state dict")
    with pytest.raises(CheckpointError, match="cannot load the Inception Score weights"):
        inception_score_metric("cpu", damaged)
