"""Collect a study's runs (each job's summary.json, overrides and latest samples) into one
comparison table — Markdown and CSV — and side-by-side sample grids per data set. A study run
with several seeds also gets each pair's mean ± standard deviation over its seeds."""
from __future__ import annotations

import statistics
from pathlib import Path

from PIL import Image, ImageDraw

from pegasus_lab.atomic import save_pil, write_csv, write_text
from pegasus_lab.seed_groups import markdown_rows, seed_groups
from pegasus_lab.sweep import job_status, jobs, parse_override

MANIFOLD = ["precision", "recall", "density", "coverage"]
COLUMNS = ["dataset", "model", "fid", "fid_stability", *MANIFOLD, "wall_seconds", "epochs",
           "steps", "status"]
AVERAGED = ["fid", "fid_stability", *MANIFOLD, "wall_seconds"]


def _choice(overrides: list[str], key: str, missing: str | None = "?") -> str | None:
    return dict(parse_override(o) for o in overrides).get(key, missing)


def collect(sweep_dir: Path, stability_epochs: int = 5) -> list[dict]:
    """One row per job folder of a multirun."""
    rows = []
    for job, overrides, summary in jobs(sweep_dir):
        row = {"dataset": _choice(overrides, "paper4_data"), "model": _choice(overrides, "model"),
               "seed": _choice(overrides, "seed", None), "job": str(job), "fid": None,
               "fid_stability": None, "wall_seconds": None, "epochs": None, "steps": None,
               "status": job_status(job, summary),
               **dict.fromkeys(MANIFOLD)}
        if summary is not None:
            fids = [f for _, f in summary.get("fid_history", [])]
            last = fids[-stability_epochs:]
            row.update(wall_seconds=summary.get("wall_seconds"), epochs=summary.get("epochs"),
                       steps=summary.get("global_step"),
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
    seeded = any(r.get("seed") is not None for r in rows)
    columns = ["dataset", "model", "seed", *COLUMNS[2:]] if seeded else COLUMNS
    lines = ["# Paper-4 study: GANs vs VAEs", "",
             "FID: of the last evaluation; stability: standard deviation of FID over the last "
             "epochs (lower is steadier); precision, recall, density, coverage: the k-NN "
             "manifold metrics of the last evaluation's samples (precision: how many look "
             "real, recall and coverage: how much of the real variety they reach); n/a where "
             "not measured.", ""]
    if seeded:
        lines += _across_seeds(rows)
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in columns) + " |" for r in rows]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    write_text(md, "\n".join(lines) + "\n")
    write_csv(csv_path, rows, columns + ["job"])
    return md, csv_path


def _across_seeds(rows: list[dict]) -> list[str]:
    """The table's first part for a study run with several seeds: each pair's mean ± sample
    standard deviation over its finished seeds; the runs one by one follow it."""
    columns, groups = seed_groups(["job", "dataset", "model", "seed", "status", *AVERAGED],
                                  rows)
    return ["## Across seeds (mean ± standard deviation)", "",
            *markdown_rows(columns, groups, _fmt_mean), "", "## Each run", ""]


def _fmt_mean(value) -> str:
    return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def side_by_side(rows: list[dict], out_dir: Path, height: int = 256) -> list[Path]:
    """Per data set, every model's latest sample grid next to each other, captioned (with
    several seeds, the grid of each model's first run that has one)."""
    written = []
    for dataset in sorted({r["dataset"] for r in rows}):
        panels, shown = [], set()
        for r in rows:
            img_path = Path(r["job"]) / "images" / "samples_latest.png"
            if r["dataset"] == dataset and img_path.exists() and r["model"] not in shown:
                shown.add(r["model"])
                img = Image.open(img_path).convert("RGB")
                img = img.resize((max(1, img.width * height // img.height), height))
                caption = r["model"] if r.get("seed") is None else f"{r['model']} seed {r['seed']}"
                panels.append((caption, img))
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
