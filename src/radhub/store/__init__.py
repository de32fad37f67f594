"""Content-addressed blob storage (A2).

A :class:`BlobStore` keeps immutable objects named by the SHA-256 of their
bytes. Writes go to a temporary file, are fsynced and renamed into place, so
a blob either exists whole or not at all. :class:`FileBlobStore` is the
filesystem backend (the embedded default).
"""

from radhub.store._base import BlobRef, BlobStore, BlobWriter
from radhub.store._filesystem import FileBlobStore
from radhub.store.errors import (
    BlobNotFoundError,
    BlobTooLargeError,
    ChecksumMismatchError,
    StoreError,
)

__all__ = [
    "BlobNotFoundError",
    "BlobRef",
    "BlobStore",
    "BlobTooLargeError",
    "BlobWriter",
    "ChecksumMismatchError",
    "FileBlobStore",
    "StoreError",
]
