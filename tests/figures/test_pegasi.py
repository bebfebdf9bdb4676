"""The white-pegasus pick: the top-k grid, the best one enlarged, and the report behind them."""
import torch

from pegasus_lab.figures.pegasi import pick_white


def _object_on_grey(colour):
    image = torch.full((3, 16, 16), 0.3)
    image[:, 4:12, 4:12] = torch.tensor(colour).view(3, 1, 1)
    return image


def test_the_white_object_comes_first_and_the_best_is_enlarged():
    images = torch.stack([_object_on_grey(c) for c in
                          ([0.8, 0.1, 0.1], [0.95, 0.95, 0.95], [0.2, 0.2, 0.9], [0.7, 0.7, 0.6])])
    picked = pick_white(images, top_k=2, large_size=64)
    assert picked["report"]["ranking"] == [1, 3, 2, 0]  # whiteness 0.95, 0.6, 0.2, 0.1
    top, nrow = picked["top"]
    assert torch.equal(top, images[[1, 3]]) and nrow == 2
    best, _ = picked["best"]
    assert best.shape == (1, 3, 64, 64) and 0 <= best.min() and best.max() <= 1
    assert torch.allclose(best[0, :, 32, 32], images[1, :, 8, 8], atol=1e-3)
    assert picked["report"]["ranked_by"] == "whiteness"


def test_the_classifier_s_probabilities_join_the_ranking():
    images = torch.stack([_object_on_grey([0.95, 0.95, 0.95]), _object_on_grey([0.7, 0.7, 0.6])])
    report = {"p_body": [0.05, 0.9], "p_wing": [0.9, 0.8]}  # the whitest is no horse
    picked = pick_white(images, top_k=1, large_size=16, pegasus_report=report)
    assert picked["report"]["ranking"] == [1, 0]
    assert torch.equal(picked["top"][0], images[[1]])
    assert "min(p_body, p_wing)" in picked["report"]["ranked_by"]
