"""Small plots drawn with Pillow alone (no plotting library needed): a line over epochs, and
overlaid histograms."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw

from pegasus_lab.atomic import save_pil

COLOURS = [(30, 90, 200), (220, 90, 30), (40, 160, 70), (150, 60, 170)]
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 40


def _canvas(size, title):
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.text((LEFT, 8), title, fill="black")
    d.rectangle([LEFT, TOP, size[0] - RIGHT, size[1] - BOTTOM], outline="black")
    return img, d


def draw_curve(values: list[float], path: Path, title: str, size=(640, 360)) -> Path:
    w, h = size
    img, d = _canvas(size, title)
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    n = len(values)

    def xy(i, v):
        return (LEFT + (w - LEFT - RIGHT) * (i / max(n - 1, 1)),
                h - BOTTOM - (h - TOP - BOTTOM) * ((v - lo) / span))

    if n > 1:
        d.line([xy(i, v) for i, v in enumerate(values)], fill=COLOURS[0], width=2)
    else:
        x, y = xy(0, values[0])
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=COLOURS[0])
    d.text((4, TOP - 6), f"{hi:.4g}", fill="black")
    d.text((4, h - BOTTOM - 6), f"{lo:.4g}", fill="black")
    d.text((LEFT, h - BOTTOM + 8), "epoch 1", fill="black")
    d.text((w - RIGHT - 60, h - BOTTOM + 8), f"epoch {n}", fill="black")
    return save_pil(img, path)


def draw_histograms(series: dict[str, torch.Tensor], path: Path, title: str, bins: int = 40,
                    size=(640, 360)) -> Path:
    """Overlaid outline histograms (as densities) of several value sets on shared bins."""
    w, h = size
    img, d = _canvas(size, title)
    values = torch.cat([v.flatten().float() for v in series.values()])
    lo, hi = float(values.min()), float(values.max())
    hi = hi if hi > lo else lo + 1.0
    densities = {name: torch.histc(v.float(), bins, lo, hi) / max(len(v), 1)
                 for name, v in series.items()}
    top = max(float(c.max()) for c in densities.values()) or 1.0
    bin_w = (w - LEFT - RIGHT) / bins
    for k, (name, dens) in enumerate(densities.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = []
        for i, value in enumerate(dens.tolist()):
            y = h - BOTTOM - (h - TOP - BOTTOM) * value / top
            points += [(LEFT + i * bin_w, y), (LEFT + (i + 1) * bin_w, y)]
        d.line(points, fill=colour, width=2)
    # the legend, over the curves on white; each key a stroke of the series' colour (Pillow's
    # default font has no dash)
    labels = [f"{name} (n={len(series[name])})" for name in series]
    x = w - RIGHT - 34 - max(d.textlength(label) for label in labels)
    d.rectangle([x - 6, TOP + 4, w - RIGHT - 4, TOP + 10 + 14 * len(labels)], fill="white",
                outline=(160, 160, 160))
    for k, label in enumerate(labels):
        colour, y = COLOURS[k % len(COLOURS)], TOP + 8 + 14 * k
        d.line([(x, y + 6), (x + 14, y + 6)], fill=colour, width=2)
        d.text((x + 20, y), label, fill=colour)
    d.text((LEFT, h - BOTTOM + 8), f"{lo:.4g}", fill="black")
    d.text((w - RIGHT - 60, h - BOTTOM + 8), f"{hi:.4g}", fill="black")
    return save_pil(img, path)
