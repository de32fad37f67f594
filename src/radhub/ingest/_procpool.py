"""A small process pool for many short tasks: fewer thread hand-offs per task than ``ProcessPoolExecutor``.

``concurrent.futures.ProcessPoolExecutor`` passes every task through two
helper threads of the submitting process (a manager thread woken through a
pipe, then a queue feeder thread) and every result back through the
manager thread: four wake-ups of threads competing for the GIL per task.
For the ingest parser, whose tasks take one or two milliseconds, those
hand-offs were a fifth of the receiving process's CPU.

Here the submitting thread writes the pickled task straight into a pipe
shared by the workers (whichever is free reads the next task, as with a
queue), and one reader thread receives results from per-worker pipes and
completes the futures. A worker that dies breaks the pool the way
``ProcessPoolExecutor`` does: every pending future fails with
``BrokenProcessPool`` and later submissions raise it; the owner starts a
new pool.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["ProcessPool"]

_STOP = b""
_READY = -1  # the task id of a worker's first message: its initializer has run


def _serve(tasks: Connection, task_lock: Any, results: Connection, initializer: Any, initargs: tuple) -> None:
    """A worker: take the next task from the shared pipe, run it, send back ``(id, ok, value)``."""
    if initializer is not None:
        initializer(*initargs)
    results.send_bytes(pickle.dumps((_READY, True, pickle.dumps(os.getpid()))))
    while True:
        with task_lock:
            try:
                data = tasks.recv_bytes()
            except EOFError:
                return
        if data == _STOP:
            return
        task_id, call = pickle.loads(data)
        try:
            fn, kwargs = pickle.loads(call)  # (a function this process cannot import fails its task only)
            ok, value = True, fn(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's future
            ok, value = False, exc
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            ok, payload = False, pickle.dumps(RuntimeError(f"result not picklable: {exc!r}"))
        # the value is pickled on its own: one the caller cannot unpickle fails its task only
        results.send_bytes(pickle.dumps((task_id, ok, payload), protocol=pickle.HIGHEST_PROTOCOL))


class ProcessPool:
    """``workers`` processes started with ``spawn``; :meth:`submit` returns a ``Future``."""

    def __init__(
        self,
        workers: int,
        *,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple = (),
        name: str = "radhub-pool",
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._task_reader, self._task_writer = ctx.Pipe(duplex=False)
        self._task_lock = task_lock = ctx.Lock()  # kept: the workers open it by name
        self._send_lock = threading.Lock()
        self._futures: dict[int, Future[Any]] = {}
        self._futures_lock = threading.Lock()
        self._ids = itertools.count()
        self._broken: str | None = None
        self._closed = False
        self._processes: list[Any] = []
        self._results: list[Connection] = []
        self._ready = 0
        self._all_ready = threading.Event()
        for i in range(workers):
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_serve,
                args=(self._task_reader, task_lock, writer, initializer, initargs),
                name=f"{name}-{i}",
                daemon=True,
            )
            proc.start()
            writer.close()  # the worker holds the sending end: EOF when it dies
            self._processes.append(proc)
            self._results.append(reader)
        # the workers hold their own copies of the task pipe's reading end: once
        # they are all gone, a submission gets EPIPE instead of blocking forever
        self._task_reader.close()
        self._reader = threading.Thread(target=self._read_results, name=f"{name}-results", daemon=True)
        self._reader.start()

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [p.pid for p in self._processes]

    @property
    def usable(self) -> bool:
        """Neither broken nor shut down."""
        return self._broken is None and not self._closed

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until every worker has run its initializer; False on timeout or a broken pool."""
        return self._all_ready.wait(timeout) and self._broken is None

    def submit(self, fn: Callable[..., Any], /, **kwargs: Any) -> Future[Any]:
        """Run ``fn(**kwargs)`` in a worker (``fn`` and its arguments must pickle)."""
        future: Future[Any] = Future()
        task_id = next(self._ids)
        call = pickle.dumps((fn, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        data = pickle.dumps((task_id, call), protocol=pickle.HIGHEST_PROTOCOL)
        with self._futures_lock:
            if self._broken is not None:
                raise BrokenProcessPool(self._broken)
            if self._closed:
                raise RuntimeError("cannot submit to a pool that is shut down")
            self._futures[task_id] = future
        try:
            with self._send_lock:
                self._task_writer.send_bytes(data)
        except OSError as exc:
            with self._futures_lock:
                self._futures.pop(task_id, None)
            raise BrokenProcessPool(f"the pool's task pipe failed: {exc}") from exc
        return future

    def _read_results(self) -> None:
        live = {conn: proc for conn, proc in zip(self._results, self._processes)}
        while live:
            for conn in wait(list(live)):
                try:
                    task_id, ok, payload = pickle.loads(conn.recv_bytes())
                except (EOFError, OSError):  # the worker is gone
                    proc = live.pop(conn)
                    if not self._closed:
                        proc.join(timeout=1.0)
                        self._break(f"a worker process ended (exit code {proc.exitcode})")
                    continue
                if task_id == _READY:
                    self._ready += 1
                    if self._ready == len(self._processes):
                        self._all_ready.set()
                    continue
                with self._futures_lock:
                    future = self._futures.pop(task_id, None)
                if future is None:
                    continue
                try:
                    value = pickle.loads(payload)
                except Exception as exc:  # noqa: BLE001 - e.g. an exception class that does not unpickle
                    ok, value = False, RuntimeError(f"the worker's result cannot be unpickled: {exc!r}")
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _break(self, why: str) -> None:
        """Fail every pending task and refuse new ones; stop the other workers."""
        with self._futures_lock:
            if self._broken is None:
                self._broken = why
            pending, self._futures = self._futures, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokenProcessPool(why))
        for proc in self._processes:
            if proc.is_alive():
                proc.kill()
        self._all_ready.set()  # nobody waits for a broken pool

    def shutdown(self, wait_for: bool = True) -> None:
        """Stop the workers (tasks not started yet fail with ``BrokenProcessPool``)."""
        with self._futures_lock:
            if self._closed:
                return
            self._closed = True
        try:
            with self._send_lock:
                for _ in self._processes:
                    self._task_writer.send_bytes(_STOP)
        except OSError:
            pass
        for proc in self._processes:
            proc.join(timeout=5.0 if wait_for else 0.1)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1.0)
        self._task_writer.close()
        self._reader.join(timeout=2.0)
        with self._futures_lock:
            pending, self._futures = self._futures, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(BrokenProcessPool("the pool was shut down"))
        self._all_ready.set()
