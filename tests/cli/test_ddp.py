"""Two CPU processes (gloo) training every kind of method: the ranks must end with identical
weights (every optimizer's gradients averaged across ranks), and FID is computed from samples
generated on both."""
import pytest

from tests.conftest import ROOT, run_cli, smoke

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2",
       "trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
       "+callbacks.digest._target_=tests.helpers.ParamDigest"]


def _ddp_run(model, tmp_path, *extra, fresh=False):
    run = tmp_path / "run"
    result = run_cli("pegasus_lab.cli.train", *smoke(model), *DDP, f"hydra.run.dir={run}",
                     f"paths.log_dir={tmp_path}", *extra, cwd=ROOT, timeout=300, fresh=fresh)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


@pytest.mark.parametrize("model", ["vae_conv", "vaegan", "dcgan", "acwgan_gp", "study_acgan"])
def test_ranks_stay_identical(model, tmp_path):
    # one model's ranks are new interpreters, as from a user's shell (the others' are forked
    # from the tests' warm one, tests/warm_cli.py)
    run = _ddp_run(model, tmp_path, fresh=model == "vae_conv")
    digests = {p.name: p.read_text() for p in run.glob("digest_rank*.txt")}
    assert len(digests) == 2 and len(set(digests.values())) == 1, digests


def test_fid_gathered_from_both_ranks(tmp_path, tiny_fid_weights):
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.conftest import fid_overrides
    run = _ddp_run("vae_conv", tmp_path, "callbacks=fid", "callbacks.fid_curve.every_n_steps=3",
                   "callbacks.fid_curve.num_samples=30", *fid_overrides(tiny_fid_weights))
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/fid")] == [3, 6]
    summary = json.loads((run / "summary.json").read_text())
    assert [step for step, _ in summary["fid_history"]] == [3, 6]
    log = (run / "train.log").read_text()
    assert "FID" in log and "(30 samples)" in log  # 15 generated on each rank, gathered
    # rank zero's verdict reached both ranks, which saved the best checkpoint together
    from pegasus_lab.checkpoints import load_checkpoint
    lowest = min(summary["fid_history"], key=lambda point: point[1])[0]
    assert load_checkpoint(run / "checkpoints" / "best-fid.ckpt")["global_step"] == lowest


def test_both_ranks_stop_when_the_fid_stops_improving(tmp_path, tiny_fid_weights):
    from pegasus_lab.checkpoints import load_checkpoint
    from tests.conftest import fid_overrides
    # rank zero's curve: 50, 40, then 45 — out of patience at step 3; rank 1 must stop too
    # (were it left training, the run would hang in its next gradient all-reduce)
    run = _ddp_run("vae_conv", tmp_path, "callbacks=fid", "callbacks.fid_curve.every_n_steps=1",
                   "callbacks.fid_curve.num_samples=30", "callbacks.fid_curve.kid=false",
                   "callbacks.fid_curve.patience=1", *fid_overrides(tiny_fid_weights),
                   "+callbacks.scripted._target_=tests.helpers.ScriptedFID",
                   "+callbacks.scripted.scores=[50,40,45,30,30,30]")
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 3
    assert {p.name for p in run.glob("digest_rank*.txt")} == {"digest_rank0.txt",
                                                            "digest_rank1.txt"}
