import torch

from pegasus_lab.metrics.whiteness import WhitenessRanker


def _object_on_dark(colour):
    img = torch.full((3, 16, 16), 0.1)  # dark background
    img[:, 4:12, 4:12] = torch.tensor(colour).view(3, 1, 1)
    return img


def test_a_white_object_ranks_above_grey_and_coloured_ones():
    images = torch.stack([_object_on_dark([0.5, 0.5, 0.5]),   # grey
                          _object_on_dark([0.9, 0.2, 0.2]),   # red
                          _object_on_dark([0.95, 0.95, 0.95]),  # white
                          _object_on_dark([0.9, 0.9, 0.6])])  # cream
    ranker = WhitenessRanker()
    assert ranker.rank(images).tolist()[0] == 2
    scores = ranker.scores(images)
    assert scores[2] > scores[3] > scores[1] and scores[2] > scores[0] > scores[1]


def test_the_background_does_not_count():
    white_bg_red_object = torch.ones(1, 3, 16, 16)
    white_bg_red_object[:, :, 4:12, 4:12] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
    white_object = _object_on_dark([0.95, 0.95, 0.95])[None]
    ranker = WhitenessRanker()
    assert ranker.scores(white_object) > ranker.scores(white_bg_red_object)


def test_a_uniform_image_is_judged_whole():
    assert torch.allclose(WhitenessRanker().scores(torch.ones(1, 3, 8, 8)), torch.ones(1))
