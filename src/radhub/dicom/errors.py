"""DICOM parsing and validation errors.

DicomError
 +-- InvalidDicomError      not a readable DICOM Part 10 object (reason says why)
 +-- RenderError            pixel data cannot be decoded or rendered
"""


class DicomError(Exception):
    """Base class of radhub.dicom errors."""


class InvalidDicomError(DicomError, ValueError):
    """The bytes are not an acceptable DICOM Part 10 object.

    ``code`` is a short machine-readable reason (e.g. ``not_dicom``,
    ``missing_uid``, ``invalid_uid``, ``truncated``, ``invalid_value``);
    the message says what is wrong without echoing patient data.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RenderError(DicomError):
    """Pixel data that cannot be decoded or rendered (message says why)."""
