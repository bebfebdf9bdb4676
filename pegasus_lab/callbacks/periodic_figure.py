"""Base for callbacks that draw figures every N epochs and once more when training ends
(also when it ends on max_steps mid-epoch). Each figure goes to a PNG under the run's
`images/` and to TensorBoard, on the global-zero process only."""
from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from pegasus_lab.images import grid, save_png, tensorboard_writers


class PeriodicFigure(Callback):
    def __init__(self, every_n_epochs: int, save_dir: str | None = None) -> None:
        self.every_n_epochs, self.save_dir = max(int(every_n_epochs), 1), save_dir
        self._drawn_at_step = -1

    def figures(self, trainer, pl_module) -> dict[str, tuple[torch.Tensor, int]]:
        """name → ([0, 1] images, images per row)."""
        raise NotImplementedError

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.draw(trainer, pl_module, epochs_done=trainer.current_epoch + 1)

    def on_train_end(self, trainer, pl_module) -> None:
        # the loop has already counted past the last epoch here
        self.draw(trainer, pl_module, epochs_done=trainer.current_epoch)

    @torch.no_grad()
    def draw(self, trainer, pl_module, epochs_done: int) -> None:
        if (trainer.sanity_checking or not trainer.is_global_zero
                or self._drawn_at_step == trainer.global_step):
            return
        self._drawn_at_step = trainer.global_step
        was_training = pl_module.training
        pl_module.eval()
        try:
            figures = self.figures(trainer, pl_module)
        finally:
            pl_module.train(was_training)
        out_dir = Path(self.save_dir or trainer.default_root_dir) / "images"
        tag = f"epoch{epochs_done:04d}"
        for name, (images, nrow) in figures.items():
            save_png(images, out_dir / f"{name}_{tag}.png", nrow)
            save_png(images, out_dir / f"{name}_latest.png", nrow)
            for writer in tensorboard_writers(trainer):
                writer.add_image(name, grid(images, nrow), trainer.global_step)
