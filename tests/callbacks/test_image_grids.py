from pathlib import Path

from pegasus_lab.cli.train import train
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
