"""The explorer's web app (Flask): a page, and endpoints that decode latents to PNGs.

  GET /                 the page: sliders for latent coordinates (and the class), and for a
                        model with a 2-D latent the decoded manifold beside the embeddings
  GET /api/info         what the model offers (latent size, sliders, classes, map)
  GET /api/generate     ?z=v1,v2,…&label=k → PNG; the sliders set the first latent coordinates,
                        the rest stay at a fixed random draw
  GET /api/manifold.png ?n=15&span=3 → decoded grid over [−span, span]² (2-D latents)
  GET /api/embeddings   posterior means of held-out images with their labels (2-D latents)
  GET /api/decode       ?z0=…&z1=…(&label=k) → PNG of one 2-D latent point
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import torch
from flask import Flask, Response, abort, jsonify, request
from torchvision.utils import make_grid
from PIL import Image

PAGE = Path(__file__).with_name("page.html")
MAP_CELLS = 40  # the manifold map's most cells a side (1,600 decodes a request)


def _png(images_unit: torch.Tensor, nrow: int = 1, scale: int = 1) -> Response:
    grid = make_grid(images_unit.detach().float().cpu(), nrow=nrow, padding=0 if nrow == 1 else 2,
                     pad_value=1.0)
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Response(buf.getvalue(), mimetype="image/png")


def _floats(name: str) -> list[float]:
    raw = request.args.get(name, "")
    try:
        values = [float(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        abort(400, description=f"{name} must be comma-separated numbers, got {raw!r}")
    if not all(math.isfinite(v) for v in values):  # nan or inf: a NaN image, no error
        abort(400, description=f"{name} must be finite numbers, got {raw!r}")
    return values


def _number(name: str, default: float, cast, low: float, high: float):
    """A query argument as `cast` (int or float) within [low, high], else a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        abort(400, description=f"{name} must be {kind}, got {raw!r}")
    if not low <= value <= high:  # a NaN fails this too
        abort(400, description=f"{name} must lie in [{low}, {high}], got {raw!r}")
    return value


def create_app(model, embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
               classes: list[str] | None = None, num_sliders: int = 8, seed: int = 0,
               scale: int = 4) -> Flask:
    model.eval()
    app = Flask(__name__)
    latent = model.latent_dim
    sliders = min(num_sliders, latent)
    base = torch.randn(1, latent, generator=torch.Generator().manual_seed(seed))
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    class_names = classes[:num_classes] if classes and num_classes else \
        [str(k) for k in range(num_classes)]
    has_map = latent == 2 and hasattr(model, "encode")

    def label_arg() -> torch.Tensor | None:
        if not num_classes:
            return None
        try:
            k = int(request.args.get("label", 0))
        except ValueError:
            abort(400, description="label must be an integer")
        if not 0 <= k < num_classes:
            abort(400, description=f"label must lie in 0..{num_classes - 1}, got {k}")
        return torch.full((1,), k, dtype=torch.long, device=model.device)

    @torch.no_grad()
    def decode(z: torch.Tensor, labels=None) -> torch.Tensor:
        return model.to_unit(model.generate(z.to(model.device), labels))

    @app.get("/")
    def page():
        return Response(PAGE.read_text(), mimetype="text/html")

    @app.get("/api/info")
    def info():
        return jsonify(latent_dim=latent, num_sliders=sliders, classes=class_names,
                       has_map=has_map, base=base[0, :sliders].tolist())

    @app.get("/api/generate")
    def generate():
        values = _floats("z")
        if len(values) > sliders:
            abort(400, description=f"at most {sliders} slider values, got {len(values)}")
        z = base.clone()
        z[0, :len(values)] = torch.tensor(values)
        return _png(decode(z, label_arg()), scale=scale)

    @app.get("/api/manifold.png")
    def manifold():
        if not has_map:
            abort(404, description="the manifold map needs a model with a 2-D latent")
        n = _number("n", 15, int, 1, MAP_CELLS)
        span = _number("span", 3.0, float, 1e-3, 1e3)
        ticks = (torch.arange(n) + 0.5) / n * 2 * span - span  # cell centres, as the page maps
        ys, xs = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")  # top row: largest z1
        z = torch.stack([xs.flatten(), ys.flatten()], 1)
        labels = label_arg()
        labels = labels.expand(len(z)) if labels is not None else None
        return _png(decode(z, labels), nrow=n)

    @app.get("/api/embeddings")
    def points():
        if not has_map or embeddings is None:
            abort(404, description="no embeddings: a 2-D latent and its data are needed")
        mu, labels = embeddings
        return jsonify(points=[[round(float(a), 4), round(float(b), 4), int(c)]
                               for (a, b), c in zip(mu.tolist(), labels.tolist())],
                       classes=classes or [])

    @app.get("/api/decode")
    def decode_point():
        if not has_map:
            abort(404, description="decoding a map point needs a model with a 2-D latent")
        z0, z1 = _floats("z0"), _floats("z1")
        if len(z0) != 1 or len(z1) != 1:
            abort(400, description="z0 and z1 must be one number each")
        return _png(decode(torch.tensor([[z0[0], z1[0]]]), label_arg()), scale=scale)

    return app


@torch.no_grad()
def embed(model, datamodule, max_points: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means of (up to max_points) held-out images, and their labels."""
    from pegasus_lab.data.transforms import from_uint8
    pool = datamodule.val_idx if len(datamodule.val_idx) else datamodule.train_idx
    images, labels = datamodule.uint8_images(pool[:max_points])
    x = from_uint8(images, datamodule.value_range).to(model.device)
    cond = (labels.to(model.device),) if getattr(model, "num_classes", 0) else ()
    mu = torch.cat([model.encode(x[i:i + 500], *[c[i:i + 500] for c in cond])[0].cpu()
                    for i in range(0, len(x), 500)])
    return mu, labels
