"""One command at a time in a run folder: a second run (or study) started there while the first
is going is refused before it writes anything, and the first one's files are all kept."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pegasus_lab import run_lock
from pegasus_lab.cli.train import train
from pegasus_lab.earlier_run import EARLIER, set_earlier_run_aside
from pegasus_lab.run_lock import LOCK_FILE, FolderInUse, holding
from tests import warm_cli
from tests.conftest import ROOT, SMOKE, compose_config, run_cli


def _hydra_files(run: Path, config: str) -> None:
    (run / ".hydra").mkdir(parents=True, exist_ok=True)
    (run / ".hydra" / "config.yaml").write_text(config)
    (run / ".hydra" / "overrides.yaml").write_text(f"- {config}\n")


def test_a_second_holder_is_refused_naming_the_first_and_where_else_to_run(tmp_path):
    with holding(tmp_path, ["pegasus-train", "experiment=demo"], "hydra.run.dir=…"):
        with pytest.raises(FolderInUse) as refused:
            with holding(tmp_path, ["pegasus-train", "experiment=x"], "hydra.run.dir=…"):
                pytest.fail("the block ran in a folder another holds")
    said = str(refused.value)
    assert said.startswith(f"{tmp_path} is in use by another command (pid {os.getpid()} on ")
    assert ": pegasus-train experiment=demo); let it finish" in said
    assert "give this one another folder (hydra.run.dir=…, or a recipe's folder" in said
    with holding(tmp_path, ["again"], "hydra.run.dir=…"):  # let go when the block ended
        pass


def test_the_folder_is_let_go_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with holding(tmp_path, ["a"], "x"):
            raise RuntimeError("the run failed")
    with holding(tmp_path, ["b"], "x"):
        pass


def test_the_refused_run_s_hydra_files_are_put_back_as_the_holder_s(tmp_path):
    """Hydra writes the refused run's .hydra/ before pegasus code runs: the holder's return."""
    _hydra_files(tmp_path, "holder")
    with holding(tmp_path, ["a"], "x"):
        _hydra_files(tmp_path, "refused")
        (tmp_path / ".hydra" / "hydra.yaml").write_text("only the refused run's")
        with pytest.raises(FolderInUse):
            with holding(tmp_path, ["b"], "x"):
                pass
        assert (tmp_path / ".hydra" / "config.yaml").read_text() == "holder"
        assert (tmp_path / ".hydra" / "overrides.yaml").read_text() == "- holder\n"


def test_a_process_that_dies_holding_the_folder_lets_it_go(tmp_path):
    """No stale lock to clear by hand after a run killed with SIGKILL (or a crashed node)."""
    code = ("import sys, time; from pegasus_lab.run_lock import holding\n"
            "with holding(sys.argv[1], ['held'], 'x'):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(FolderInUse, match=rf"\(pid {holder.pid} on .*: held\)"):
            with holding(tmp_path, ["b"], "x"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with holding(tmp_path, ["b"], "x"):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == ["b"]


def test_a_holder_still_writing_its_record_is_refused_without_details(tmp_path):
    with holding(tmp_path, ["a"], "x"):
        (tmp_path / LOCK_FILE).write_text("")  # the moment between its lock and its record
        with pytest.raises(FolderInUse, match=r"is in use by another command; let it finish"):
            with holding(tmp_path, ["b"], "x"):
                pass


def test_a_file_system_that_cannot_lock_warns_and_runs_unheld(tmp_path, monkeypatch, caplog):
    import fcntl

    def no_locks(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    ran = []
    with holding(tmp_path, ["a"], "x"):
        ran.append(True)
    assert ran and "cannot lock" in caplog.text and "No locks available" in caplog.text


def test_an_earlier_run_set_aside_leaves_the_lock_in_place(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with holding(tmp_path, ["a"], "x"):
        aside = set_earlier_run_aside(tmp_path)
        assert (tmp_path / LOCK_FILE).is_file() and not (aside / LOCK_FILE).exists()
        with pytest.raises(FolderInUse):
            with holding(tmp_path, ["b"], "x"):
                pass


def test_a_run_in_a_held_folder_sets_nothing_aside_and_trains_nothing(tmp_path):
    """Before its first checkpoint the running run's outputs would have been moved under
    earlier/ by the second; after it, the second would have continued its last.ckpt."""
    cfg = compose_config("train", [*SMOKE, "trainer.max_epochs=1"], tmp_path)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True)
    (out / "provenance.json").write_text('{"parts": []}')
    with holding(out, ["pegasus-train", "the first"], "x"):
        with pytest.raises(FolderInUse, match="the first"):
            train(cfg)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "provenance.json"]
    train(cfg)  # once the first has ended: from step 0, what the first left set aside
    (aside,) = (out / EARLIER).iterdir()
    assert (out / "checkpoints" / "last.ckpt").is_file() and (aside / "provenance.json").is_file()


def test_pegasus_train_in_a_held_folder_is_one_error_and_exit_2(tmp_path):
    run = tmp_path / "run"
    with holding(run, ["pegasus-train", "experiment=demo"], "x"):
        result = run_cli("pegasus_lab.cli.train", *SMOKE, f"hydra.run.dir={run}",
                         f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: {run} is in use by another command (pid {os.getpid()}" in result.stderr
    assert "(hydra.run.dir=…, or a recipe's folder variable)" in result.stderr
    assert "Traceback" not in result.stderr and not (run / "checkpoints").exists()


def test_a_study_in_a_held_folder_is_refused_before_it_trains(tmp_path):
    """A second `make reproduce-paper-4` while the first runs (its folder is fixed)."""
    sweep = tmp_path / "s"
    with holding(sweep, ["pegasus-study"], "x"):
        result = run_cli("pegasus_lab.cli.study", "models=[study_vae]", "datasets=[synthetic]",
                         f"sweep_dir={sweep}", f"paths.data_dir={tmp_path}",
                         f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: {sweep} is in use by another command (pid {os.getpid()}" in result.stderr
    assert "another folder (sweep_dir=…, or a recipe's folder variable)" in result.stderr
    assert "training:" not in result.stderr and sorted(p.name for p in sweep.iterdir()) == [
        LOCK_FILE]


def test_the_lock_record_names_the_holder(tmp_path):
    before = time.time()
    with holding(tmp_path, ["pegasus-train", "x=1"], "x"):
        record = json.loads((tmp_path / LOCK_FILE).read_text())
    assert record["pid"] == os.getpid() and record["command"] == ["pegasus-train", "x=1"]
    assert record["host"] == run_lock.platform.node()
    assert abs(run_lock.datetime.datetime.fromisoformat(record["since"]).timestamp()
               - before) < 5


def test_a_record_that_cannot_be_written_still_holds_the_folder(tmp_path, monkeypatch, caplog):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(run_lock.os, "pwrite", full)
    with holding(tmp_path, ["a"], "x"):
        with pytest.raises(FolderInUse, match=r"is in use by another command; let it finish"):
            with holding(tmp_path, ["b"], "x"):
                pass
    assert "its record was not written: No space left on device" in caplog.text


def test_a_multirun_job_in_a_held_folder_fails_alone_and_its_row_says_why(tmp_path):
    """The same multirun started twice into one sweep folder (`resume=true
    hydra.sweep.dir=…` while the first still runs): a job held by the other is refused; the
    jobs it does not hold run."""
    sweep = tmp_path / "sweep"
    with holding(sweep / "0", ["pegasus-train", "-m", "the first"], "x"):
        result = run_cli("pegasus_lab.cli.train", "-m", *SMOKE, "logger=none",
                         "trainer.max_epochs=1", "seed=1,2", f"hydra.sweep.dir={sweep}",
                         f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "another folder (hydra.sweep.dir=…, or a recipe's folder variable)" in result.stderr
    assert not (sweep / "0" / "checkpoints").exists()
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file()
    table = (sweep / "sweep.md").read_text()
    assert f"| 0 | 1 | failed: {sweep / '0'} is in use by another command (pid " in table
    assert "| 1 | 2 | ok |" in table


@pytest.mark.skipif(not warm_cli.available(), reason="no fork server here")
def test_runs_started_together_in_default_folders_each_get_their_own(tmp_path):
    """`for s in 1 2 3; do pegasus-train seed=$s & done`: folders named by the second alone
    were one folder, and all runs but one were refused there."""
    env = {**os.environ, "PEGASUS_ROOT": str(ROOT)}
    runs = [warm_cli.Running("pegasus_lab.cli.train", [*SMOKE, f"seed={seed}", "logger=none",
                                                        f"paths.log_dir={tmp_path}"], ROOT, env)
            for seed in (1, 2, 3)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0, 0]
    folders = sorted((tmp_path / "train" / "runs").iterdir())
    assert len(folders) == 3 and all((f / "checkpoints" / "last.ckpt").is_file() for f in folders)
