"""Paper-1's interpolation figure during training: every few epochs and at the end."""
from __future__ import annotations

from pegasus_lab.callbacks.periodic_figure import PeriodicFigure
from pegasus_lab.errors import from_settings
from pegasus_lab.latent.pair_grid import (PairGridSpec, pair_interpolation, require_image_encoder,
                                         select_images)


class InterpolationGrid(PeriodicFigure):
    def __init__(self, spec: dict | PairGridSpec, every_n_epochs: int = 10,
                 save_dir: str | None = None) -> None:
        super().__init__(every_n_epochs, save_dir)
        self.spec = spec if isinstance(spec, PairGridSpec) else \
            from_settings(PairGridSpec, "interpolation", spec)
        self.images = None

    def on_train_start(self, trainer, pl_module) -> None:
        require_image_encoder(pl_module, "the interpolation grid (callbacks.interpolation_grid)")
        self.images = select_images(trainer.datamodule, self.spec)

    def figures(self, trainer, pl_module):
        images, _ = pair_interpolation(pl_module, *self.images, self.spec.weights(),
                                       self.spec.method, self.spec.seed)
        return {"interpolation": (images, self.spec.steps)}
