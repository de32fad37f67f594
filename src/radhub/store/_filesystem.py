"""Filesystem blob store: ``<root>/sha256/aa/bb/<digest>``."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from radhub.store._base import BlobRef, BlobStore, BlobWriter
from radhub.store.errors import BlobNotFoundError, BlobTooLargeError

logger = logging.getLogger(__name__)

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FileBlobWriter(BlobWriter):
    def __init__(self, store: FileBlobStore, max_size: int | None) -> None:
        self._store = store
        self._max = max_size
        self._hash = hashlib.sha256()
        self.size = 0
        self.sha256 = ""
        fd, name = tempfile.mkstemp(prefix="blob-", suffix=".tmp", dir=store.tmp_dir)
        self._path = Path(name)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes) -> None:
        if self._fh is None:
            raise ValueError("write() after commit() or abort()")
        self.size += len(data)
        if self._max is not None and self.size > self._max:
            self.abort()
            raise BlobTooLargeError(f"object exceeds the size limit of {self._max} bytes")
        self._hash.update(data)
        self._fh.write(data)

    def temp_path(self) -> Path:
        if self._fh is not None:
            self._fh.flush()
        return self._path

    def commit(self) -> BlobRef:
        if self._fh is None:
            raise ValueError("commit() after commit() or abort()")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        self.sha256 = self._hash.hexdigest()
        final = self._store._path_for(self.sha256)
        if final.exists():
            # same bytes already durable: content addressing makes this a no-op
            self._path.unlink(missing_ok=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, final)
            _fsync_dir(final.parent)
        self._done = True
        return BlobRef(self.sha256, self.size)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if not self._done:
            self._path.unlink(missing_ok=True)
            self._done = True

    def current_sha256(self) -> str:
        return self._hash.copy().hexdigest()


class FileBlobStore(BlobStore):
    """Blobs as files under ``root``; temporary files under ``root/tmp``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.blob_dir = self.root / "sha256"
        self.tmp_dir = self.root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

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

    def writer(self, max_size: int | None = None) -> BlobWriter:
        return _FileBlobWriter(self, max_size)

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

    def sweep_temp(self) -> int:
        n = 0
        for p in self.tmp_dir.glob("blob-*.tmp"):
            p.unlink(missing_ok=True)
            n += 1
        if n:
            logger.warning("removed %d stray temporary blob files", n)
        return n
