"""The test workers share the cores instead of each using them all (tests/cores.py)."""
import os

import pytest
import torch

from tests import cores
from tests.conftest import ROOT, run_cli


@pytest.mark.parametrize("machine, workers, threads",
                         [(2, 2, 1), (16, 4, 4), (16, 3, 5), (2, 8, 1), (1, 1, 1)])
def test_threads_per_worker(machine, workers, threads):
    assert cores.threads_per_worker(machine, workers) == threads


def test_a_worker_sets_its_share_for_the_processes_it_starts(monkeypatch):
    monkeypatch.setattr(cores, "usable_cores", lambda: 8)
    environ = {"PYTEST_XDIST_WORKER_COUNT": "2"}
    assert cores.share_between_workers(environ) == 4
    assert environ["OMP_NUM_THREADS"] == "4"


@pytest.mark.parametrize("environ", [{}, {"PYTEST_XDIST_WORKER_COUNT": "1"},
                                     {"PYTEST_XDIST_WORKER_COUNT": "2", "OMP_NUM_THREADS": "3"}])
def test_no_workers_or_a_users_setting_are_left_alone(environ):
    before = dict(environ)
    assert cores.share_between_workers(environ) is None
    assert environ == before


def test_this_worker_computes_on_its_share():
    from tests.conftest import _WORKER_THREADS
    if _WORKER_THREADS is None:
        pytest.skip("not an xdist worker, or OMP_NUM_THREADS was set by the user")
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    assert _WORKER_THREADS == cores.threads_per_worker(cores.usable_cores(), workers)
    assert torch.get_num_threads() == _WORKER_THREADS
    assert os.environ["OMP_NUM_THREADS"] == str(_WORKER_THREADS)  # for the runs it starts


def test_the_commands_a_test_starts_compute_on_as_many_threads_as_the_test():
    result = run_cli("tests.warm_cli_probe", "threads", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert f"threads {torch.get_num_threads()}" in result.stdout.splitlines()
