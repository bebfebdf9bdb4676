"""Figures every few epochs: samples from a fixed latent batch, and reconstructions of fixed
held-out images (methods that reconstruct). Logged to TensorBoard and saved as PNGs."""
from __future__ import annotations

import math

import torch

from pegasus_lab.callbacks.periodic_figure import PeriodicFigure
from pegasus_lab.errors import require_int, require_seed


def num_classes(module) -> int:
    return int(getattr(module, "num_classes", 0) or 0)


class ImageGrids(PeriodicFigure):
    def __init__(self, every_n_epochs: int = 5, num_samples: int = 64,
                 num_reconstructions: int = 32, seed: int = 0,
                 save_dir: str | None = None) -> None:
        super().__init__(every_n_epochs, save_dir)
        # said when the run is built: 0 was a division by zero at the first figure, epochs in
        require_int("image_grids.num_samples", num_samples, 1)
        require_int("image_grids.num_reconstructions", num_reconstructions, 0)
        require_seed("image_grids.seed", seed)
        self.num_samples, self.num_reconstructions, self.seed = (
            num_samples, num_reconstructions, seed)
        self.fixed_z: torch.Tensor | None = None
        self.fixed_x: torch.Tensor | None = None
        self.fixed_y: torch.Tensor | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        g = torch.Generator().manual_seed(self.seed)
        self.fixed_z = torch.randn(self.num_samples, pl_module.latent_dim, generator=g)
        if num_classes(pl_module):
            self.fixed_y = torch.arange(self.num_samples) % num_classes(pl_module)
        dm = trainer.datamodule
        if hasattr(pl_module, "reconstruct") and dm is not None and self.num_reconstructions:
            self.fixed_x, self.fixed_x_labels = dm.example_batch(self.num_reconstructions,
                                                                 with_labels=True)

    def figures(self, trainer, pl_module) -> dict[str, tuple[torch.Tensor, int]]:
        labels = None if self.fixed_y is None else self.fixed_y.to(pl_module.device)
        samples = pl_module.generate(self.fixed_z.to(pl_module.device), labels)
        figures = {"samples": (pl_module.to_unit(samples), int(math.sqrt(self.num_samples)))}
        if self.fixed_x is not None:
            x = self.fixed_x.to(pl_module.device)
            y = self.fixed_x_labels.to(pl_module.device) if num_classes(pl_module) else None
            recon = pl_module.reconstruct(x, y) if y is not None else pl_module.reconstruct(x)
            pairs = torch.stack([x, recon], 1).flatten(0, 1)
            figures["reconstructions"] = (pl_module.to_unit(pairs), 8)
        return figures
