"""Runs that survive kills, stop on divergence, repeat exactly, and refuse bad input clearly."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pegasus_lab.checkpoints import AtomicCheckpointIO, load_checkpoint
from pegasus_lab.cli.train import train
from pegasus_lab.errors import CheckpointError
from tests import warm_cli
from tests.conftest import ROOT, SMOKE, compose_config, run_cli, smoke

GAN_RUN = [*smoke("acwgan_gp"), "trainer.max_steps=60", "trainer.max_epochs=-1",
           "trainer.limit_train_batches=3", "logger=tensorboard"]


def _start(run_dir: Path):
    """The GAN run, left running (to be killed): a process forked from the warm interpreter
    (tests/warm_cli.py), else a new one."""
    args = [*GAN_RUN, f"hydra.run.dir={run_dir}", f"paths.log_dir={run_dir.parent}"]
    env = {**os.environ, "PEGASUS_ROOT": str(ROOT)}
    if warm_cli.available():
        return warm_cli.Running("pegasus_lab.cli.train", args, ROOT, env)
    return subprocess.Popen([sys.executable, "-m", "pegasus_lab.cli.train", *args], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_after_checkpoint(proc, ckpt: Path, newer_than: int = -1) -> int:
    """SIGKILL the run once it has written a last.ckpt past `newer_than` steps."""
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        if ckpt.exists():
            try:
                step = load_checkpoint(ckpt)["global_step"]
            except Exception:
                step = -1
            if step > newer_than:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return step
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint within the time limit")


def test_resume_after_sigkill_continues_step_schedule_and_curves(tmp_path):
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "last.ckpt"
    first = _kill_after_checkpoint(_start(run), ckpt, newer_than=5)
    assert load_checkpoint(ckpt)["global_step"] == first  # whole and loadable after the kill
    # the resumed run needs no handle to kill: a warm process (tests/warm_cli.py), not a cold
    # interpreter's 6 s of imports
    resumed = run_cli("pegasus_lab.cli.train", *GAN_RUN, f"hydra.run.dir={run}",
                      f"paths.log_dir={run.parent}", "ckpt_path=last", cwd=ROOT, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = load_checkpoint(ckpt)
    assert final["global_step"] == 60
    for sched in final["lr_schedulers"]:
        assert sched["last_epoch"] == 60  # the schedule went on to its end, not restarted
    assert final["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("train/critic")]
    assert min(steps) < first and max(steps) >= 59  # one curve, before and after the kill
    # each step once: not restarted from 0, and the steps the killed run logged past its
    # checkpoint (a kill 0.12 s after the checkpoint at step 6 has logged steps 6 and 7) are
    # hidden once the resumed run trains them again
    assert steps == sorted(set(steps)), [s for s in steps if steps.count(s) > 1]


def test_a_resumed_multirun_continues_each_job_from_its_own_checkpoint(tmp_path):
    sweep, second = (tmp_path / "train" / "multiruns" / name for name in ("first", "second"))

    def multirun(*extra):
        return run_cli("pegasus_lab.cli.train", "-m", *SMOKE, "logger=none",
                       "model.encoder.latent_dim=4,8", f"paths.log_dir={tmp_path}", *extra,
                       cwd=ROOT)

    first = multirun("trainer.max_epochs=1", f"hydra.sweep.dir={sweep}")
    assert first.returncode == 0, first.stderr[-3000:]
    # resumed into a new folder: every job would find no checkpoint of its own
    elsewhere = multirun("trainer.max_epochs=2", "resume=true", f"hydra.sweep.dir={second}")
    assert elsewhere.returncode == 2
    assert f"nothing to resume in this multirun's folder {second}" in elsewhere.stderr
    assert f"(the newest with checkpoints: {sweep})" in elsewhere.stderr
    # the old folder, where job 1 had not reached its first checkpoint
    one_epoch = load_checkpoint(sweep / "0" / "checkpoints" / "last.ckpt")["global_step"]
    for ckpt in (sweep / "1" / "checkpoints").iterdir():
        ckpt.unlink()
    resumed = multirun("trainer.max_epochs=2", "resume=true", f"hydra.sweep.dir={sweep}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    logs = [(sweep / job / "train.log").read_text() for job in ("0", "1")]
    assert f"resuming from {sweep / '0' / 'checkpoints' / 'last.ckpt'}" in logs[0]
    assert "it starts from step 0" in logs[1] and "resuming from" not in logs[1]
    for job in ("0", "1"):  # two epochs each: job 0 one more, job 1 both
        last = load_checkpoint(sweep / job / "checkpoints" / "last.ckpt")
        assert last["global_step"] == 2 * one_epoch > 0
    # the values in another order: job 0 would continue latent 4's model as latent 8's
    reordered = multirun("trainer.max_epochs=3", "resume=true", f"hydra.sweep.dir={sweep}",
                         "model.encoder.latent_dim=8,4")
    assert reordered.returncode == 2, reordered.stderr[-3000:]
    assert (f"{sweep / '0' / 'checkpoints' / 'last.ckpt'} was trained with "
            "model.encoder.latent_dim=4, and this job of the multirun has "
            "model.encoder.latent_dim=8") in reordered.stderr
    assert load_checkpoint(sweep / "0" / "checkpoints" / "last.ckpt")["global_step"] == \
        2 * one_epoch  # nothing trained, nothing set aside


def test_atomic_checkpoint_write_keeps_the_old_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "state_dict": {}}, path)

    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    def crash(self, checkpoint, target, storage_options=None):
        Path(target).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2, "state_dict": {}}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_divergence_stops_with_step_and_network_and_keeps_the_last_good_checkpoint(tmp_path):
    from pegasus_lab.callbacks.divergence import DivergenceError
    from pegasus_lab.methods.vae import VAE

    cfg = compose_config("train", [*SMOKE, "trainer.max_epochs=5"], tmp_path)
    original = VAE.losses

    def poisoned(self, x, labels=None):
        out = original(self, x, labels)
        if self.training and self.trainer.global_step >= 7:
            out = {**out, "kl": out["kl"] * float("nan")}
        return out

    VAE.losses = poisoned
    try:
        with pytest.raises(DivergenceError, match=r"step 8: train/kl.* nan.*network: kl"):
            train(cfg)
    finally:
        VAE.losses = original
    last = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 6  # the last epoch end before the NaN
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values()
               if v.is_floating_point())


def test_same_seed_same_grid(tmp_path):
    grids = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        cfg = compose_config("train", [*SMOKE, f"seed={seed}", "data.fast_path=true"],
                             tmp_path / name)
        train(cfg)
        grids.append((Path(cfg.paths.output_dir) / "images" / "samples_latest.png").read_bytes())
    assert grids[0] == grids[1] and grids[0] != grids[2]


@pytest.mark.parametrize("args,exit_code,says", [
    (["model=transformer"], 1, "vae_conv"),                  # Hydra lists the options
    (["experiment=paper9"], 1, "paper1_pretrain"),
    (["data=synthetic", "callbacks=null"], 2, "callbacks=null: callbacks is a config group, "
     "which takes one of its options (default, early_stopping, "),
    (["model=dcgan", "data=synthetic", "data.image_size=48"], 2, "4·2^k"),
    (["ckpt_path=/nonexistent/last.ckpt", "data=synthetic"], 2, "checkpoint not found"),
    # values out of range: said by the data module, the optimizer, the Trainer, not as a bug
    (["data=synthetic", "data.batch_size=0"], 2, "batch_size must be a positive integer"),
    (["data=synthetic", "model.optimizer.lr=-1"], 2, "Adam refuses the model's optimizer"),
    (["data=synthetic", "trainer.max_epochs=-2"], 2, "`max_epochs` must be a non-negative"),
    (["data=synthetic", "seed=-1"], 2, "seed must be an integer from 0 to 4294967295"),
    (["data=synthetic", "model.encoder.width=0"], 2, "ConvEncoder: width must be a positive"),
    # values of a kind the reader does not take: named from its annotations before building
    (["data=synthetic", "trainer.precision=17"], 2, "trainer.precision=17: Trainer takes one of"),
    (["data=synthetic", "trainer.max_epochs=1.5"], 2,
     "trainer.max_epochs=1.5: Trainer takes an integer or null for max_epochs"),
    # a network switched off that another key's interpolation reads
    (["data=synthetic", "model.encoder=null"], 2,
     "model.decoder.latent_dim=${model.encoder.latent_dim} cannot be resolved"),
    (["data=synthetic", "trainer.accelerator=banana"], 2, "invalid accelerator name"),
    (["data=synthetic", "+trainer.nonsense=1"], 2, "unexpected keyword argument 'nonsense'"),
    # keys that do not fit a _target_'s arguments, when it is built and when training starts
    (["data=synthetic", "+model.encoder.widht=8"], 2,
     "model.encoder: ConvEncoder.__init__() got an unexpected keyword argument 'widht'"),
    (["data=synthetic", "+model.optimizer.lrr=1"], 2,
     "model.optimizer: Adam.__init__() got an unexpected keyword argument 'lrr'"),
    (["data=synthetic", "+trainer.val_check_interval=1000"], 2,
     "`val_check_interval` (1000) must be less than or equal to the number of the training"),
    # a monitor misspelt: said once the first validation has logged what there is
    (["data=synthetic", "callbacks=[default,early_stopping]",
      "callbacks.early_stopping.monitor=val/los"], 2,
     "Early stopping conditioned on metric `val/los` which is not available"),
    (["data=synthetic", "callbacks.model_checkpoint.monitor=val/los"], 2,
     "`ModelCheckpoint(monitor='val/los')` could not find the monitored key"),
])
def test_bad_input_one_clear_error(args, exit_code, says, tmp_path):
    result = run_cli("pegasus_lab.cli.train", *args, "trainer=smoke",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == exit_code, result.stderr[-2000:]
    assert says in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_or_sigterm_says_where_the_run_goes_on_and_that_command_goes_on(tmp_path):
    run = tmp_path / "run"
    last = run / "checkpoints" / "last.ckpt"
    args = [*SMOKE, "trainer.max_epochs=3", "logger=none", f"paths.log_dir={tmp_path}"]
    # Ctrl-C (its KeyboardInterrupt) as step 4 starts: the epoch-end checkpoint holds step 3
    stopped = run_cli("pegasus_lab.cli.train", *args, f"hydra.run.dir={run}",
                      "+callbacks.stop._target_=tests.helpers.InterruptAt",
                      "+callbacks.stop.step=4", cwd=ROOT)
    assert stopped.returncode == 130, stopped.stderr[-3000:]  # as a shell's for SIGINT
    said = (f"interrupted at step 4; it goes on from {last} (step 3; the steps since are "
            f"lost) when run again as the same command with hydra.run.dir={run} resume=true")
    assert said in stopped.stdout and said in (run / "train.log").read_text()
    assert not (run / "summary.json").exists()  # no summary of a run that did not end
    resumed = run_cli("pegasus_lab.cli.train", *args, f"hydra.run.dir={run}", "resume=true",
                      cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {last}" in resumed.stdout
    assert load_checkpoint(last)["global_step"] == 9
    # before any checkpoint there is nothing to go on from, and it says so
    early = run_cli("pegasus_lab.cli.train", *args, f"hydra.run.dir={tmp_path / 'early'}",
                    "+callbacks.stop._target_=tests.helpers.InterruptAt",
                    "+callbacks.stop.step=1", cwd=ROOT)
    assert early.returncode == 130
    assert "interrupted at step 1, before its first checkpoint: nothing to go on from" in \
        early.stdout
    # SIGTERM (`kill`, `timeout`): Lightning stops at the step's end and exited with status 0,
    # as if the run had finished; a recipe went on to sample and evaluate the unfinished model
    killed = run_cli("pegasus_lab.cli.train", *args, f"hydra.run.dir={tmp_path / 'killed'}",
                     "+callbacks.stop._target_=tests.helpers.TerminateAt",
                     "+callbacks.stop.step=4", cwd=ROOT)
    assert killed.returncode == 143, killed.stderr[-3000:]
    assert re.search(r"terminated \(SIGTERM\) at step [45]; it goes on from \S+last\.ckpt "
                     r"\(step 3;", killed.stdout), killed.stdout[-3000:]
    assert not (tmp_path / "killed" / "summary.json").exists()
    # before training (the data or model being set up): one line too, not a traceback
    building = run_cli("pegasus_lab.cli.train", *args, f"hydra.run.dir={tmp_path / 'built'}",
                       "+callbacks.stop._target_=tests.helpers.InterruptOnBuild", cwd=ROOT)
    assert building.returncode == 130 and "Traceback" not in building.stderr
    assert building.stderr.strip().splitlines()[-1] == "error: interrupted (Ctrl-C)"


def test_corrupt_and_mismatched_checkpoints_are_refused(tmp_path):
    cfg = compose_config("train", SMOKE, tmp_path / "a")
    train(cfg)
    good = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(good.read_bytes()[:1000])
    for path, says in ((bad, "cannot read checkpoint"), (good, "does not fit this model")):
        result = run_cli("pegasus_lab.cli.train", *SMOKE, "model.encoder.width=16",
                         f"ckpt_path={path}", f"paths.log_dir={tmp_path}", cwd=ROOT)
        assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]
        assert "resume=false" not in result.stderr  # a path given is taken as given
    # the run folder's own last.ckpt, chosen by resume=auto (a recipe run again with another
    # width): the error says how to start this model afresh there
    wider = compose_config("train", [*SMOKE, "model.encoder.width=16", "resume=auto"],
                           tmp_path / "a")
    with pytest.raises(CheckpointError, match=r"does not fit this model: .* It is the run "
                                              r"that resume=auto continues: resume=false "
                                              r"trains this model from step 0 instead"):
        train(wider)
