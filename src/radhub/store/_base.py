"""The blob store contract shared by all backends."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class BlobRef:
    """A durable blob: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


class BlobWriter(abc.ABC):
    """A blob being written: feed bytes, then :meth:`commit` or :meth:`abort`.

    The bytes are hashed as they arrive and spooled to temporary storage;
    nothing is visible under the content address until :meth:`commit`
    returns, and by then the blob is durable (fsynced).
    """

    sha256: str
    size: int

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Append bytes."""

    @abc.abstractmethod
    def current_sha256(self) -> str:
        """SHA-256 (hex) of the bytes written so far."""

    def start_writeback(self) -> None:
        """Hint that no more bytes follow soon: a backend may start persisting them now."""

    @abc.abstractmethod
    def temp_path(self) -> Path:
        """Local path of the spooled bytes (for parsing before commit)."""

    @abc.abstractmethod
    def commit(self) -> BlobRef:
        """Make the blob durable under its content address and return its ref."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard the spooled bytes."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()


class BlobStore(abc.ABC):
    """Immutable content-addressed storage of bytes."""

    @abc.abstractmethod
    def writer(self, max_size: int | None = None) -> BlobWriter:
        """Start writing a new blob."""

    def commit_many(self, writers: list[BlobWriter]) -> list[BlobRef]:
        """Make several blobs durable together (one request's objects).

        The result is that of calling :meth:`BlobWriter.commit` on each, in
        order; a backend may share the flushes between them. On an exception
        the writers not yet committed are left to the caller to abort.
        """
        return [w.commit() for w in writers]

    def local_path(self, sha256: str) -> Path | None:
        """A local file holding the blob (for work handed to another process); ``None`` if the backend keeps none.

        Raises :class:`BlobNotFoundError` for a missing blob of a backend with local files.
        """
        return None

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a durable blob with this digest exists."""

    @abc.abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """Open a blob for reading; raises :class:`BlobNotFoundError`."""

    @abc.abstractmethod
    def size(self, sha256: str) -> int:
        """Size in bytes of a blob."""

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove a blob (used only by lifecycle operations)."""

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """All digests present (for the startup consistency sweep)."""

    @abc.abstractmethod
    def sweep_temp(self, referenced: Callable[[str], bool] | None = None) -> int:
        """Delete stray temporary files left by a crash; return how many.

        Committed blobs still in the temporary area (see
        :meth:`commit_many`) whose digest ``referenced`` accepts are put at
        their address instead.
        """

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store a bytes object (convenience for small blobs)."""
        w = self.writer()
        try:
            w.write(data)
            return w.commit()
        except BaseException:
            w.abort()
            raise

    def read_bytes(self, sha256: str) -> bytes:
        """Read a whole blob into memory."""
        with self.open(sha256) as fh:
            return fh.read()
