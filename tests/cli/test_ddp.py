"""Two CPU processes (gloo) training every kind of method: the ranks must end with identical
weights (every optimizer's gradients averaged across ranks)."""
import pytest

from tests.conftest import ROOT, run_cli, smoke

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2",
       "trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
       "+callbacks.digest._target_=tests.helpers.ParamDigest"]


def _ddp_run(model, tmp_path, *extra):
    run = tmp_path / "run"
    result = run_cli("pegasus_lab.cli.train", *smoke(model), *DDP, f"hydra.run.dir={run}",
                     f"paths.log_dir={tmp_path}", *extra, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


@pytest.mark.parametrize("model", ["vae_conv", "vaegan", "dcgan", "acwgan_gp", "study_acgan"])
def test_ranks_stay_identical(model, tmp_path):
    run = _ddp_run(model, tmp_path)
    digests = {p.name: p.read_text() for p in run.glob("digest_rank*.txt")}
    assert len(digests) == 2 and len(set(digests.values())) == 1, digests
