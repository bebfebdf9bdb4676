"""What a run records about its own making: the git commit and uncommitted changes, library
versions, machine and command; and that a missing repository or git never fails a run."""
import json
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import torch

from pegasus_lab import provenance
from pegasus_lab.provenance import code_state, describe, forget_last_part, record_run


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    (path / "train.py").write_text("lr = 1\n")
    subprocess.run(["git", "-C", str(path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-qm", "first"], check=True)
    return path


def test_a_clean_checkout_is_its_commit(tmp_path):
    repo = _repo(tmp_path / "repo")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert code_state(repo) == {"commit": head, "dirty": False, "changed": [], "diff": ""}


def test_uncommitted_changes_are_named_and_kept(tmp_path):
    repo = _repo(tmp_path / "repo")
    (repo / "train.py").write_text("lr = 2\n")
    (repo / "notes.txt").write_text("new\n")
    state = code_state(repo)
    assert state["dirty"] and sorted(state["changed"]) == ["notes.txt", "train.py"]
    assert "-lr = 1\n+lr = 2\n" in state["diff"]
    assert "+++ b/notes.txt" in state["diff"] and "+new\n" in state["diff"]  # a new file too


def test_the_diff_applies_to_the_commit_to_give_the_code_that_ran(tmp_path):
    repo = _repo(tmp_path / "repo")
    (repo / "train.py").write_text("lr = 2\n")
    (repo / "my notes.txt").write_text("a name with a space\n")
    (repo / "nets").mkdir()
    (repo / "nets" / "g.py").write_text("width = 64\n")
    (repo / "big.bin").write_bytes(b"0" * (provenance._NEW_FILES_BYTES + 1))
    diff = code_state(repo)["diff"]
    assert "# not included (new files past 4194304 bytes): big.bin" in diff
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "apply", "-"], input=diff, text=True, check=True)
    assert (clone / "train.py").read_text() == "lr = 2\n"
    assert (clone / "nets" / "g.py").read_text() == "width = 64\n"
    assert (clone / "my notes.txt").read_text() == "a name with a space\n"


def test_a_renamed_file_is_named_once_by_its_new_name(tmp_path):
    repo = _repo(tmp_path / "repo")
    subprocess.run(["git", "-C", str(repo), "mv", "train.py", "fit.py"], check=True)
    assert code_state(repo)["changed"] == ["fit.py"]


@pytest.mark.parametrize("case", ["no repository", "inside another repository", "no git"])
def test_without_a_history_the_record_says_why(tmp_path, monkeypatch, case):
    folder = tmp_path / "plain"
    folder.mkdir()
    if case == "inside another repository":  # a wheel in a virtual environment in a repo
        folder = _repo(tmp_path / "repo") / "venv" / "site-packages"
        folder.mkdir(parents=True)
    if case == "no git":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    state = code_state(folder)
    assert state["commit"] is None and state["why"]
    if case == "no git":
        assert state["why"] == "git is not installed"


def test_describe_names_the_libraries_command_and_device():
    entry = describe(torch.device("cpu"))
    assert entry["packages"]["torch"] == metadata.version("torch")
    assert entry["packages"]["lightning"] == metadata.version("lightning")
    assert entry["device"] == "cpu" and entry["accelerator"] is None
    assert entry["command"] and entry["python"] and "code" in entry


def test_each_part_of_a_resumed_run_is_added_and_its_changes_kept(tmp_path, monkeypatch):
    states = iter([{"commit": "a" * 40, "dirty": False, "changed": [], "diff": ""},
                   {"commit": "b" * 40, "dirty": True, "changed": ["x.py"],
                    "diff": "--- a/x.py\n+++ b/x.py\n"}])
    monkeypatch.setattr(provenance, "code_state", lambda: next(states))
    record_run(tmp_path, describe())
    path = record_run(tmp_path, describe())  # the resumed part, from a checkout with changes
    parts = json.loads(path.read_text())["parts"]
    assert [p["code"]["commit"][0] for p in parts] == ["a", "b"]
    assert "diff" not in parts[1]["code"] and parts[1]["code"]["diff_file"] == "code-2.diff"
    assert (tmp_path / "code-2.diff").read_text() == "--- a/x.py\n+++ b/x.py\n"
    assert not (tmp_path / "code-1.diff").exists()
    # a part that trained nothing (the run had finished) is taken back, its diff too; the
    # first part of a record always stays
    forget_last_part(tmp_path)
    assert [p["code"]["commit"][0] for p in json.loads(path.read_text())["parts"]] == ["a"]
    assert not (tmp_path / "code-2.diff").exists()
    forget_last_part(tmp_path)
    assert len(json.loads(path.read_text())["parts"]) == 1


def test_new_files_past_the_budget_are_only_named(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo")
    (repo / "runs").mkdir()  # e.g. a folder of logs nobody ignored
    for i in range(25):
        (repo / "runs" / f"{i:02d}.txt").write_text("1234\n")
    monkeypatch.setattr(provenance, "_NEW_FILES_BYTES", 10)
    diff = code_state(repo)["diff"]
    assert diff.count("+++ b/runs/") == 2  # 5 bytes each: two fit
    assert diff.count("# not included (new files past 10 bytes): runs/") == 20
    assert "# … and 3 more new files not included" in diff


def test_a_diff_of_tracked_files_past_its_budget_is_only_named(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo")
    (repo / "train.py").write_text("lr = 2\n" * 100)
    monkeypatch.setattr(provenance, "_DIFF_BYTES", 50)
    state = code_state(repo)
    assert state["diff"].startswith("# not included: the changes to tracked files, ")
    assert state["changed"] == ["train.py"]


@pytest.mark.parametrize("code,label", [
    ({"commit": "0123456789abcdef" * 2 + "01234567", "dirty": False}, "0123456789ab"),
    ({"commit": "0123456789abcdef" * 2 + "01234567", "dirty": True}, "0123456789ab+changes"),
    ({"commit": None, "why": "git is not installed"}, "unknown"),
])
def test_the_code_in_a_word_for_tensorboard(code, label):
    assert provenance.code_label({"code": code}) == label
