"""Collect a study's runs (each job's summary.json, overrides and latest samples) into one
comparison table — Markdown and CSV — and side-by-side sample grids per data set."""
from __future__ import annotations

import statistics
from pathlib import Path

from PIL import Image, ImageDraw

from pegasus_lab.atomic import save_pil, write_csv, write_text
from pegasus_lab.sweep import job_status, jobs, parse_override

MANIFOLD = ["precision", "recall", "density", "coverage"]
COLUMNS = ["dataset", "model", "fid", "fid_stability", *MANIFOLD, "wall_seconds", "epochs",
           "steps", "status"]


def _choice(overrides: list[str], key: str) -> str:
    return dict(parse_override(o) for o in overrides).get(key, "?")


def collect(sweep_dir: Path, stability_epochs: int = 5) -> list[dict]:
    """One row per job folder of a multirun."""
    rows = []
    for job, overrides, summary in jobs(sweep_dir):
        row = {"dataset": _choice(overrides, "paper4_data"), "model": _choice(overrides, "model"),
               "job": str(job), "fid": None, "fid_stability": None, "wall_seconds": None,
               "epochs": None, "steps": None, "status": job_status(job, summary),
               **dict.fromkeys(MANIFOLD)}
        if summary is not None:
            fids = [f for _, f in summary.get("fid_history", [])]
            last = fids[-stability_epochs:]
            row.update(wall_seconds=summary["wall_seconds"], epochs=summary["epochs"],
                       steps=summary["global_step"],
                       fid=round(fids[-1], 3) if fids else None,
                       fid_stability=round(statistics.pstdev(last), 3) if len(last) > 1 else None)
            manifold = summary.get("manifold_history") or [[None, {}]]
            row.update({name: _rounded(manifold[-1][1].get(name)) for name in MANIFOLD})
        rows.append(row)
    return rows


def _rounded(value):
    return None if value is None else round(value, 3)


def _fmt(value) -> str:
    return "n/a" if value is None else str(value).replace("|", "\\|")  # a table cell


def write_tables(rows: list[dict], out_dir: Path, notes: list[str]) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    md, csv_path = out_dir / "study.md", out_dir / "study.csv"
    lines = ["# Paper-4 study: GANs vs VAEs", "",
             "FID: of the last evaluation; stability: standard deviation of FID over the last "
             "epochs (lower is steadier); precision, recall, density, coverage: the k-NN "
             "manifold metrics of the last evaluation's samples (precision: how many look "
             "real, recall and coverage: how much of the real variety they reach); n/a where "
             "not measured.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    write_text(md, "\n".join(lines) + "\n")
    write_csv(csv_path, rows, COLUMNS + ["job"])
    return md, csv_path


def side_by_side(rows: list[dict], out_dir: Path, height: int = 256) -> list[Path]:
    """Per data set, every model's latest sample grid next to each other, captioned."""
    written = []
    for dataset in sorted({r["dataset"] for r in rows}):
        panels = []
        for r in rows:
            img_path = Path(r["job"]) / "images" / "samples_latest.png"
            if r["dataset"] == dataset and img_path.exists():
                img = Image.open(img_path).convert("RGB")
                img = img.resize((max(1, img.width * height // img.height), height))
                panels.append((r["model"], img))
        if not panels:
            continue
        canvas = Image.new("RGB", (sum(p.width for _, p in panels) + 10 * len(panels),
                                   height + 20), "white")
        x = 0
        draw = ImageDraw.Draw(canvas)
        for name, img in panels:
            canvas.paste(img, (x, 20))
            draw.text((x + 2, 4), name, fill="black")
            x += img.width + 10
        path = Path(out_dir) / f"samples_{dataset}.png"
        written.append(save_pil(canvas, path))
    return written
