from pathlib import Path

import pytest

from pegasus_lab.callbacks.image_grids import ImageGrids
from pegasus_lab.cli.train import train
from pegasus_lab.errors import ConfigError
from tests.conftest import SMOKE, compose_config


def test_figures_every_n_epochs_and_at_the_end(tmp_path):
    cfg = compose_config("train", [*SMOKE, "trainer.max_epochs=3",
                                   "callbacks.image_grids.every_n_epochs=2",
                                   "callbacks.image_grids.num_reconstructions=4"], tmp_path)
    train(cfg)
    images = sorted(p.name for p in (Path(cfg.paths.output_dir) / "images").iterdir())
    assert images == ["reconstructions_epoch0002.png", "reconstructions_epoch0003.png",
                      "reconstructions_latest.png", "samples_epoch0002.png",
                      "samples_epoch0003.png", "samples_latest.png"]


def test_bad_counts_are_said_when_the_run_is_built():
    # num_samples=0 was a division by zero at the first figure, after epochs of training
    with pytest.raises(ConfigError, match="image_grids.num_samples must be a positive"):
        ImageGrids(num_samples=0)
    with pytest.raises(ConfigError, match="image_grids.num_reconstructions must be 0 or a"):
        ImageGrids(num_reconstructions=-1)
