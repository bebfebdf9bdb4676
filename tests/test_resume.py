"""Which checkpoint a resumed run continues (the multirun case end to end: tests/cli/
test_reliability.py)."""
import os
import platform
from types import SimpleNamespace

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from pegasus_lab.callbacks.config_in_checkpoint import ConfigInCheckpoint
from pegasus_lab.checkpoints import CONFIG_KEY, JOB_KEY, OVERRIDES_KEY
from pegasus_lab.errors import CheckpointError, ConfigError
from pegasus_lab.earlier_run import EARLIER
from pegasus_lab import resume
from pegasus_lab.resume import (_resume_in_sweep, after_interrupt,
                                require_the_same_sweep_point, resume_path, scheduler_job)


def _cfg(tmp_path, **kw):
    return OmegaConf.create({"ckpt_path": None, "resume": False, "task_name": "train",
                             "paths": {"log_dir": str(tmp_path),
                                       "output_dir": str(tmp_path / "train" / "runs" / "now")},
                             **kw})


def _checkpoint(path, mtime, config=None, step=0):
    """A last.ckpt as a run writes it, as far as choosing one reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, CONFIG_KEY: config or {"smoke_run": False}}, path)
    os.utime(path, (mtime, mtime))
    return path


def test_a_path_is_taken_as_given_and_no_resume_is_none(tmp_path):
    assert resume_path(_cfg(tmp_path, ckpt_path="/some/where.ckpt")) == "/some/where.ckpt"
    assert resume_path(_cfg(tmp_path)) is None


@pytest.mark.parametrize("ask", [{"resume": True}, {"ckpt_path": "last"}])
def test_the_run_folder_s_own_checkpoint_first_else_the_newest_run_s(tmp_path, ask):
    _checkpoint(tmp_path / "train" / "runs" / "a" / "checkpoints" / "last.ckpt", 1000)
    newer = _checkpoint(tmp_path / "train" / "multiruns" / "b" / "3" / "checkpoints" /
                        "last.ckpt", 2000)
    assert resume_path(_cfg(tmp_path, **ask)) == str(newer)
    own = _checkpoint(tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt", 500)
    assert resume_path(_cfg(tmp_path, **ask)) == str(own)


def test_nothing_to_resume_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume: no last.ckpt in"):
        resume_path(_cfg(tmp_path, resume=True))


def test_a_checkpoint_set_aside_is_not_a_resumed_multirun_s(tmp_path):
    """Only a job's own last.ckpt counts, not an earlier run's under <job>/earlier/…: a sweep
    folder holding only those has nothing to resume."""
    sweep = tmp_path / "train" / "multiruns" / "s"
    _checkpoint(sweep / "0" / EARLIER / "t" / "checkpoints" / "last.ckpt", 1000)
    cfg = _cfg(tmp_path, resume=True)
    with pytest.raises(ConfigError, match="nothing to resume in this multirun's folder"):
        _resume_in_sweep(cfg, sweep, sweep / "1" / "checkpoints" / "last.ckpt")
    _checkpoint(sweep / "0" / "checkpoints" / "last.ckpt", 2000)
    assert _resume_in_sweep(cfg, sweep, sweep / "1" / "checkpoints" / "last.ckpt") is None


def test_auto_continues_the_run_folder_s_own_checkpoint_or_starts_afresh(tmp_path):
    _checkpoint(tmp_path / "train" / "runs" / "a" / "checkpoints" / "last.ckpt", 1000)
    assert resume_path(_cfg(tmp_path, resume="auto")) is None  # never another run's
    own = _checkpoint(tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt", 500)
    assert resume_path(_cfg(tmp_path, resume="auto")) == str(own)


def test_auto_keeps_smoke_runs_and_real_runs_apart(tmp_path, caplog):
    """`make reproduce-paper-N ARGS="debug=smoke"`, then the recipe itself in the same folder:
    the real run continued the smoke run's few batches (its epochs, its learning-rate
    schedule). Now it starts at step 0 (train() then sets the smoke run aside); and a smoke
    run in a real run's folder, which would set the real run aside, is refused."""
    here = tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt"
    _checkpoint(here, 1000, {"smoke_run": True}, step=6)
    assert resume_path(_cfg(tmp_path, resume="auto", smoke_run=False)) is None
    assert "written by a debug=smoke run, which a real run does not continue" in caplog.text
    assert resume_path(_cfg(tmp_path, resume="auto", smoke_run=True)) == str(here)
    assert resume_path(_cfg(tmp_path, resume=True)) == str(here)  # asked for by name: taken
    _checkpoint(here, 1000, {"smoke_run": False}, step=7000)
    with pytest.raises(ConfigError, match=f"^{here} is a real run's checkpoint \\(step 7000\\): a "
                                          "debug=smoke run with resume=auto there would set"):
        resume_path(_cfg(tmp_path, resume="auto", smoke_run=True))
    assert resume_path(_cfg(tmp_path, resume="auto", smoke_run=False)) == str(here)
    _checkpoint(here, 1000, {"trainer": {}}, step=7000)  # written before smoke_run existed
    assert resume_path(_cfg(tmp_path, resume="auto")) == str(here)


def test_auto_on_a_damaged_checkpoint_says_how_to_start_afresh(tmp_path):
    here = tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt"
    _checkpoint(here, 1000)
    here.write_bytes(here.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"^cannot read checkpoint .*\. It is the run that "
                                              r"resume=auto continues: resume=false trains"):
        resume_path(_cfg(tmp_path, resume="auto"))


@pytest.mark.parametrize("mode", ["yes", 1, 0])
def test_resume_takes_true_false_or_auto(tmp_path, mode):
    """`resume=1` is not taken for true (nor 0 for false), though Python finds 1 == True."""
    with pytest.raises(ConfigError, match=f"resume must be true, false or auto, got {mode!r}"):
        resume_path(_cfg(tmp_path, resume=mode))


SUBMITIT_ENV = ("SUBMITIT_EXECUTOR", "SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID")


@pytest.mark.parametrize("env,job", [
    ({}, None),
    ({"SLURM_JOB_ID": "77"}, None),  # a SLURM allocation, but no submitit job: salloc, sbatch
    ({"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "77"}, "slurm:77"),
    ({"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": "4242"},
     f"local:{platform.node()}:4242"),
    ({"SUBMITIT_EXECUTOR": "debug"}, None),
])
def test_scheduler_job_names_a_submitit_job(monkeypatch, env, job):
    for key in SUBMITIT_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert scheduler_job() == job


@pytest.mark.parametrize("written_by,continues", [("slurm:77", True), ("slurm:76", False),
                                                  (None, False)])
def test_a_restarted_job_continues_only_a_checkpoint_it_wrote(monkeypatch, tmp_path,
                                                              written_by, continues):
    """resume=false: the job started again by its scheduler goes on from its own last.ckpt;
    another job given the same folder (or a run outside any) starts at step 0 as asked."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    cfg = _cfg(tmp_path)
    own = tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt"
    assert resume_path(cfg) is None  # no checkpoint yet: a first start
    own.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, **({JOB_KEY: written_by} if written_by else {})}, own)
    assert resume_path(cfg) == (str(own) if continues else None)


def test_the_scheduler_job_is_stored_in_every_checkpoint(monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    outside = {}
    ConfigInCheckpoint({}).on_save_checkpoint(SimpleNamespace(datamodule=None), None, outside)
    assert JOB_KEY not in outside
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    inside = {}
    ConfigInCheckpoint({}).on_save_checkpoint(SimpleNamespace(datamodule=None), None, inside)
    assert inside[JOB_KEY] == "slurm:77"


def test_a_multirun_continued_must_sweep_the_same_values_in_the_same_order(tmp_path):
    """Job N continues job N's folder: with the list given in another order, job 0 would
    continue kl_weight=0.5's model as kl_weight=1.0's, silently (the shapes fit)."""
    here = tmp_path / "0" / "checkpoints" / "last.ckpt"
    here.parent.mkdir(parents=True)
    job = ["model.kl_weight=0.5", "+seed=1", "trainer.max_epochs=2"]
    torch.save({"global_step": 6, OVERRIDES_KEY: {"job": job, "swept": ["model.kl_weight",
                                                                         "seed"]}}, here)
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [
        "model.kl_weight=1.0,0.5", "+seed=1,2", "trainer.max_epochs=4"]}}}))
    # the same point, trained on to more epochs (not a swept key): continued
    require_the_same_sweep_point(here, tmp_path, ["model.kl_weight=0.5", "+seed=1",
                                                  "trainer.max_epochs=4"])
    with pytest.raises(ConfigError, match=r"last.ckpt was trained with model.kl_weight=0.5, "
                                          r"and this job of the multirun has "
                                          r"model.kl_weight=1.0: a multirun continued"):
        require_the_same_sweep_point(here, tmp_path, ["model.kl_weight=1.0", "+seed=1",
                                                      "trainer.max_epochs=4"])
    # one value of the list kept (nothing swept now): it is still the key the folder swept
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [
        "model.kl_weight=1.0", "+seed=1"]}}}))
    with pytest.raises(ConfigError, match=r"trained with model.kl_weight=0.5, and this job of "
                                          r"the multirun has model.kl_weight=1.0"):
        require_the_same_sweep_point(here, tmp_path, ["model.kl_weight=1.0", "+seed=1"])
    torch.save({"global_step": 6}, here)  # written before overrides were stored: not checked
    require_the_same_sweep_point(here, tmp_path, ["model.kl_weight=1.0", "+seed=1"])


def test_ctrl_c_in_a_multirun_job_says_how_the_multirun_goes_on(tmp_path, monkeypatch):
    """(A single run's case end to end: tests/cli/test_reliability.py.)"""
    last = tmp_path / "sweep" / "1" / "checkpoints" / "last.ckpt"
    _checkpoint(last, 0, step=40)
    monkeypatch.setattr(resume, "_sweep_dir", lambda: tmp_path / "sweep")
    said = after_interrupt(52, last, str(last.parents[1]))
    assert said == (f"interrupted at step 52; it goes on from {last} (step 40; the steps since "
                    "are lost) when run again as the same multirun with resume=true "
                    f"hydra.sweep.dir={tmp_path / 'sweep'} (a recipe: make it again)")
    last.write_bytes(b"cut short")  # said, not raised: the interrupt is what the user sees
    assert f"goes on from {last} (a step it cannot tell;" in after_interrupt(52, last, "x")
