"""Checkpoint writing in the background: a copy taken at the save, writes and removals in the
order asked for, failures reported, nothing half-written left behind."""
import re
from pathlib import Path

import pytest
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from pegasus_lab.checkpoints import AtomicCheckpointIO, load_checkpoint, misfit
from pegasus_lab.cli.train import train
from pegasus_lab.errors import CheckpointError
from tests.conftest import SMOKE, compose_config


def _state(step: int, weight: torch.Tensor) -> dict:
    return {"global_step": step, "state_dict": {"w": weight}, "callbacks": {"scores": [step]}}


def test_background_write_holds_the_state_at_the_save(tmp_path):
    io = AtomicCheckpointIO(background=True)
    weight = torch.randn(1000)
    before = weight.clone()
    state = _state(1, weight)
    io.save_checkpoint(state, tmp_path / "last.ckpt")
    weight.add_(1.0)  # training goes on in place while the file is written
    state["callbacks"]["scores"].append(99)
    io.teardown()
    saved = load_checkpoint(tmp_path / "last.ckpt")
    assert torch.equal(saved["state_dict"]["w"], before)
    assert saved["callbacks"]["scores"] == [1]


def test_background_file_holds_what_the_loop_would_write(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = {"global_step": 7, "state_dict": net.state_dict(),
             "optimizer_states": [torch.optim.Adam(net.parameters()).state_dict()]}
    for background in (False, True):
        io = AtomicCheckpointIO(background=background)
        io.save_checkpoint(state, tmp_path / f"{background}.ckpt")
        io.teardown()
    loop, thread = (torch.load(tmp_path / f"{b}.ckpt", weights_only=True) for b in (False, True))
    assert thread["state_dict"]._metadata == loop["state_dict"]._metadata  # module versions
    assert thread["state_dict"].keys() == loop["state_dict"].keys()
    assert all(torch.equal(thread["state_dict"][k], v) for k, v in loop["state_dict"].items())
    assert thread["optimizer_states"] == loop["optimizer_states"]


def test_background_writes_and_removals_keep_their_order(tmp_path):
    io = AtomicCheckpointIO(background=True)
    first, second = tmp_path / "best-epoch0001.ckpt", tmp_path / "best-epoch0002.ckpt"
    for step in range(1, 6):  # the same file saved over and over: the last save wins
        io.save_checkpoint(_state(step, torch.full((10,), float(step))), tmp_path / "last.ckpt")
    io.save_checkpoint(_state(1, torch.zeros(3)), first)
    io.save_checkpoint(_state(2, torch.zeros(3)), second)
    io.remove_checkpoint(first)  # as ModelCheckpoint replaces its best: after its write
    io.flush()
    assert sorted(p.name for p in tmp_path.iterdir()) == [second.name, "last.ckpt"]
    assert load_checkpoint(tmp_path / "last.ckpt")["global_step"] == 5
    io.teardown()


def test_loading_waits_for_the_writes_before_it(tmp_path):
    io = AtomicCheckpointIO(background=True)
    io.save_checkpoint(_state(3, torch.randn(100_000)), tmp_path / "last.ckpt")
    assert io.load_checkpoint(tmp_path / "last.ckpt")["global_step"] == 3
    io.teardown()


def test_background_write_failure_is_reported_and_keeps_the_old_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO(background=True)
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(_state(1, torch.ones(4)), path)
    io.flush()

    def disk_full(self, checkpoint, target, storage_options=None):
        Path(target).write_bytes(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", disk_full)
    io.save_checkpoint(_state(2, torch.ones(4)), path)
    with pytest.raises(CheckpointError, match=r"last\.ckpt failed: .*No space left") as failed:
        io.teardown()
    assert str(failed.value).count("last.ckpt") == 1  # the file named once
    monkeypatch.undo()
    assert load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_failed_write_stops_training_with_a_checkpoint_error(tmp_path, monkeypatch):
    cfg = compose_config("train", [*SMOKE, "trainer.max_epochs=4"], tmp_path)
    assert cfg.trainer.plugins[0].background  # the default
    original, written = TorchCheckpointIO.save_checkpoint, []

    def fails_after_the_first(self, checkpoint, target, storage_options=None):
        if written:
            raise OSError(28, "No space left on device")
        written.append(checkpoint["global_step"])
        original(self, checkpoint, target, storage_options)

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", fails_after_the_first)
    with pytest.raises(CheckpointError, match="No space left on device"):
        train(cfg)
    monkeypatch.undo()
    kept = list((Path(cfg.paths.output_dir) / "checkpoints").glob("*.ckpt"))
    assert kept and all(load_checkpoint(p)["global_step"] == written[0] for p in kept)


def test_misfit_names_only_the_kinds_of_misfit_there_are():
    own = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    assert misfit(own, dict(own)) is None
    assert misfit(own, {**own, "b": torch.zeros(4)}) == "1 of another shape (e.g. ['b'])"
    state = {"a": torch.zeros(2), "x": torch.zeros(1)}
    assert misfit(own, state) == ("2 weights missing (e.g. ['b', 'c']), "
                                  "1 unexpected (e.g. ['x'])")
    assert misfit(own, state, unexpected_too=False) == "2 weights missing (e.g. ['b', 'c'])"


class _Foreign:  # a pickled object of some other program's class
    pass


@pytest.mark.parametrize("write, says", [
    (lambda path: path.write_bytes(b"\x80\x04garbage"),
     r"not a file of tensors that torch\.load reads safely \(Unsupported operand"),
    (lambda path: torch.save({"model": _Foreign()}, path),
     r"not a file of tensors that torch\.load reads safely \(Unsupported global: .*_Foreign"),
    (lambda path: path.write_bytes(_saved_bytes()[:300]),
     r"PytorchStreamReader failed reading zip archive: failed finding central directory$"),
])
def test_an_unreadable_checkpoint_is_said_in_one_line(tmp_path, write, says):
    # torch's own message runs to a page, advising among other things to load the file unsafely
    path = tmp_path / "bad.ckpt"
    write(path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and "weights_only" not in message, message
    assert re.search(rf"^cannot read checkpoint {re.escape(str(path))}: {says}", message), message


def test_a_cut_off_checkpoint_read_mapped_is_said_in_one_line(tmp_path):
    """A look at a checkpoint's entries maps the file (resume=auto, the smoke/real check):
    torch then fails on some cut-off files with a bare OSError (EINVAL), which was a
    traceback."""
    import io
    buffer = io.BytesIO()
    torch.save({"global_step": 1, "state_dict": {"w": torch.ones(100_000)}}, buffer)
    path = tmp_path / "cut.ckpt"
    path.write_bytes(buffer.getvalue()[:5000])
    with pytest.raises(CheckpointError, match=rf"^cannot read checkpoint {re.escape(str(path))}"
                                              r": Invalid argument \(cut short or damaged\?\)$"):
        load_checkpoint(path, mmap=True)


def _saved_bytes() -> bytes:
    import io
    buffer = io.BytesIO()
    torch.save({"global_step": 1, "state_dict": {"w": torch.ones(3)}}, buffer)
    return buffer.getvalue()


def test_a_folder_given_as_a_checkpoint_names_the_checkpoints_in_it(tmp_path):
    """A run's folder (or its checkpoints/) given for ckpt=…: it was 'checkpoint not found'."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("best-epoch0003.ckpt", "last.ckpt"):
        torch.save({"global_step": 1}, run / "checkpoints" / name)
    listed = f"{run / 'checkpoints' / 'last.ckpt'}, {run / 'checkpoints' / 'best-epoch0003.ckpt'}"
    for given in (run, run / "checkpoints"):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(given)
        assert str(err.value) == (f"{given} is a folder, not a checkpoint: give one of its "
                                  f"checkpoints: {listed}")
    with pytest.raises(CheckpointError, match=r"is a folder, not a checkpoint, and holds none"):
        load_checkpoint(tmp_path)
