"""One executor interface for compute-heavy batches: a local process pool or a Dask cluster.

Both return results in the order of the inputs, so the same batch gives the
same table whichever executor runs it. Progress goes to stderr (tqdm).
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from types import TracebackType
from typing import Any, Self, TypeVar

from tqdm import tqdm

from radhub.radiomics.errors import RadiomicsError

logger = logging.getLogger(__name__)

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor", "single_threaded"]

T = TypeVar("T")
R = TypeVar("R")


def single_threaded() -> None:
    """Limit BLAS/OpenMP and SimpleITK to one thread in this process.

    Each worker of a pool runs one task at a time on one core; letting the
    numerical libraries start their own threads as well oversubscribes the
    machine (and made small fits several times slower in our measurements).
    """
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


class Executor(ABC):
    """Runs a function over items and returns the results in input order."""

    #: Short name used in provenance and benchmarks.
    name: str = "executor"
    #: Number of parallel workers.
    workers: int = 1

    @abstractmethod
    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = True,
    ) -> list[R]:
        """``[fn(item) for item in items]``, possibly in parallel, in input order."""

    def close(self) -> None:
        """Release workers (a no-op for executors without any)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def _bar(total: int, desc: str, progress: bool) -> tqdm:  # type: ignore[type-arg]
        return tqdm(
            total=total, desc=desc or None, file=sys.stderr, disable=not progress, leave=False
        )


class LocalExecutor(Executor):
    """In-process execution (``workers=1``) or a local process pool.

    The pool uses the ``forkserver`` start method with radhub's radiomics
    modules preloaded, so workers start quickly without inheriting the
    parent's threads.

    Parameters
    ----------
    workers : int
        1 runs the items one after another in this process.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise RadiomicsError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["radhub.radiomics._extract", "radhub.radiomics._search"])
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, initializer=single_threaded
            )
        return self._pool

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = True,
    ) -> list[R]:
        """See :meth:`Executor.map`."""
        bar = self._bar(len(items), desc, progress)
        try:
            if self.workers == 1 or len(items) <= 1:
                out = []
                for item in items:
                    out.append(fn(item))
                    bar.update()
                return out
            pool = self._get_pool()
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            results: list[Any] = [None] * len(items)
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
            return results
        finally:
            bar.close()

    def close(self) -> None:
        """Shut the process pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor(Executor):
    """Execution on a Dask distributed cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``). Without it a local cluster
        of ``workers`` single-threaded worker processes is started on
        127.0.0.1 and stopped by :meth:`close`.
    workers : int
        Worker processes of the local cluster.
    timeout : float
        Seconds to wait for a remote scheduler.

    Notes
    -----
    Remote workers must be able to import radhub and read the image paths
    (shared storage) or reach the archive named in the manifest.
    """

    name = "dask"

    def __init__(self, address: str | None = None, *, workers: int = 2, timeout: float = 10.0) -> None:
        from distributed import Client, LocalCluster

        if workers < 1:
            raise RadiomicsError(f"workers must be at least 1, got {workers}")
        self._cluster = None
        try:
            if address:
                self._client = Client(address, timeout=f"{timeout}s")
            else:
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # HTTP endpoints on loopback, free port
                )
                self._client = Client(self._cluster)
        except OSError as exc:
            raise RadiomicsError(
                f"cannot connect to the Dask scheduler {address!r}: {exc}"
            ) from exc
        self._client.run(single_threaded)
        self.workers = len(self._client.scheduler_info().get("workers", {})) or workers
        self.address = address

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = True,
    ) -> list[R]:
        """See :meth:`Executor.map`."""
        from distributed import as_completed as dask_completed

        if not items:
            return []
        bar = self._bar(len(items), desc, progress)
        try:
            futures = self._client.map(fn, list(items), pure=False)
            for _ in dask_completed(futures):
                bar.update()
            return list(self._client.gather(futures))
        finally:
            bar.close()

    def close(self) -> None:
        """Close the client and, if it was started here, the local cluster."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(
    workers: int | None = None, scheduler: str | None = None, *, dask: bool = False
) -> Executor:
    """The executor chosen by configuration.

    ``scheduler`` selects a Dask cluster at that address; ``dask=True``
    starts a local Dask cluster of ``workers`` processes; otherwise a
    :class:`LocalExecutor` with ``workers`` processes (default 1: in-process).
    """
    if scheduler:
        return DaskExecutor(scheduler)
    if dask:
        return DaskExecutor(workers=workers or 2)
    return LocalExecutor(workers or 1)
