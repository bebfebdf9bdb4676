"""Writing image grids: to PNG files (atomically) and to TensorBoard."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from pegasus_lab.atomic import replacing


def grid(images_unit: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    return make_grid(images_unit.detach().float().cpu(), nrow=nrow, padding=padding,
                     pad_value=1.0)


def save_png(images_unit: torch.Tensor, path: str | os.PathLike, nrow: int) -> Path:
    """Save [0, 1] images as one grid PNG; written beside the target then renamed, so an
    interrupted run never leaves a broken file in place of a good one."""
    path = Path(path)
    with replacing(path, suffix=".png") as tmp:
        save_image(images_unit.detach().float().cpu(), tmp, nrow=nrow, padding=2, pad_value=1.0)
    return path


def tensorboard_writers(trainer) -> list:
    """The SummaryWriters of the trainer's TensorBoard loggers (none when logging is off)."""
    from lightning.pytorch.loggers import TensorBoardLogger
    return [lg.experiment for lg in getattr(trainer, "loggers", [])
            if isinstance(lg, TensorBoardLogger)]
