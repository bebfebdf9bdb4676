import pytest
import torch

from pegasus_lab.errors import CheckpointError, ConfigError
from pegasus_lab.metrics.pegasus_score import (
    PegasusCriteria, accuracy, fit_linear_probe, load_probe, save_probe)

CLASSES = ["airplane", "bird", "horse", "ship"]


def _separable(n=400, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    centres = torch.randn(4, d, generator=g) * 4
    return centres[labels] + torch.randn(n, d, generator=g), labels


def test_linear_probe_learns_separable_classes_and_round_trips(tmp_path):
    x, y = _separable()
    probe = fit_linear_probe(x, y, CLASSES, epochs=40, lr=1e-2)
    test_x, test_y = _separable(seed=0)
    assert accuracy(probe, test_x, test_y) > 0.95
    path = save_probe(probe, tmp_path / "probe.pt", feature_sha256="abc", test_accuracy=0.9)
    loaded, meta = load_probe(path, feature_sha256="abc")
    assert meta["test_accuracy"] == 0.9 and loaded.classes == CLASSES
    assert torch.allclose(loaded(x), probe(x))
    with pytest.raises(CheckpointError, match="other weights"):
        load_probe(path, feature_sha256="def")


def test_pegasus_criteria_on_crafted_probabilities():
    #            airplane bird horse ship
    probs = torch.tensor([[0.20, 0.20, 0.50, 0.10],   # horse 0.5, wing 0.4: a pegasus
                          [0.00, 0.05, 0.90, 0.05],   # just a horse
                          [0.45, 0.45, 0.05, 0.05],   # just wings
                          [0.10, 0.10, 0.10, 0.70]])  # a ship
    crit = PegasusCriteria(threshold=0.3)
    body, wing = crit.split(probs, CLASSES)
    assert torch.allclose(body, torch.tensor([0.5, 0.9, 0.05, 0.1]))
    assert torch.allclose(wing, torch.tensor([0.4, 0.05, 0.9, 0.2]))
    summary = crit.summary(body, wing)
    assert summary["pegasus_share"] == 0.25
    assert summary["pegasus_mean_min"] == pytest.approx((0.4 + 0.05 + 0.05 + 0.1) / 4)


def test_criteria_name_unknown_classes():
    with pytest.raises(ConfigError, match="has no class"):
        PegasusCriteria(body=["unicorn"]).split(torch.ones(1, 4) / 4, CLASSES)


def test_missing_classifier_says_how_to_train_it(tmp_path):
    with pytest.raises(CheckpointError, match="pegasus-classifier"):
        load_probe(tmp_path / "none.pt")


def _probe_file(tmp_path):
    x, y = _separable(n=40)
    return save_probe(fit_linear_probe(x, y, CLASSES, epochs=1), tmp_path / "probe.pt")


@pytest.mark.parametrize("damage, says", [
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "cannot read the pegasus-score"),
    (lambda path: path.write_bytes(b"\x80\x04garbage"), "cannot read the pegasus-score"),
    (lambda path: torch.save({"state_dict": {}, "epoch": 3}, path),
     r"is not a pegasus-score classifier \(it lacks classes, num_features\)"),
    (lambda path: torch.save([1, 2], path),
     r"is not a pegasus-score classifier \(it holds a list\)"),
])
def test_a_damaged_or_foreign_classifier_file_is_one_error(tmp_path, damage, says):
    path = _probe_file(tmp_path)
    damage(path)
    with pytest.raises(CheckpointError, match=f"{says}.*pegasus-classifier"):
        load_probe(path)


def test_a_classifier_whose_weights_do_not_fit_its_sizes_is_one_error(tmp_path):
    path = _probe_file(tmp_path)
    blob = torch.load(path, weights_only=True)
    torch.save({**blob, "num_features": blob["num_features"] + 1}, path)
    with pytest.raises(CheckpointError, match="does not fit its own sizes"):
        load_probe(path)
