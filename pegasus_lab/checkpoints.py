"""Checkpoints: read safely (tensors and plain data only) with errors a user can act on,
written atomically, checked against the model before a run resumes from them."""
from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pegasus_lab.atomic import DiskFull, replacing
from pegasus_lab.errors import TORCH_LOAD_ERRORS, CheckpointError, torch_load_failure

CONFIG_KEY = "pegasus_config"
CLASSES_KEY = "pegasus_classes"
# the scheduler's job that wrote the checkpoint (`resume.scheduler_job`), when one did
JOB_KEY = "pegasus_scheduler_job"
# the run's command-line overrides ("job") and its multirun's swept keys ("swept"), under Hydra
OVERRIDES_KEY = "pegasus_overrides"


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict:
    """The checkpoint at `path`, its tensors on the CPU; with `mmap`, tensors are read from
    the file only when used (for a look at its other entries)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(_a_folder(path))
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (*TORCH_LOAD_ERRORS, OSError) as err:  # OSError: e.g. a cut-off file, mapped
        raise CheckpointError(f"cannot read checkpoint {path}: {torch_load_failure(err)}") from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a training checkpoint (got {type(ckpt).__name__})")
    return ckpt


def _a_folder(path: Path) -> str:
    """What to say for a folder given as a checkpoint (a run's folder, or its checkpoints/):
    the checkpoints in it, last.ckpt first."""
    found = sorted(path.glob("*.ckpt")) or sorted(path.glob("checkpoints/*.ckpt"))
    found.sort(key=lambda p: p.name != "last.ckpt")
    if not found:
        return f"{path} is a folder, not a checkpoint, and holds none (*.ckpt, checkpoints/*.ckpt)"
    return f"{path} is a folder, not a checkpoint: give one of its checkpoints: " + \
        ", ".join(map(str, found[:4])) + (", …" if len(found) > 4 else "")


def stored_config(ckpt: dict, path: str | Path) -> dict:
    cfg = ckpt.get(CONFIG_KEY)
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path} carries no pegasus_lab config: was it written by "
                              "pegasus-train?")
    return cfg


def model_from_checkpoint(path: str, device: str | torch.device = "cpu"):
    """The trained module (eval mode, its data's class names as `class_names`) and the config
    it was trained with."""
    ckpt = load_checkpoint(path)
    stored = OmegaConf.create(stored_config(ckpt, path))
    if "init_from" in stored.model:
        stored.model.init_from = None  # the checkpoint's own weights replace them anyway
    model = instantiate(stored.model)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError) as err:
        raise CheckpointError(f"weights in {path} do not fit the model its config builds: "
                              f"{str(err).splitlines()[0]}") from err
    model.class_names = ckpt.get(CLASSES_KEY)
    return model.to(device).eval(), stored


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic: the file is written beside its target and
    renamed over it, so a run killed mid-save leaves the previous checkpoint intact.

    With `background=True` a save copies the state into host memory and returns; one writer
    thread then writes the copies, and removes replaced checkpoints, in the order they were
    asked for, while training goes on. A write that failed is reported (CheckpointError) at
    the next save, load or the end of the run; reading a checkpoint first waits for the writes
    before it; the run ends only when every write has ended."""

    def __init__(self, background: bool = False) -> None:
        super().__init__()
        self.background = bool(background)
        self._writer: ThreadPoolExecutor | None = None
        self._failure: CheckpointError | None = None

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if not self.background:
            self._write(checkpoint, path, storage_options)
            return
        self._raise_failure()
        # a copy taken now: training may change the tensors in place while the file is written
        snapshot = _host_snapshot(checkpoint)
        self._submit(f"writing {path}", self._write, snapshot, path, storage_options)

    def remove_checkpoint(self, path) -> None:
        if self.background:  # after the writes asked for before it (one of them may be `path`)
            self._submit(f"removing {path}", super().remove_checkpoint, path)
        else:
            super().remove_checkpoint(path)

    def load_checkpoint(self, *args, **kwargs):
        self.flush()
        return super().load_checkpoint(*args, **kwargs)

    def flush(self) -> None:
        """Wait until every write and removal asked for so far has ended; raise if one failed."""
        if self._writer is not None:
            self._writer.submit(lambda: None).result()
        self._raise_failure()

    def teardown(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self._raise_failure()

    def _write(self, checkpoint, path, storage_options=None) -> None:
        with replacing(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)

    def _submit(self, what: str, fn, *args) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")

        def run() -> None:
            if self._failure is not None:  # after a failed write, nothing more is touched
                return
            try:
                fn(*args)
            except Exception as err:
                said = err.reason if isinstance(err, DiskFull) else err  # without the path again
                self._failure = CheckpointError(f"checkpoint: {what} failed: {said}")
                self._failure.__cause__ = err

        self._writer.submit(run)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure


def _host_snapshot(checkpoint: dict) -> dict:
    """A deep copy of `checkpoint` with every tensor copied to host memory; containers keep
    their type and attributes (a state dict's `_metadata`), as the file would have them."""
    copies: dict[int, torch.Tensor] = {}

    def remember(tensor: torch.Tensor) -> torch.Tensor:
        copies[id(tensor)] = tensor.detach().to("cpu", copy=True)
        return tensor

    apply_to_collection(checkpoint, torch.Tensor, remember)
    return copy.deepcopy(checkpoint, memo=copies)  # each tensor replaced by its host copy


def misfit(own: dict, state: dict, unexpected_too: bool = True) -> str | None:
    """How the weights `state` fail to fit a model whose state dict is `own` (weights missing,
    of another shape, and with `unexpected_too` ones the model lacks), naming a few of each
    kind there is; None when they fit."""
    kinds = {
        "weights missing": [k for k in own if k not in state],
        "unexpected": [k for k in state if k not in own] if unexpected_too else [],
        "of another shape": [k for k in own
                             if k in state and tuple(state[k].shape) != tuple(own[k].shape)],
    }
    said = [f"{len(keys)} {kind} (e.g. {keys[:2]})" for kind, keys in kinds.items() if keys]
    return ", ".join(said) if said else None


def state_dict_of(path: str | Path, ckpt: dict) -> dict:
    """The network weights of the checkpoint `ckpt` read from `path`."""
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no 'state_dict'")
    return state


def check_fits(path: str | Path, model) -> dict:
    """A checkpoint to resume from: readable, and its weights shaped like the model's."""
    ckpt = load_checkpoint(path)
    wrong = misfit(model.state_dict(), state_dict_of(path, ckpt))
    if wrong:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {wrong} — a "
                              "different model or size?")
    return ckpt
