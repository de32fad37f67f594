"""Ingest errors.

IngestError
 +-- RejectedError        the object was refused (``code`` and message say why)
 +-- UploadError          resumable upload (tus) problems
      +-- UploadNotFoundError, UploadExpiredError, UploadLockedError,
      +-- UploadOffsetError, UploadTooLargeError, UploadChecksumError,
      +-- UploadRequestError (also a ValueError), UploadFailedError (client side)
"""


class IngestError(Exception):
    """Base class of ingest errors."""


class RejectedError(IngestError):
    """An object refused by the ingest pipeline; nothing was stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UploadError(IngestError):
    """Base class of resumable-upload errors."""


class UploadNotFoundError(UploadError):
    """No upload with this id (never created, terminated, or expired and swept)."""


class UploadExpiredError(UploadError):
    """The upload passed its expiry time; it has been removed and must be started again."""


class UploadLockedError(UploadError):
    """Another request is writing to (or completing) this upload right now."""


class UploadOffsetError(UploadError):
    """The request's offset differs from the upload's committed offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class UploadTooLargeError(UploadError):
    """More bytes than the declared Upload-Length or the archive's size limit."""


class UploadChecksumError(UploadError):
    """A chunk's bytes do not match its Upload-Checksum; the offset did not advance."""


class UploadRequestError(UploadError, ValueError):
    """A malformed length, metadata value or checksum."""


class UploadFailedError(UploadError):
    """The transfer could not be completed (network, server error, upload expired).

    ``url`` is the upload's URL when one was created; calling
    :func:`upload_file` again resumes it unless it has expired.
    """

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
