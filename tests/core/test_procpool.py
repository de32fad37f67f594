"""radhub.ingest._procpool.ProcessPool: results, errors, load sharing, dead workers, shutdown."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from radhub.ingest._procpool import ProcessPool
from tests.core import _pool_tasks as tasks


@pytest.fixture
def pool():
    p = ProcessPool(2)
    assert p.wait_ready(60)
    yield p
    p.shutdown()


def test_results_come_back_from_other_processes(pool):
    futures = [pool.submit(tasks.pid_after, seconds=0.2) for _ in range(4)]
    pids = {f.result(timeout=30) for f in futures}
    assert os.getpid() not in pids
    assert pids == set(pool.pids)  # both workers took tasks from the shared pipe


def test_an_exception_reaches_its_future_only(pool):
    bad = pool.submit(tasks.fail, message="no such thing")
    good = pool.submit(tasks.pid_after)
    with pytest.raises(ValueError, match="no such thing"):
        bad.result(timeout=30)
    assert good.result(timeout=30) in pool.pids
    odd = pool.submit(tasks.unpicklable)
    with pytest.raises(RuntimeError, match="not picklable"):
        odd.result(timeout=30)
    def only_here() -> None:  # a module attribute in this process only: the workers cannot find it
        return None

    only_here.__module__, only_here.__qualname__ = tasks.__name__, "only_here"
    tasks.only_here = only_here  # type: ignore[attr-defined]
    try:
        unknown = pool.submit(only_here)
        with pytest.raises(AttributeError, match="only_here"):
            unknown.result(timeout=30)
    finally:
        del tasks.only_here  # type: ignore[attr-defined]
    strange = pool.submit(tasks.raise_two_arg)
    with pytest.raises(RuntimeError, match="cannot be unpickled"):
        strange.result(timeout=30)
    assert pool.submit(tasks.pid_after).result(timeout=30) in pool.pids  # the result thread goes on
    assert pool.usable


def test_a_dying_worker_breaks_the_pool_and_fails_pending_tasks(pool):
    slow = pool.submit(tasks.pid_after, seconds=5)
    pool.submit(tasks.die)
    with pytest.raises(BrokenProcessPool):
        slow.result(timeout=30)
    assert not pool.usable
    with pytest.raises(BrokenProcessPool):
        pool.submit(tasks.pid_after)


def test_killed_workers_never_leave_a_submitter_blocked():
    pool = ProcessPool(1)
    try:
        assert pool.wait_ready(60)
        os.kill(pool.pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pool.usable and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pool.usable
        # many submissions (more than a pipe buffer holds) raise instead of blocking
        with pytest.raises(BrokenProcessPool):
            for _ in range(10_000):
                pool.submit(tasks.pid_after)
    finally:
        pool.shutdown()


def test_shutdown_stops_the_workers_and_refuses_work():
    pool = ProcessPool(2)
    assert pool.wait_ready(60)
    procs = list(pool._processes)
    pool.shutdown()
    assert all(not p.is_alive() for p in procs)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(tasks.pid_after)


def test_parser_pool_call_runs_elsewhere_or_here():
    """ParserPool.call: in a worker process when there are workers, in this thread without."""
    from radhub.ingest._parse import ParserPool

    pool = ParserPool(1)
    try:
        assert pool.call(tasks.pid_after) != os.getpid()
        with pytest.raises(ValueError, match="boom"):
            pool.call(tasks.fail, message="boom")
        os.kill(pool._executor().pids[0], signal.SIGKILL)
        time.sleep(0.5)
        assert pool.call(tasks.pid_after) in (os.getpid(), *pool._executor().pids)  # in-process, or a new pool
    finally:
        pool.shutdown()
    assert ParserPool(0).call(tasks.pid_after) == os.getpid()
