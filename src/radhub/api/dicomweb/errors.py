"""DICOMweb errors: each one is an HTTP status with a message that says what to fix.

DicomwebError (fastapi.HTTPException)   rendered as ``{"detail": message}``
 +-- BadRequestError           400  malformed URL, query, UID or multipart body
 +-- NotFoundError             404  unknown study, series, instance, frame or attribute
 +-- NotAcceptableError        406  no acceptable media type / transfer syntax can be produced
 +-- PayloadTooLargeError      413  request body over ``settings.max_request_bytes``
 +-- UnsupportedMediaTypeError 415  request Content-Type that STOW-RS does not accept
 +-- UnprocessableError        422  pixel data that cannot be decoded or rendered

MultipartError (ValueError)    a multipart body that cannot be parsed (the
                               STOW-RS handler turns it into a 400 or a
                               failed part)
"""

from __future__ import annotations

from fastapi import HTTPException

__all__ = [
    "BadRequestError",
    "DicomwebError",
    "MultipartError",
    "NotAcceptableError",
    "NotFoundError",
    "PayloadTooLargeError",
    "UnprocessableError",
    "UnsupportedMediaTypeError",
]


class DicomwebError(HTTPException):
    """Base class: an HTTP error status with a clear message."""

    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=self.status, detail=message, headers=headers)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequestError(DicomwebError):
    """400: the request is malformed (the message names the parameter)."""

    status = 400


class NotFoundError(DicomwebError):
    """404: the requested resource does not exist."""

    status = 404


class NotAcceptableError(DicomwebError):
    """406: none of the media types in Accept can be produced."""

    status = 406


class PayloadTooLargeError(DicomwebError):
    """413: the request body exceeds the configured limit."""

    status = 413


class UnsupportedMediaTypeError(DicomwebError):
    """415: the request's Content-Type is not one STOW-RS accepts."""

    status = 415


class UnprocessableError(DicomwebError):
    """422: the object exists but its pixel data cannot be decoded or rendered."""

    status = 422


class MultipartError(ValueError):
    """A multipart body whose framing is broken (message says where)."""
