"""A logged epoch metric (e.g. the discriminator loss) also drawn as a PNG line plot, so the
curve is a file next to the run as well as a TensorBoard chart. Drawn with Pillow alone."""
from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback
from PIL import Image, ImageDraw


def draw_curve(values: list[float], path: Path, title: str, size=(640, 360)) -> Path:
    w, h = size
    left, right, top, bottom = 70, 20, 30, 40
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.text((left, 8), title, fill="black")
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = len(values)

    def xy(i, v):
        x = left + (w - left - right) * (i / max(n - 1, 1))
        y = h - bottom - (h - top - bottom) * ((v - lo) / span)
        return x, y

    if n > 1:
        d.line([xy(i, v) for i, v in enumerate(values)], fill=(30, 90, 200), width=2)
    else:
        x, y = xy(0, values[0])
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(30, 90, 200))
    d.text((4, top - 6), f"{hi:.4g}", fill="black")
    d.text((4, h - bottom - 6), f"{lo:.4g}", fill="black")
    d.text((left, h - bottom + 8), "epoch 1", fill="black")
    d.text((w - right - 60, h - bottom + 8), f"epoch {n}", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


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
