"""A logged epoch metric (e.g. the discriminator loss) also drawn as a PNG line plot, so the
curve is a file next to the run as well as a TensorBoard chart."""
from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback

from pegasus_lab.plots import draw_curve


class CurvePNG(Callback):
    def __init__(self, metric: str = "train/discriminator_epoch", every_n_epochs: int = 10,
                 save_dir: str | None = None) -> None:
        self.metric, self.every_n_epochs, self.save_dir = metric, every_n_epochs, save_dir
        self.values: list[float] = []

    def _path(self, trainer) -> Path:
        name = self.metric.replace("/", "_")
        return Path(self.save_dir or trainer.default_root_dir) / "images" / f"{name}.png"

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return
        self.values.append(float(value))
        if trainer.is_global_zero and len(self.values) % self.every_n_epochs == 0:
            draw_curve(self.values, self._path(trainer), self.metric)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.values:
            draw_curve(self.values, self._path(trainer), self.metric)

    def state_dict(self) -> dict:
        return {"values": self.values}

    def load_state_dict(self, state_dict: dict) -> None:
        self.values = list(state_dict.get("values", []))
