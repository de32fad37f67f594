"""Parse received objects in worker processes, in parallel with receiving the next ones.

Parsing and validating a header and building its catalog record (PS3.18
JSON of every element) is most of the CPU an ingested object costs, and in
one Python process it holds the GIL: a server receiving from several
senders, or one sender streaming a many-part STOW-RS request, would use one
core. :func:`parse_spooled` is a pure function of a spooled file, so it runs
in a process pool shared by every archive of the process; the receiving
thread only streams bytes to disk, hashes them and waits for the result.

``workers=0`` parses in the calling thread (no pool), which is also the
fallback when the pool cannot be used.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from radhub.catalog import InstanceRecord
from radhub.dicom import InvalidDicomError, read_header
from radhub.ingest._checks import run_checks
from radhub.ingest._procpool import ProcessPool

logger = logging.getLogger(__name__)

__all__ = ["Parsed", "ParserPool", "default_workers", "parse_spooled", "warm"]

T = TypeVar("T")


@dataclass(frozen=True)
class Parsed:
    """What parsing one spooled object gave: a record to index, or a rejection."""

    record: InstanceRecord | None
    base: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    reason: str | None = None


def parse_spooled(
    path: str,
    *,
    size: int,
    sha256: str,
    source: str,
    calling_ae: str,
    expect_study_uid: str | None,
) -> Parsed:
    """Parse, validate and check the object spooled at ``path``; build its catalog record.

    Never raises for bad input (the result carries the rejection code and
    reason). The record's metadata is returned as JSON text, ready for the
    catalog, so that little crosses the process boundary.
    """
    from radhub.ingest._pipeline import build_record

    try:
        header = read_header(path)
    except InvalidDicomError as exc:
        return Parsed(None, code=exc.code, reason=str(exc))
    checks = tuple(sorted(set(run_checks(header.metadata or header.dataset)) | set(header.warnings)))
    base = {
        "sop_instance_uid": header.sop_instance_uid,
        "sop_class_uid": header.sop_class_uid,
        "study_instance_uid": header.study_instance_uid,
        "series_instance_uid": header.series_instance_uid,
        "transfer_syntax_uid": header.transfer_syntax_uid,
        "sha256": sha256,
        "size": size,
        "checks": checks,
    }
    if expect_study_uid is not None and header.study_instance_uid != expect_study_uid:
        reason = (
            f"the instance belongs to study {header.study_instance_uid}, not to the study "
            f"{expect_study_uid} in the request URL; nothing was stored"
        )
        return Parsed(None, base, code="study_mismatch", reason=reason)
    record = build_record(header, sha256=sha256, size=size, checks=checks, source=source, calling_ae=calling_ae)
    if not isinstance(record.metadata, str):
        # (a tree built here: the circular-reference check would only cost time)
        record = replace(record, metadata=json.dumps(record.metadata, separators=(",", ":"), check_circular=False))
    return Parsed(record, base)


def warm() -> int:
    """Import and exercise the parsing code once (a worker's first task); returns the pid.

    A spawned worker imports nothing of radhub until its first task, and the
    first parse also loads pydicom's lazily imported value converters: a
    second or two of CPU that would otherwise land on the first objects
    received.
    """
    import io
    import tempfile

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "Warm^Up", "0", "20000101", "OT"
    ds.InstanceNumber, ds.SliceThickness = 1, 1.5
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with tempfile.NamedTemporaryFile(suffix=".dcm") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        parse_spooled(fh.name, size=len(buf.getvalue()), sha256="0" * 64, source="", calling_ae="", expect_study_uid=None)
    return os.getpid()


def _init_worker(parent: int) -> None:
    """Worker initializer: exit when the server process is gone; warm the parser.

    A server killed outright (SIGKILL, or a signal that skips clean-up)
    cannot stop its workers; without the watch they would wait forever on
    the task pipe.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    warm()


def default_workers() -> int:
    """Parser processes when none are configured: one per core, none on a single core."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return n if n > 1 else 0


class ParserPool:
    """A lazily started process pool running :func:`parse_spooled`.

    One pool per process and worker count (:meth:`shared`); processes are
    started with ``spawn`` (the server process has threads, which ``fork``
    would copy in an unknown state) on first use and stopped at exit. The
    pool is :class:`radhub.ingest._procpool.ProcessPool`, which costs the
    receiving process fewer thread hand-offs per object than
    ``ProcessPoolExecutor``. :meth:`call` runs other CPU-bound work in the
    same processes (WADO-RS rendering).
    """

    _shared: ClassVar[dict[int, ParserPool]] = {}
    _shared_lock = threading.Lock()

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None

    @classmethod
    def shared(cls, workers: int) -> ParserPool:
        """The process-wide pool with ``workers`` processes."""
        with cls._shared_lock:
            pool = cls._shared.get(workers)
            if pool is None:
                pool = cls._shared[workers] = cls(workers)
            return pool

    def _executor(self) -> ProcessPool:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPool(
                    self.workers, initializer=_init_worker, initargs=(os.getpid(),), name="radhub-parser"
                )
            return self._pool

    def warm_up(self, timeout: float = 60.0) -> None:
        """Start the worker processes now and wait until each has warmed up (servers call this at start-up)."""
        if self.workers:
            self._executor().wait_ready(timeout)

    def submit(self, **kwargs: Any) -> Future[Parsed]:
        """Parse a spooled object (see :func:`parse_spooled`); in this thread if there are no workers."""
        if self.workers:
            try:
                return self._executor().submit(parse_spooled, **kwargs)
            except (BrokenProcessPool, RuntimeError) as exc:  # a worker died, or shutting down
                logger.warning("parser pool unusable (%s); parsing in-process", type(exc).__name__)
                self._reset()
        done: Future[Parsed] = Future()
        try:
            done.set_result(parse_spooled(**kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            done.set_exception(exc)
        return done

    def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """``fn(**kwargs)`` in a worker process: other CPU-bound work that should not hold this process's GIL.

        Runs in this thread when there are no workers, or when the pool
        breaks. ``fn``, its arguments, its result and its exceptions must
        pickle.
        """
        if self.workers:
            try:
                return self._executor().submit(fn, **kwargs).result()
            except BrokenProcessPool:
                logger.warning("a worker process died; running %s in-process", getattr(fn, "__name__", fn))
                self._reset()
        return fn(**kwargs)

    def result(self, future: Future[Parsed], **kwargs: Any) -> Parsed:
        """The parse result; parsed again in-process if the worker died meanwhile."""
        try:
            return future.result()
        except BrokenProcessPool:
            logger.warning("a parser process died; parsing in-process")
            self._reset()
            return parse_spooled(**kwargs)

    def _reset(self) -> None:
        """Drop the pool if it is broken (a later submission starts a new one)."""
        with self._lock:
            if self._pool is not None and not self._pool.usable:
                self._pool.shutdown(wait_for=False)
                self._pool = None

    def shutdown(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait_for=True)
                self._pool = None


@atexit.register
def _shutdown_all() -> None:
    for pool in list(ParserPool._shared.values()):
        pool.shutdown()
