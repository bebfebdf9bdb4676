"""A multirun over seeds, summarised: the jobs that differ only in `seed` form one setting, and
each setting gets the mean and standard deviation of its final metrics over the seeds that
finished (`sweep.md`'s "Across seeds" table, `sweep_seeds.csv`). A setting is ranked by its
mean objective, so one lucky seed does not pick the winner."""
from __future__ import annotations

import math

SEED = "seed"
# sweep-table columns that are neither an override nor a value to average
_NOT_AVERAGED = {"rank", "job", "status", "steps", "epochs"}


def seed_groups(columns: list[str], rows: list[dict], objective: str | None = None,
                direction: str = "minimize") -> tuple[list[str], list[dict]] | None:
    """(columns, a row per setting) from the sweep table's columns and rows; None when the
    jobs do not vary the seed. Each value column `m` becomes `m mean` and `m std` (the sample
    standard deviation, None for a single seed) over the setting's finished jobs; `seeds`
    says how many of its jobs finished. A seed that diverged (NaN) makes its setting's mean
    NaN rather than being left out."""
    if SEED not in columns:
        return None
    settings = columns[columns.index("job") + 1:columns.index("status")]
    settings.remove(SEED)
    values = [c for c in columns if c not in _NOT_AVERAGED and c not in settings and c != SEED]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in settings), []).append(row)
    out = []
    for key, members in groups.items():
        done = [r for r in members if r["status"] == "ok"]
        group = {**dict(zip(settings, key)), "seeds": f"{len(done)}/{len(members)}"}
        for name in values:
            found = [r[name] for r in done if isinstance(r[name], (int, float))]
            group[f"{name} mean"], group[f"{name} std"] = _mean_std(found)
        out.append(group)
    averaged = [f"{name} {stat}" for name in values for stat in ("mean", "std")]
    group_columns = [*settings, "seeds", *averaged]
    if objective and objective in values:
        score = f"{objective} mean"
        scored = [g for g in out if g[score] is not None and math.isfinite(g[score])]
        scored.sort(key=lambda g: g[score], reverse=direction == "maximize")
        for rank, group in enumerate(scored, 1):
            group["rank"] = rank
        out.sort(key=lambda g: (g.get("rank") is None, g.get("rank") or 0))
        group_columns.insert(0, "rank")
    return group_columns, out


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n−1); NaN or ±inf carried into both."""
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def markdown_rows(columns: list[str], groups: list[dict], fmt) -> list[str]:
    """The settings as a markdown table: a column per value, each cell "mean ± std"."""
    shown = [c for c in columns if not c.endswith(" std")]
    return ["| " + " | ".join(c.removesuffix(" mean") for c in shown) + " |",
            "|" + "---|" * len(shown),
            *("| " + " | ".join(mean_std_cell(g, c, fmt) for c in shown) + " |"
              for g in groups)]


def mean_std_cell(row: dict, column: str, fmt) -> str:
    """A markdown cell: "mean ± std" (the spread to 3 digits) for an averaged value, the
    formatted value otherwise."""
    if column.endswith(" mean"):
        std = row.get(column[:-len(" mean")] + " std")
        mean = fmt(row.get(column))
        return mean if std is None or mean == "n/a" else f"{mean} ± {std:.3g}"
    return fmt(row.get(column))
