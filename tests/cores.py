"""Each pytest-xdist worker computes on its share of the machine's cores.

torch sizes its thread pool to every core it can see, so two workers on two cores would run
four busy threads, and the runs they start (DDP ranks, CLI processes) more again: on this
project's 2-core machine that made `make test` take 10 minutes instead of 6. A worker therefore
sets OMP_NUM_THREADS to its share before torch is imported (the processes it starts inherit
it) and torch's pool to the same. A value the user set is left alone, and so is a run without
workers.
"""
from __future__ import annotations

import os


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_worker(cores: int, workers: int) -> int:
    return max(1, cores // max(1, workers))


def share_between_workers(environ=os.environ) -> int | None:
    """Set OMP_NUM_THREADS for this xdist worker; the number set, or None where nothing was."""
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers < 2 or "OMP_NUM_THREADS" in environ:
        return None
    threads = threads_per_worker(usable_cores(), workers)
    environ["OMP_NUM_THREADS"] = str(threads)
    return threads
