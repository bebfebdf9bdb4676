"""Sweeps through hydra-submitit-launcher: a 2-job multirun with the local executor, a job its
scheduler restarts (the preemption signal, then a requeue) continuing its own checkpoint, and
the SLURM launcher config composing."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, SMOKE, run_cli


def test_two_job_multirun_with_submitit_local(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.train", "-m", "hydra/launcher=submitit_local", *SMOKE,
                     "trainer.max_epochs=1", "model.kl_weight=0.5,1.0",
                     f"hydra.sweep.dir={sweep}", f"paths.log_dir={tmp_path}", cwd=ROOT,
                     fresh=True)  # the launcher starts each job as a new process
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").exists()
        assert (sweep / job / "summary.json").exists()


def _submitit_task(sweep: Path) -> int | None:
    """The pid of the process running the sweep's job (the local executor's task), from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ, cmdline = (entry / "environ").read_bytes(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"SUBMITIT_LOCAL_GLOBALID=0" in environ and str(sweep).encode() in cmdline:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the job in /proc")
def test_a_preempted_job_requeued_continues_its_own_checkpoint(tmp_path):
    """submitit answers the preemption signal by requeuing the job, which runs it again with the
    same settings in the same folder: it goes on from its last.ckpt, not from step 0, though
    the command did not say resume=…"""
    sweep = tmp_path / "sweep"
    ckpt = sweep / "0" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pegasus_lab.cli.train", "-m", "hydra/launcher=submitit_local",
         *SMOKE, "trainer.max_epochs=12", "logger=none", f"hydra.sweep.dir={sweep}",
         f"paths.log_dir={tmp_path}"], cwd=ROOT, env={**os.environ, "PEGASUS_ROOT": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    task = _submitit_task(sweep)
    if proc.poll() is not None or task is None:
        proc.kill()
        pytest.fail("the job ended, or was not found, before its first checkpoint")
    os.kill(task, signal.SIGUSR2)  # submitit's preemption signal
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr[-3000:]
    log = (sweep / "0" / "train.log").read_text()
    assert "was restarted by its scheduler" in log and f"resuming from {ckpt}" in log
    parts = json.loads((sweep / "0" / "provenance.json").read_text())["parts"]
    assert len(parts) == 2  # the job started twice, in its one folder
    assert torch.load(ckpt, weights_only=True, map_location="cpu")["global_step"] == 36


def test_slurm_launcher_config_composes():
    from tests.conftest import compose_with_hydra
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"
    assert launcher.max_num_timeout == 3  # a job at its time limit is requeued and continues
