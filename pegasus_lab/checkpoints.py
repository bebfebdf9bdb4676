"""Checkpoints: read safely (tensors and plain data only) with errors a user can act on,
written atomically, checked against the model before a run resumes from them."""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pegasus_lab.errors import CheckpointError

CONFIG_KEY = "pegasus_config"
CLASSES_KEY = "pegasus_classes"


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a training checkpoint (got {type(ckpt).__name__})")
    return ckpt


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
    renamed over it, so a run killed mid-save leaves the previous checkpoint intact."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def check_fits(path: str | Path, model) -> dict:
    """A checkpoint to resume from: readable, and its weights shaped like the model's."""
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no 'state_dict'")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model: {len(missing)} weights missing "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}), "
            f"{len(wrong)} of another shape (e.g. {wrong[:2]}) — a different model or size?")
    return ckpt
