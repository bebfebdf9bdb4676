"""Reading checkpoints safely (tensors and plain data only), with errors a user can act on."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
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
