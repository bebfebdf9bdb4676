"""A multirun's jobs in one table: `<sweep dir>/sweep.md` and `sweep.csv`, written after each
job and when the multirun ends (a Hydra callback, `hydra.callbacks.sweep_table` in
conf/train.yaml).

A row per job folder: the overrides that differ between the jobs (and the code, when the jobs
ran different commits or changes), its status, steps, epochs and wall time, and its final
metrics (validation, `metrics/…` such as the FID curve's last point, and each training loss's
epoch mean). With `optimized_metric` set the jobs are also ranked by
it, best first, in the sweeper's direction. A multirun over `seed` gets a second table, each
setting's mean ± standard deviation over its seeds (pegasus_lab/seed_groups.py).

pegasus-evaluate's results for a job's checkpoints (`<job>/metrics/<checkpoint>.json`) join
its row as `eval/fid`, `eval/kid_mean`, … (`eval/best-fid/fid` for best-fid.ckpt's), and
evaluating a job's checkpoint rewrites the table (`rewrite_for_run`)."""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pegasus_lab.atomic import write_csv, write_text
from pegasus_lab.errors import DataError
from pegasus_lab.provenance import code_label
from pegasus_lab.seed_groups import markdown_rows, seed_groups

log = logging.getLogger(__name__)
NOT_RUN = "failed or stopped (no summary.json: see the job's log)"
UNREADABLE = "its summary.json cannot be read (damaged?)"
# an ERROR record in a job's log as Hydra's job logging writes it: "[time][name][ERROR] - …"
_LOGGED_ERROR = re.compile(r"\]\[ERROR\] - (?:error: )?(.*)$")


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (a sweep or a search)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def jobs(sweep_dir: str | Path) -> Iterator[tuple[Path, list[str], dict | None]]:
    """(folder, overrides, summary.json's content or None) of each job of a multirun: every
    folder under it with a `.hydra/overrides.yaml` (job numbers in order, then any other
    `hydra.sweep.subdir` names in name order), but those of another multirun inside it (a
    folder below with its own multirun.yaml, e.g. earlier studies under a folder named as
    the sweep's)."""
    sweep_dir = Path(sweep_dir)
    others = {found.parent for found in sweep_dir.glob("*/**/multirun.yaml")}
    folders = [found.parent.parent for found in sweep_dir.glob("**/.hydra/overrides.yaml")
               if found.parent.parent != sweep_dir
               and not others.intersection(found.parent.parent.parents)]
    for job in sorted(folders, key=lambda p: (0, int(p.name), "") if p.name.isdigit()
                      else (1, 0, str(p.relative_to(sweep_dir)))):
        yield job, _overrides(job), _summary(job)


def _overrides(job: Path) -> list[str]:
    """The job's overrides, as Hydra wrote them; one that is not a list of them is an error
    naming the file (a damaged file: the job's settings are unknown)."""
    path = job / ".hydra" / "overrides.yaml"
    try:
        overrides = yaml.safe_load(path.read_text()) or []
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise DataError(f"{path} cannot be read: {str(err).splitlines()[0]}") from err
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise DataError(f"{path} is not a list of overrides (a damaged file?)")
    return overrides


def _summary(job: Path) -> dict | None:
    """The job's summary.json, or None: none written (the job failed, stopped, or still runs),
    or one that cannot be read (damaged: a warning, and `job_status` says so)."""
    path = job / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        log.warning("%s cannot be read (%s): the job's row shows no results", path, err)
        return None
    if not isinstance(summary, dict):
        log.warning("%s is not a summary (a damaged file?): the job's row shows no results",
                    path)
        return None
    return summary


def parse_override(item: str) -> tuple[str, str]:
    name, _, value = item.lstrip("+~").partition("=")
    return name, value


# pegasus-evaluate's headline numbers, in the order they are shown
EVALUATED = ("fid", "kid_mean", "inception_score", "precision", "recall", "density", "coverage")


def evaluation_prefix(name: str) -> str:
    """What the numbers of `<job>/metrics/<name>.json` are called in the sweep table and in
    TensorBoard: `eval/` for last.ckpt's, `eval/<name>/` for another's (best-fid, a truncated
    draw: last_truncation0.5)."""
    return "eval/" if name == "last" else f"eval/{name}/"


def evaluation_metrics(job: Path) -> dict[str, float]:
    """`eval/<name>` (last.ckpt's) and `eval/<checkpoint>/<name>` (another's) from the job's
    pegasus-evaluate results; an unreadable file is passed over."""
    found = {}
    for path in sorted((job / "metrics").glob("*.json")):
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        prefix = evaluation_prefix(path.stem)
        found.update({prefix + name: results[name] for name in EVALUATED
                      if isinstance(results.get(name), (int, float))})
    return found


def code_of(job: Path) -> str | None:
    """The code the job last ran with (provenance.json's last part, `code_label`), or None."""
    try:
        return code_label(json.loads((job / "provenance.json").read_text())["parts"][-1])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def metric_names(summaries: list[dict]) -> list[str]:
    """The final metrics worth a column: every logged name but each step's value, the bare
    alias of an epoch mean, and progress-bar aliases (names without a '/'); validation first,
    then `metrics/…`, then training."""
    names = {name for s in summaries for name in s.get("metrics", {})}
    kept = {n for n in names if "/" in n and not n.endswith("_step")
            and f"{n}_epoch" not in names}
    order = {"val": 0, "metrics": 1, "train": 2}
    return sorted(kept, key=lambda n: (order.get(n.split("/", 1)[0], 3), n))


def job_status(job: Path, summary: dict | None) -> str:
    """"ok" for a job that wrote its summary.json (UNREADABLE where it is damaged); else
    "failed: …" with the last error its log holds (a bad input, a diverged trial), or NOT_RUN
    when it holds none (killed, or a bug, whose traceback went to the console)."""
    if summary is not None:
        return "ok"
    if (job / "summary.json").exists():
        return UNREADABLE
    errors = [found.group(1) for log_file in sorted(job.glob("*.log"))
              for line in log_file.read_text(errors="replace").splitlines()
              if (found := _LOGGED_ERROR.search(line))]
    return f"failed: {errors[-1]}" if errors else NOT_RUN


def sweep_rows(sweep_dir: str | Path, objective: str | None = None,
               direction: str = "minimize") -> tuple[list[str], list[dict], dict[str, str]]:
    """(columns, rows, the overrides every job shares)."""
    sweep_dir = Path(sweep_dir)
    found = list(jobs(sweep_dir))
    settings = [dict(parse_override(o) for o in overrides) for _, overrides, _ in found]
    keys = list(dict.fromkeys(k for s in settings for k in s))
    varying = [k for k in keys if len({s.get(k) for s in settings}) > 1]
    codes = [code_of(job) for job, _, _ in found]
    if len(set(codes) - {None}) > 1:  # jobs that ran different code: a column to say which
        varying.append("code")
        settings = [{**s, "code": c} for s, c in zip(settings, codes)]
    shared = {k: settings[0][k] for k in keys if k not in varying} if settings else {}
    summaries = [summary for _, _, summary in found if summary is not None]
    evaluated = [evaluation_metrics(job) for job, _, _ in found]
    order = {name: i for i, name in enumerate(EVALUATED)}
    metrics = sorted({name for e in evaluated for name in e},
                     key=lambda n: (n.count("/"), n.rsplit("/", 1)[0], order[n.rsplit("/", 1)[1]]))
    metrics += metric_names(summaries)
    if objective and objective not in metrics:
        metrics.append(objective)
    rows = []
    for (job, _, summary), setting, evaluation in zip(found, settings, evaluated):
        row = {"job": str(job.relative_to(sweep_dir)), **{k: setting.get(k) for k in varying}}
        row["status"] = job_status(job, summary)
        summary = summary or {}
        row.update(steps=summary.get("global_step"), epochs=summary.get("epochs"),
                   wall_seconds=summary.get("wall_seconds"))
        row.update({m: evaluation.get(m, summary.get("metrics", {}).get(m)) for m in metrics})
        rows.append(row)
    columns = ["job", *varying, "status", "steps", "epochs", "wall_seconds", *metrics]
    if objective:
        scored = [r for r in rows if isinstance(r[objective], (int, float))
                  and math.isfinite(r[objective])]
        scored.sort(key=lambda r: r[objective], reverse=direction == "maximize")
        for rank, r in enumerate(scored, 1):
            r["rank"] = rank
        columns.insert(0, "rank")
    return columns, rows, shared


def sweeper_direction(hydra_cfg) -> str | None:
    """'minimize' or 'maximize': the sweeper's `direction` (absent: minimize; a string or an
    enum); None for several objectives."""
    direction = hydra_cfg.sweeper.get("direction", "minimize")
    direction = str(getattr(direction, "name", direction)).rsplit(".", 1)[-1]
    return direction if direction in ("minimize", "maximize") else None


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")  # a table cell


def write_sweep_table(sweep_dir: str | Path, objective: str | None = None,
                      direction: str = "minimize") -> tuple[Path, Path] | None:
    """Write sweep.md and sweep.csv into the sweep folder; None when it holds no job."""
    columns, rows, shared = sweep_rows(sweep_dir, objective, direction)
    if not rows:
        return None
    if objective:
        rows = sorted(rows, key=lambda r: (r.get("rank") is None, r.get("rank") or 0))
    lines = [f"# Multirun {Path(sweep_dir).name}: {len(rows)} job{'s' * (len(rows) != 1)}", ""]
    if objective:
        lines += [f"Ranked by {objective} ({direction}); jobs without a finite value last.", ""]
    if shared:
        lines += ["Every job: " + " ".join(f"`{k}={v}`" for k, v in shared.items()), ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    across = seed_groups(columns, rows, objective, direction)
    if across:
        group_columns, groups = across
        lines += ["", "## Across seeds", "",
                  "Each setting's final values over its finished seeds: mean ± sample standard "
                  "deviation" + (f"; ranked by the mean {objective}." if objective else "."), "",
                  *markdown_rows(group_columns, groups, _fmt)]
        write_csv(Path(sweep_dir) / "sweep_seeds.csv", groups, group_columns)
    md = write_text(Path(sweep_dir) / "sweep.md", "\n".join(lines) + "\n")
    return md, write_csv(Path(sweep_dir) / "sweep.csv", rows, columns)


def rewrite_for_run(run_dir: str | Path) -> Path | None:
    """Rewrite the sweep table of the multirun that `run_dir` is a job of (the nearest folder
    above it holding Hydra's multirun.yaml), ranked as the multirun ranked it; None when the
    run is not a multirun's job."""
    run_dir = Path(run_dir).resolve()
    for sweep_dir in list(run_dir.parents)[:4]:
        if (sweep_dir / "multirun.yaml").is_file():
            break
    else:
        return None
    config = yaml.safe_load((sweep_dir / "multirun.yaml").read_text()) or {}
    sweeper = OmegaConf.create({"sweeper": (config.get("hydra") or {}).get("sweeper") or {}})
    objective = config.get("optimized_metric")
    written = write_sweep_table(sweep_dir, objective if isinstance(objective, str) else None,
                                sweeper_direction(sweeper) or "minimize")
    return written[0] if written else None


class SweepTable(Callback):
    """Hydra callback: the sweep table after each job of a multirun (so it follows a long sweep,
    and keeps the jobs done when a later one fails) and when the multirun ends."""

    def on_job_end(self, config: DictConfig, **kwargs) -> None:
        from hydra.types import RunMode
        if config.hydra.mode == RunMode.MULTIRUN:
            self._write(config)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        written = self._write(config)
        if written:
            log.info("sweep table: %s", written[0])

    @staticmethod
    def _write(config: DictConfig) -> tuple[Path, Path] | None:
        try:
            return write_sweep_table(config.hydra.sweep.dir, config.get("optimized_metric"),
                                     sweeper_direction(config.hydra) or "minimize")
        except Exception as err:  # a table is no reason to stop the sweep it describes
            log.warning("sweep table not written: %s: %s", type(err).__name__, err)
            return None
