"""Blob store errors.

StoreError
 +-- BlobNotFoundError
 +-- BlobTooLargeError
 +-- ChecksumMismatchError
"""


class StoreError(Exception):
    """Base class of blob store errors."""


class BlobNotFoundError(StoreError, KeyError):
    """No blob with the requested digest exists."""


class BlobTooLargeError(StoreError):
    """A blob exceeded the configured size limit while being written."""


class ChecksumMismatchError(StoreError):
    """The bytes received do not match the checksum the sender declared."""
