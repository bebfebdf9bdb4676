"""last.ckpt holds the final state even when the run ends between two scheduled saves."""
from pathlib import Path

import torch

from pegasus_lab.cli.train import train
from tests.conftest import compose_config, smoke


def test_final_state_saved_between_step_saves(tmp_path):
    cfg = compose_config("train", [*smoke("acwgan_gp"), "trainer.max_steps=7",
                                   "trainer.max_epochs=-1",
                                   "callbacks.last_checkpoint.every_n_epochs=null",
                                   "+callbacks.last_checkpoint.every_n_train_steps=5"], tmp_path)
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 7
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
