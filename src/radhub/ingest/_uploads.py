"""Resumable uploads (tus 1.0): durable partial objects that finish through the one ingest path.

An upload is a directory ``<root>/<id>/`` holding ``upload.json`` (the
:class:`ResumableUpload` record: declared length, committed offset,
metadata, expiry, state, results) and ``data`` (the bytes received so far).
The offset in the record is the only offset ever confirmed to a client, and
it is written (atomically, fsynced) only after the data it covers has been
fsynced; bytes beyond it left by a crash or an aborted request are cut off
the next time the upload is written. Uploads therefore survive a restart.

When the last byte is committed the upload is *completed* under the same
lock: the whole-object checksum declared in the ``checksum`` metadata key is
verified, then the bytes are fed in chunks to
:meth:`radhub.ingest.Ingestor.ingest_stream` (or, for a zip, each member),
the results are kept in the record and the data file is deleted.

Errors
------
::

    IngestError
     +-- UploadError                    base of resumable-upload errors
          +-- UploadNotFoundError       no such upload (HTTP 404)
          +-- UploadExpiredError        the upload expired and was removed (410)
          +-- UploadLockedError         another request is writing it (423)
          +-- UploadOffsetError         Upload-Offset is not the upload's offset (409)
          +-- UploadTooLargeError       over the declared length or size limit (413)
          +-- UploadChecksumError       a chunk does not match Upload-Checksum (460)
          +-- UploadRequestError        malformed length, metadata or checksum (400)
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from radhub.catalog import DEFAULT_ORG_PK, TenantScope, current_scope, tenant_scope
from radhub.config import Settings
from radhub.ingest._pipeline import Ingestor, IngestResult, IngestStatus
from radhub.ingest._tus import (
    CHECKSUM_ALGORITHMS,
    ChunkChecksum,
    ObjectChecksum,
    decode_upload_metadata,
    encode_upload_metadata,
)
from radhub.ingest.errors import (
    UploadChecksumError,
    UploadError,
    UploadExpiredError,
    UploadLockedError,
    UploadNotFoundError,
    UploadOffsetError,
    UploadRequestError,
    UploadTooLargeError,
)

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "ChunkChecksum",
    "ChunkWriter",
    "ObjectChecksum",
    "ResumableUpload",
    "UploadChecksumError",
    "UploadError",
    "UploadExpiredError",
    "UploadLockedError",
    "UploadNotFoundError",
    "UploadOffsetError",
    "UploadRequestError",
    "UploadState",
    "UploadStore",
    "UploadTooLargeError",
    "decode_upload_metadata",
    "encode_upload_metadata",
]

_CHUNK = 1 << 20
_RECORD = "upload.json"
_DATA = "data"
_LOCK = ".lock"
_ID = re.compile(r"^[0-9a-f]{32}$")
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/x-zip"})
_SOURCE = "upload"


# --------------------------------------------------------------------------
# value objects
# --------------------------------------------------------------------------
class UploadState(str, Enum):
    """Where an upload is in its life.

    ``uploading`` (accepting bytes) -> ``verifying`` (whole-object checksum and
    ingest running) -> one of the ingest outcomes ``stored``, ``duplicate``,
    ``conflict``, ``rejected``. For a zip the final state summarises its
    members: ``stored`` if any member was stored, else ``duplicate`` if any
    was a duplicate, else ``conflict`` if any was a conflict, else
    ``rejected``; the per-member results are in :attr:`ResumableUpload.results`.
    """

    UPLOADING = "uploading"
    VERIFYING = "verifying"
    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"

    @property
    def finished(self) -> bool:
        """Whether the upload reached a final outcome."""
        return self not in (UploadState.UPLOADING, UploadState.VERIFYING)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class ResumableUpload:
    """The durable record of one upload.

    Attributes
    ----------
    id
        32 hex characters; the last segment of the upload URL.
    length
        Declared size in bytes, ``None`` while deferred (``Upload-Defer-Length``).
    offset
        Bytes durably received (the tus ``Upload-Offset``).
    metadata
        Decoded ``Upload-Metadata`` (``filename``, ``filetype``, ``checksum`` ...).
    state
        :class:`UploadState`.
    created, expires
        UTC times; an unfinished upload's expiry moves forward with each
        committed chunk, a finished upload's record is kept until ``expires``.
    code, reason
        Why the upload was rejected (upload-level, e.g. ``checksum_mismatch``,
        or the ingest pipeline's code for a single object).
    results
        One ingest result per object (``IngestResult.to_dict()`` plus ``path``).
    """

    id: str
    length: int | None
    offset: int
    metadata: dict[str, str]
    state: UploadState
    created: datetime
    expires: datetime
    code: str | None = None
    reason: str | None = None
    results: tuple[dict[str, Any], ...] = field(default=())
    owner_org: int = DEFAULT_ORG_PK
    """The organisation that created the upload: only it sees it, and its objects are filed under it."""

    @property
    def is_zip(self) -> bool:
        """Whether the upload is a zip of objects (``filetype`` or a ``.zip`` filename)."""
        filetype = self.metadata.get("filetype", "").split(";")[0].strip().lower()
        return filetype in _ZIP_TYPES or self.metadata.get("filename", "").lower().endswith(".zip")

    @property
    def complete(self) -> bool:
        """All declared bytes received."""
        return self.length is not None and self.offset >= self.length

    @property
    def object_checksum(self) -> ObjectChecksum | None:
        """The declared whole-object checksum, if any."""
        value = self.metadata.get("checksum")
        return ObjectChecksum.parse(value) if value else None

    def summary(self) -> dict[str, int]:
        """Number of objects per ingest status."""
        counts = {s.value: 0 for s in IngestStatus}
        for r in self.results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``GET /upload/{id}/status`` body)."""
        return {
            "id": self.id,
            "offset": self.offset,
            "length": self.length,
            "state": self.state.value,
            "kind": "zip" if self.is_zip else "object",
            "created": _iso(self.created),
            "expires": _iso(self.expires),
            "code": self.code,
            "reason": self.reason,
            "summary": self.summary(),
            "results": [dict(r) for r in self.results],
        }

    # -- persistence -------------------------------------------------------
    def _to_record(self) -> dict[str, Any]:
        data = self.to_dict()
        data["metadata"] = dict(self.metadata)
        data["owner_org"] = self.owner_org
        data["version"] = 1
        return data

    @classmethod
    def _from_record(cls, data: Mapping[str, Any]) -> ResumableUpload:
        return cls(
            id=data["id"],
            length=data["length"],
            offset=int(data["offset"]),
            metadata=dict(data.get("metadata") or {}),
            state=UploadState(data["state"]),
            created=datetime.fromisoformat(data["created"]),
            expires=datetime.fromisoformat(data["expires"]),
            code=data.get("code"),
            reason=data.get("reason"),
            results=tuple(data.get("results") or ()),
            owner_org=int(data.get("owner_org", DEFAULT_ORG_PK)),
        )


# --------------------------------------------------------------------------
# filesystem helpers
# --------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_record(directory: Path, upload: ResumableUpload) -> None:
    tmp = directory / (_RECORD + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(upload._to_record(), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, directory / _RECORD)
    _fsync_dir(directory)


class _Lock:
    """An exclusive ``flock`` on an upload's lock file (threads and processes alike)."""

    def __init__(self, path: Path, timeout: float) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise UploadNotFoundError(
                "upload not found (it was terminated or has expired)"
            ) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.release()
                    raise UploadLockedError(
                        "another request is writing to this upload; retry when it has finished"
                    ) from None
                time.sleep(0.02)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


# --------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _stalled(upload: ResumableUpload) -> bool:
    """All bytes committed but not finished: only a crash (or a request still holding the lock) leaves this."""
    return upload.state is UploadState.VERIFYING or (
        upload.state is UploadState.UPLOADING and upload.complete
    )


class UploadStore:
    """Durable resumable uploads in a directory, completed through the ingest pipeline.

    Parameters
    ----------
    root
        Directory holding one sub-directory per upload (created if needed).
    ingestor
        The archive's :class:`~radhub.ingest.Ingestor`; completed uploads go through it.
    max_size
        Largest upload in bytes (``Tus-Max-Size``); larger declared or sent
        lengths raise :class:`UploadTooLargeError`.
    expiry
        How long an upload lives after its last committed chunk (and how long a
        finished upload's status is kept).
    lock_timeout
        Seconds a request waits for another request on the same upload to
        finish before :class:`UploadLockedError`.
    clock
        Returns the current UTC time (tests pass a fixed clock).

    Examples
    --------
    >>> store = UploadStore.from_settings(archive.settings, archive.ingestor)  # doctest: +SKIP
    >>> up = store.create(len(data), {"filename": "ct.dcm"})                   # doctest: +SKIP
    >>> store.append(up.id, 0, [data]).state                                   # doctest: +SKIP
    <UploadState.STORED: 'stored'>
    """

    def __init__(
        self,
        root: str | Path,
        ingestor: Ingestor,
        *,
        max_size: int,
        expiry: timedelta,
        lock_timeout: float = 3.0,
        clock: Clock | None = None,
    ) -> None:
        self.root = Path(root)
        self.ingestor = ingestor
        self.max_size = max_size
        self.expiry = expiry
        self.lock_timeout = lock_timeout
        self.clock: Clock = clock or _utcnow
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings, ingestor: Ingestor, **kwargs: Any) -> UploadStore:
        """The store of an archive: ``<data_dir>/uploads``, ``max_object_bytes``, ``upload_expiry_hours``."""
        return cls(
            settings.data_dir / "uploads",
            ingestor,
            max_size=settings.max_object_bytes,
            expiry=timedelta(hours=settings.upload_expiry_hours),
            **kwargs,
        )

    # -- paths and records -------------------------------------------------
    def _dir(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise UploadNotFoundError(
                f"upload not found: ids are 32 hex characters, got {upload_id[:40]!r}"
            )
        return self.root / upload_id

    def _read(self, upload_id: str) -> ResumableUpload:
        path = self._dir(upload_id) / _RECORD
        try:
            with open(path, encoding="utf-8") as fh:
                upload = ResumableUpload._from_record(json.load(fh))
        except FileNotFoundError:
            upload = None
        scope = current_scope()
        if upload is None or (scope is not None and not scope.sees(upload.owner_org)):
            # another organisation's upload is not found either (no existence oracle)
            raise UploadNotFoundError(
                "upload not found (it was terminated, has expired or never existed)"
            ) from None
        return upload

    def _lock(self, upload_id: str, timeout: float | None = None) -> _Lock:
        return _Lock(
            self._dir(upload_id) / _LOCK, self.lock_timeout if timeout is None else timeout
        )

    def _remove(self, upload_id: str) -> None:
        directory = self._dir(upload_id)
        try:  # the record goes first: a half-removed upload is not found
            (directory / _RECORD).unlink()
        except FileNotFoundError:
            pass
        shutil.rmtree(directory, ignore_errors=True)

    # -- public API --------------------------------------------------------
    def create(
        self, length: int | None, metadata: Mapping[str, str] | None = None
    ) -> ResumableUpload:
        """Create an upload of ``length`` bytes (``None`` = deferred length).

        Raises
        ------
        UploadTooLargeError
            ``length`` exceeds :attr:`max_size`.
        UploadRequestError
            Negative length or an invalid ``checksum`` metadata value.
        """
        metadata = dict(metadata or {})
        if length is not None:
            self._check_length(length, 0)
        if metadata.get("checksum"):
            ObjectChecksum.parse(metadata["checksum"])  # reject a bad declaration up front
        now = self.clock()
        scope = current_scope()
        upload = ResumableUpload(
            owner_org=scope.write_org if scope is not None else DEFAULT_ORG_PK,
            id=secrets.token_hex(16),
            length=length,
            offset=0,
            metadata=metadata,
            state=UploadState.UPLOADING,
            created=now,
            expires=now + self.expiry,
        )
        staging = self.root / f".{upload.id}.tmp"
        staging.mkdir()
        with open(staging / _DATA, "wb") as fh:
            os.fsync(fh.fileno())
        _write_record(staging, upload)
        os.rename(staging, self.root / upload.id)
        _fsync_dir(self.root)
        logger.info(
            "upload %s created (%s bytes)", upload.id, length if length is not None else "deferred"
        )
        return upload

    def get(self, upload_id: str) -> ResumableUpload:
        """The upload's current record.

        An upload whose last byte was committed but whose completion a crash
        interrupted (nobody holds its lock) is completed now, so the answer
        never stays ``uploading``/``verifying`` with all bytes received.

        Raises
        ------
        UploadNotFoundError, UploadExpiredError
        """
        upload = self._read(upload_id)
        if upload.expires <= self.clock():
            self._expire(upload_id)
        if _stalled(upload):
            try:
                lock = self._lock(upload_id, timeout=0)
            except UploadLockedError:
                return upload  # being completed right now
            try:
                upload = self._read(upload_id)
                if _stalled(upload):
                    logger.warning("upload %s: completing after an interruption", upload_id)
                    upload = self._complete(upload)
            finally:
                lock.release()
        return upload

    def head(self, upload_id: str) -> ResumableUpload:
        """The upload with its offset settled: waits for a request writing to it to finish.

        Raises
        ------
        UploadNotFoundError, UploadExpiredError, UploadLockedError
        """
        upload = self.get(upload_id)
        if upload.state is not UploadState.UPLOADING or upload.complete:
            return upload
        lock = self._lock(upload_id)
        try:
            return self._read(upload_id)
        finally:
            lock.release()

    def begin_append(
        self,
        upload_id: str,
        offset: int,
        *,
        checksum: ChunkChecksum | None = None,
        length: int | None = None,
    ) -> ChunkWriter:
        """Start writing one chunk at ``offset`` (the tus PATCH); holds the upload's lock.

        Parameters
        ----------
        offset
            Must equal the upload's offset.
        checksum
            Verified over the chunk's bytes at :meth:`ChunkWriter.commit`.
        length
            Sets a deferred length (``Upload-Length`` on PATCH); must match if
            already known.

        Raises
        ------
        UploadNotFoundError, UploadExpiredError, UploadLockedError, UploadOffsetError,
        UploadTooLargeError, UploadRequestError
        """
        self.get(upload_id)
        lock = self._lock(upload_id)
        try:
            upload = self._read(upload_id)
            if offset != upload.offset:
                raise UploadOffsetError(
                    f"Upload-Offset {offset} does not match the upload's offset {upload.offset}; "
                    "send HEAD to get the offset and resume from there",
                    upload.offset,
                )
            if length is not None:
                if upload.length is None:
                    self._check_length(length, upload.offset)
                    upload = dataclasses.replace(upload, length=length)
                elif length != upload.length:
                    raise UploadRequestError(
                        f"Upload-Length {length} differs from the upload's length {upload.length}; it cannot change"
                    )
            return ChunkWriter(self, upload, lock, checksum)
        except BaseException:
            lock.release()
            raise

    def append(
        self,
        upload_id: str,
        offset: int,
        chunks: Iterable[bytes],
        *,
        checksum: ChunkChecksum | None = None,
        length: int | None = None,
    ) -> ResumableUpload:
        """Write ``chunks`` at ``offset``, commit them and, if that completes the upload, ingest it.

        See :meth:`begin_append` for the parameters and errors;
        :class:`UploadChecksumError` if ``checksum`` does not match.
        """
        with self.begin_append(upload_id, offset, checksum=checksum, length=length) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def terminate(self, upload_id: str) -> None:
        """Delete an upload and its bytes (tus termination); a finished upload's status goes too.

        Raises
        ------
        UploadNotFoundError, UploadExpiredError, UploadLockedError
        """
        self._read(upload_id)
        lock = self._lock(upload_id)
        try:
            self._read(upload_id)
            self._remove(upload_id)
        finally:
            lock.release()
        logger.info("upload %s terminated", upload_id)

    def sweep(self) -> int:
        """Remove expired uploads and stray staging directories; return how many uploads were removed.

        The sweep sees every organisation's uploads, whoever's request runs it.
        """
        with tenant_scope(None):
            return self._sweep()

    def _sweep(self) -> int:
        now = self.clock()
        removed = 0
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                if time.time() - entry.stat().st_mtime > 3600:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if not _ID.match(entry.name):
                continue
            try:
                upload = self._read(entry.name)
            except UploadNotFoundError:
                shutil.rmtree(entry, ignore_errors=True)
                continue
            if upload.expires > now:
                continue
            try:
                lock = self._lock(entry.name, timeout=0)
            except (UploadLockedError, UploadNotFoundError):
                continue
            try:
                self._remove(entry.name)
                removed += 1
            finally:
                lock.release()
        if removed:
            logger.info("removed %d expired uploads", removed)
        return removed

    def __iter__(self) -> Iterator[ResumableUpload]:
        """All uploads present (expired ones included until swept)."""
        for entry in sorted(self.root.iterdir()):
            if _ID.match(entry.name):
                try:
                    yield self._read(entry.name)
                except UploadNotFoundError:
                    continue

    # -- internals ---------------------------------------------------------
    def _check_length(self, length: int, offset: int) -> None:
        if length < 0:
            raise UploadRequestError(f"Upload-Length must be a non-negative integer, got {length}")
        if length > self.max_size:
            raise UploadTooLargeError(
                f"Upload-Length {length} exceeds the maximum upload size of {self.max_size} bytes (Tus-Max-Size)"
            )
        if length < offset:
            raise UploadRequestError(
                f"Upload-Length {length} is smaller than the bytes already received ({offset})"
            )

    def _expire(self, upload_id: str) -> None:
        try:
            lock = self._lock(upload_id, timeout=0)
        except UploadLockedError:
            lock = None
        try:
            if lock is not None:
                self._remove(upload_id)
        finally:
            if lock is not None:
                lock.release()
        raise UploadExpiredError("the upload has expired and was removed; start a new upload")

    def _save(self, upload: ResumableUpload) -> None:
        _write_record(self._dir(upload.id), upload)

    def _complete(self, upload: ResumableUpload) -> ResumableUpload:
        """Verify and ingest a complete upload under its owner's organisation; the caller holds its lock."""
        with tenant_scope(TenantScope(None, upload.owner_org)):
            return self._complete_owned(upload)

    def _complete_owned(self, upload: ResumableUpload) -> ResumableUpload:
        upload = dataclasses.replace(upload, state=UploadState.VERIFYING)
        self._save(upload)
        data = self._dir(upload.id) / _DATA
        declared = upload.object_checksum
        if declared is not None:
            actual = _file_digest(data, declared.algorithm)
            if actual != declared.hexdigest:
                logger.info("upload %s rejected: whole-object checksum mismatch", upload.id)
                return self._finish(
                    upload,
                    UploadState.REJECTED,
                    code="checksum_mismatch",
                    reason=(
                        f"the {declared.algorithm} of the {upload.offset} bytes received is {actual}, "
                        f"but the upload declared {declared.hexdigest}; the upload was discarded and "
                        "nothing was stored: upload the file again"
                    ),
                )
        if upload.is_zip:
            return self._complete_zip(upload, data)
        name = upload.metadata.get("filename", "")
        with open(data, "rb") as fh:
            result = self.ingestor.ingest_fileobj(fh, source=_SOURCE)
        return self._finish(
            upload,
            UploadState(result.status.value),
            code=result.code,
            reason=result.reason,
            results=({"path": name, **result.to_dict()},),
        )

    def _complete_zip(self, upload: ResumableUpload, data: Path) -> ResumableUpload:
        try:
            archive = zipfile.ZipFile(data)
        except (zipfile.BadZipFile, OSError) as exc:
            return self._finish(
                upload,
                UploadState.REJECTED,
                code="invalid_zip",
                reason=f"the upload was declared a zip but is not a readable zip archive: {exc}",
            )
        results: list[dict[str, Any]] = []
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                results.append(
                    {"path": info.filename, **self._ingest_member(archive, info).to_dict()}
                )
        if not results:
            return self._finish(
                upload,
                UploadState.REJECTED,
                code="empty_zip",
                reason="the zip archive contains no files",
            )
        statuses = {r["status"] for r in results}
        for candidate in (UploadState.STORED, UploadState.DUPLICATE, UploadState.CONFLICT):
            if candidate.value in statuses:
                state = candidate
                break
        else:
            state = UploadState.REJECTED
        code = reason = None
        if state is UploadState.REJECTED:
            code, reason = (
                "no_object_stored",
                "no member of the zip archive could be stored; see results",
            )
        return self._finish(upload, state, code=code, reason=reason, results=tuple(results))

    def _ingest_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IngestResult:
        try:
            with archive.open(info) as member:
                return self.ingestor.ingest_fileobj(member, source=_SOURCE)  # type: ignore[arg-type]
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
            # a damaged, encrypted or unsupported member: the ingest aborted its temp blob
            return IngestResult(
                IngestStatus.REJECTED,
                code="invalid_zip_member",
                reason=f"the zip member could not be read: {exc}",
            )

    def _finish(
        self,
        upload: ResumableUpload,
        state: UploadState,
        *,
        code: str | None = None,
        reason: str | None = None,
        results: tuple[dict[str, Any], ...] = (),
    ) -> ResumableUpload:
        done = dataclasses.replace(
            upload,
            state=state,
            code=code,
            reason=reason,
            results=results,
            expires=self.clock() + self.expiry,
        )
        self._save(done)
        try:
            (self._dir(upload.id) / _DATA).unlink()
        except FileNotFoundError:
            pass
        logger.info("upload %s finished: %s", upload.id, state.value)
        return done


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ChunkWriter:
    """The bytes of one PATCH being written at the upload's offset, under its lock.

    Call :meth:`write` for each piece of the body, then exactly one of
    :meth:`commit` (the body arrived whole), :meth:`interrupt` (the client went
    away: keep what arrived unless a checksum was sent) or :meth:`abort`
    (discard); :meth:`close` (or leaving the ``with`` block) releases the lock.
    """

    def __init__(
        self,
        store: UploadStore,
        upload: ResumableUpload,
        lock: _Lock,
        checksum: ChunkChecksum | None,
    ) -> None:
        self._store = store
        self._upload = upload
        self._lock: _Lock | None = lock
        self._checksum = checksum
        self._hash = hashlib.new(checksum.algorithm) if checksum else None
        self._path = store._dir(upload.id) / _DATA
        self._fh: BinaryIO | None = None
        self.received = 0
        if upload.state is UploadState.UPLOADING:
            self._fh = open(self._path, "r+b")  # noqa: SIM115 - lives until commit/abort
            # bytes past the committed offset are from a request that never committed: drop them
            self._fh.truncate(upload.offset)
            self._fh.seek(upload.offset)

    @property
    def upload(self) -> ResumableUpload:
        """The upload as it was when the chunk started."""
        return self._upload

    def write(self, data: bytes) -> None:
        """Append a piece of the chunk.

        Raises
        ------
        UploadTooLargeError
            The bytes go past the declared length or the size limit; the chunk is discarded.
        """
        if not data:
            return
        end = self._upload.offset + self.received + len(data)
        limit = self._upload.length if self._upload.length is not None else self._store.max_size
        if end > limit:
            self.abort()
            what = "Upload-Length" if self._upload.length is not None else "maximum upload size"
            raise UploadTooLargeError(
                f"the chunk goes past the {what} of {limit} bytes; nothing of it was kept"
            )
        if self._fh is None:
            raise ValueError("write() after the chunk was committed, interrupted or aborted")
        self._fh.write(data)
        if self._hash is not None:
            self._hash.update(data)
        self.received += len(data)

    def commit(self) -> ResumableUpload:
        """Verify the chunk checksum, make the bytes and the new offset durable; complete if the last.

        Raises
        ------
        UploadChecksumError
            The bytes do not match; they are discarded and the offset stays.
        """
        if (
            self._checksum is not None
            and self._hash is not None
            and self._hash.digest() != self._checksum.digest
        ):
            self.abort()
            raise UploadChecksumError(
                f"the {self._checksum.algorithm} of the {self.received} bytes received does not match "
                "Upload-Checksum; the chunk was discarded and the offset did not advance: send it again"
            )
        return self._commit()

    def interrupt(self) -> ResumableUpload:
        """The body stopped early: keep the bytes received (tus: store as much as possible).

        With a chunk checksum the partial bytes cannot be verified and are
        discarded instead.
        """
        if self._checksum is not None:
            self.abort()
            return self._upload
        return self._commit()

    def abort(self) -> None:
        """Discard this chunk's bytes."""
        if self._fh is not None:
            self._fh.truncate(self._upload.offset)
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        """Discard uncommitted bytes and release the lock."""
        self.abort()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _commit(self) -> ResumableUpload:
        if self._upload.state is not UploadState.UPLOADING:
            return self._upload  # an empty PATCH at the end of a finished upload (a retry)
        if self._fh is None:
            raise ValueError("the chunk was already committed, interrupted or aborted")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        store = self._store
        upload = dataclasses.replace(
            self._upload,
            offset=self._upload.offset + self.received,
            expires=store.clock() + store.expiry,
        )
        store._save(upload)
        self._upload = upload
        if upload.complete and upload.state is UploadState.UPLOADING:
            upload = store._complete(upload)
            self._upload = upload
        return upload
