"""Sweeps through hydra-submitit-launcher: a 2-job multirun with the local executor, and the
SLURM launcher config composing."""
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


def test_slurm_launcher_config_composes():
    from tests.conftest import compose_with_hydra
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"
