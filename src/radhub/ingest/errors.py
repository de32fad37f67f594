"""Ingest errors.

IngestError
 +-- RejectedError        the object was refused (``code`` and message say why)
"""


class IngestError(Exception):
    """Base class of ingest errors."""


class RejectedError(IngestError):
    """An object refused by the ingest pipeline; nothing was stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
