"""Filesystem blob store: ``<root>/sha256/aa/bb/<digest>``."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import itertools
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from radhub.store._base import BlobRef, BlobStore, BlobWriter
from radhub.store.errors import BlobNotFoundError, BlobTooLargeError

logger = logging.getLogger(__name__)

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _libc_function(name: str, *argtypes: Any) -> Any:
    """A Linux C-library call returning ``int``, or ``None`` where there is none (other systems)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


_syncfs = _libc_function("syncfs", ctypes.c_int)
_sync_file_range = _libc_function("sync_file_range", ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
_SYNC_FILE_RANGE_WRITE = 2
_READY = ".ready"  # suffix of a durable temporary blob whose name carries its digest
_RUN = uuid.uuid4().hex[:8]  # tells temporary names of this process apart from an earlier one with its pid


def _sync_filesystem(path: Path) -> None:
    """Flush every dirty page and metadata of the filesystem holding ``path``.

    Linux >= 5.8 reports write-back errors of the filesystem through syncfs.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _SyncGroup:
    """Group commit for ``syncfs``: concurrent committers share filesystem flushes.

    :meth:`sync` returns once a flush that *began after the call* has
    completed (one that was already running may have missed the caller's
    writes). While a flush runs, every caller that arrives waits for the
    next one, which one of them starts for all: N concurrent requests cost
    about two flushes instead of N.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started = 0
        self._finished = 0
        self._running = False

    def sync(self, path: Path) -> None:
        with self._cond:
            target = self._started + 1
            while self._finished < target:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                self._started += 1
                ticket = self._started
                done = False
                self._cond.release()
                try:
                    _sync_filesystem(path)
                    done = True
                finally:  # a failed flush is retried by the next caller, and raised to this one
                    self._cond.acquire()
                    self._running = False
                    if done:
                        self._finished = ticket
                    self._cond.notify_all()


class _FileBlobWriter(BlobWriter):
    """A temporary file in ``tmp/`` written through its descriptor (no Python file object)."""

    _names = itertools.count()

    def __init__(self, store: FileBlobStore, max_size: int | None) -> None:
        self._store = store
        self._max = max_size
        self._hash = hashlib.sha256()
        self.size = 0
        self.sha256 = ""
        self._fd: int | None = None
        tmp = store.tmp_name
        while self._fd is None:
            # unique within the process; O_EXCL guards against anything left by another
            self._name = f"{tmp}/blob-{os.getpid()}-{next(self._names)}-{_RUN}.tmp"
            try:
                self._fd = os.open(self._name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
        self._done = False

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError("write() after commit() or abort()")
        self.size += len(data)
        if self._max is not None and self.size > self._max:
            self.abort()
            raise BlobTooLargeError(f"object exceeds the size limit of {self._max} bytes")
        self._hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def start_writeback(self) -> None:
        """Ask the kernel to start writing the bytes so far to disk, without waiting.

        The flush at commit then finds most of them already written: a
        STOW-RS request's blobs reach the disk while later parts arrive.
        """
        if self._fd is not None and _sync_file_range is not None:
            _sync_file_range(self._fd, 0, 0, _SYNC_FILE_RANGE_WRITE)

    def temp_path(self) -> Path:
        return Path(self._name)

    def commit(self) -> BlobRef:
        if self._fd is None:
            raise ValueError("commit() after commit() or abort()")
        os.fsync(self._fd)
        self._close()
        _fsync_dir(self._place())
        return BlobRef(self.sha256, self.size)

    # the two halves of a commit, for FileBlobStore.commit_many
    def _close(self) -> None:
        """Close the temporary file (its bytes are not yet durable)."""
        if self._fd is None:
            raise ValueError("commit() after commit() or abort()")
        os.close(self._fd)
        self._fd = None
        self.sha256 = self._hash.hexdigest()

    def _seal(self) -> None:
        """Rename the closed temporary file to a name that carries its digest (for recovery)."""
        sealed = f"{self._name[: -len('.tmp')]}.{self.sha256}{_READY}"
        os.replace(self._name, sealed)
        self._name = sealed

    def _place(self) -> Path:
        """Rename the (durable) temporary file to its content address.

        Returns the directory whose entry changed. No directory is created
        or looked up unless the rename fails for want of it.
        """
        final = self._store._path_for(self.sha256)
        self._done = True
        try:
            # the same bytes may already be there: replacing them changes nothing
            os.replace(self._name, final)
        except FileNotFoundError:  # the first blob of its directory
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._name, final)
        return final.parent

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self._done:
            try:
                os.unlink(self._name)
            except FileNotFoundError:
                pass
            self._done = True

    def current_sha256(self) -> str:
        return self._hash.copy().hexdigest()


class FileBlobStore(BlobStore):
    """Blobs as files under ``root``; temporary files under ``root/tmp``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "sha256"
        self.tmp_dir = self.root / "tmp"
        self.tmp_name = str(self.tmp_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._sync = _SyncGroup()  # both directories are on one filesystem

    def _path_for(self, sha256: str) -> Path:
        if not _DIGEST.match(sha256):
            raise BlobNotFoundError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def path(self, sha256: str) -> Path:
        """Local path of a durable blob."""
        p = self._path_for(sha256)
        if not p.exists():
            raise BlobNotFoundError(sha256)
        return p

    def local_path(self, sha256: str) -> Path:
        return self.path(sha256)

    def writer(self, max_size: int | None = None) -> BlobWriter:
        return _FileBlobWriter(self, max_size)

    def commit_many(self, writers: list[BlobWriter]) -> list[BlobRef]:
        """Commit one or several blobs with one filesystem flush in all (Linux ``syncfs``).

        Every temporary file is closed and renamed, inside the temporary
        directory, to a name that carries its digest (``<name>.<sha256>.ready``);
        then one ``syncfs`` makes their bytes and those names durable; then
        each is renamed to its content address. That last rename is not
        flushed here: until the kernel writes it back (seconds), a crash may
        leave the blob under its ``.ready`` name, and the start-up sweep
        (:meth:`sweep_temp`) puts every ``.ready`` blob the catalog refers to
        at its address and deletes the others. So a blob is durable -- under
        its address or recoverably in the temporary directory -- before the
        caller commits the catalog row that refers to it, as with
        :meth:`BlobWriter.commit`, which costs two flushes per blob (the file
        and its directory). Without ``syncfs`` each writer is committed on its
        own. Concurrent calls share their flushes (:class:`_SyncGroup`).
        """
        mine = [w for w in writers if isinstance(w, _FileBlobWriter) and w._store is self]
        if _syncfs is None or not writers or len(mine) != len(writers):
            return super().commit_many(writers)
        for w in mine:
            w._close()
            w._seal()
        self._sync.sync(self.tmp_dir)
        for w in mine:
            w._place()
        return [BlobRef(w.sha256, w.size) for w in mine]

    def exists(self, sha256: str) -> bool:
        try:
            return self._path_for(sha256).exists()
        except BlobNotFoundError:
            return False

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path_for(sha256), "rb")
        except FileNotFoundError as exc:
            raise BlobNotFoundError(sha256) from exc

    def size(self, sha256: str) -> int:
        try:
            return self._path_for(sha256).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFoundError(sha256) from exc

    def delete(self, sha256: str) -> None:
        self._path_for(sha256).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        for p in self.blob_dir.glob("*/*/*"):
            if _DIGEST.match(p.name):
                yield p.name

    def sweep_temp(self, referenced: Callable[[str], bool] | None = None) -> int:
        """Delete temporary files left by a crash, after putting back sealed blobs the catalog refers to.

        A ``.ready`` file is a durable blob whose rename to its address may
        have been lost (:meth:`commit_many`); when ``referenced`` says the
        catalog points to its digest and the address is empty, it is moved
        there (and the move flushed). Returns the number of files deleted.
        """
        n = restored = 0
        for p in self.tmp_dir.glob(f"blob-*{_READY}"):
            digest = p.name[: -len(_READY)].rsplit(".", 1)[-1]
            final = self._path_for(digest) if _DIGEST.match(digest) else None
            if final is not None and not final.exists() and referenced is not None and referenced(digest):
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(p, final)
                _fsync_dir(final.parent)
                restored += 1
            else:
                p.unlink(missing_ok=True)
                n += 1
        for p in self.tmp_dir.glob("blob-*.tmp"):
            p.unlink(missing_ok=True)
            n += 1
        if restored:
            logger.warning("put %d committed blobs back at their address after a crash", restored)
        if n:
            logger.warning("removed %d stray temporary blob files", n)
        return n
