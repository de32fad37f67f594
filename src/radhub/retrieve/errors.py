"""Retrieve errors.

RetrieveError
 +-- FrameError (also ValueError)   a requested frame does not exist or cannot be
                                    retrieved on its own (message names the frame
                                    and the number of frames)

Decoding and rendering problems raise ``radhub.dicom.RenderError``; a stored
object whose pixel data is unreadable (e.g. truncated) raises
``radhub.dicom.InvalidDicomError``.
"""

__all__ = ["FrameError", "RetrieveError"]


class RetrieveError(Exception):
    """Base class of radhub.retrieve errors."""


class FrameError(RetrieveError, ValueError):
    """A requested frame number is invalid for the object (1-based; message says why)."""
