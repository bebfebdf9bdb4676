"""A run that starts from step 0 in a folder holding an earlier run's outputs.

A fixed run folder (`hydra.run.dir=…`, the recipes' `make reproduce-paper-N RESUME=false`, a
multirun run again into its sweep folder) can hold the outputs of an earlier run when a new one
starts there from step 0. Left in place, the two runs would mix: TensorBoard's curves and
metrics.csv going back to step 0 inside one log, one provenance record listing both runs as
parts of one, the earlier run's best checkpoints beside the new run's. So before the new run
writes anything, the earlier run's outputs move into `<run>/earlier/<time>/`: nothing is
deleted. Hydra's own folder (`.hydra/`, rewritten for the new run), the log files (which
Hydra appends to) and the folder's lock (`run_lock`) stay where they are.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

EARLIER = "earlier"  # <run>/earlier/<time>/: the outputs of the runs that started there before


def set_earlier_run_aside(run_dir: str | os.PathLike, hydra_subdir: str | None = ".hydra"
                          ) -> Path | None:
    """Move what an earlier run left in `run_dir` into `run_dir/earlier/<time>/`; the folder
    it went to, or None when there was nothing (a new folder)."""
    from pegasus_lab.run_lock import LOCK_FILE
    run_dir = Path(run_dir)
    keep = {EARLIER, hydra_subdir, LOCK_FILE}  # the lock this run holds stays where it is
    left = sorted(p for p in run_dir.iterdir() if p.name not in keep and p.suffix != ".log") \
        if run_dir.is_dir() else []
    if not left:
        return None
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    aside, n = run_dir / EARLIER / stamp, 1
    while aside.exists():
        aside, n = run_dir / EARLIER / f"{stamp}-{n}", n + 1
    aside.mkdir(parents=True)
    for path in left:
        os.replace(path, aside / path.name)
    log.warning("%s holds an earlier run and this one starts from step 0: the earlier run's "
                "outputs (%s) are kept in %s", run_dir, ", ".join(p.name for p in left), aside)
    return aside
