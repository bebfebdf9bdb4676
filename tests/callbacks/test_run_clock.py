import json
from pathlib import Path

import torch

from pegasus_lab.cli.train import train
from tests.conftest import SMOKE, compose_config


def test_a_resumed_run_reports_the_time_of_all_its_parts(tmp_path):
    first = compose_config("train", [*SMOKE, "logger=none", "trainer.max_epochs=1"], tmp_path)
    train(first)
    run = Path(first.paths.output_dir)
    one_part = json.loads((run / "summary.json").read_text())["wall_seconds"]
    last = run / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=False)
    assert 0 < state["callbacks"]["RunClock"]["seconds"] <= one_part + 0.01
    state["callbacks"]["RunClock"]["seconds"] = 1000.0  # as if the first part took 1000 s
    torch.save(state, last)
    resumed = compose_config("train", [*SMOKE, "logger=none", "trainer.max_epochs=2",
                                       f"ckpt_path={last}"], tmp_path)
    train(resumed)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2
    assert 1000 < summary["wall_seconds"] < 1000 + 120
