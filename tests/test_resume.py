"""Which checkpoint a resumed run continues (the multirun case end to end: tests/cli/
test_reliability.py)."""
import os

import pytest
from omegaconf import OmegaConf

from pegasus_lab.errors import ConfigError
from pegasus_lab.resume import resume_path


def _cfg(tmp_path, **kw):
    return OmegaConf.create({"ckpt_path": None, "resume": False, "task_name": "train",
                             "paths": {"log_dir": str(tmp_path),
                                       "output_dir": str(tmp_path / "train" / "runs" / "now")},
                             **kw})


def _checkpoint(path, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
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


def test_auto_continues_the_run_folder_s_own_checkpoint_or_starts_afresh(tmp_path):
    _checkpoint(tmp_path / "train" / "runs" / "a" / "checkpoints" / "last.ckpt", 1000)
    assert resume_path(_cfg(tmp_path, resume="auto")) is None  # never another run's
    own = _checkpoint(tmp_path / "train" / "runs" / "now" / "checkpoints" / "last.ckpt", 500)
    assert resume_path(_cfg(tmp_path, resume="auto")) == str(own)


def test_resume_takes_true_false_or_auto(tmp_path):
    with pytest.raises(ConfigError, match="resume must be true, false or auto, got 'yes'"):
        resume_path(_cfg(tmp_path, resume="yes"))
