"""Errors of radhub's DIMSE networking.

NetError
 +-- AssociationError     an association with a peer could not be established
 +-- IdentifierError      a C-FIND / C-MOVE / C-GET identifier the SCP cannot use;
 |                        carries the DIMSE ``status`` to return and, when known,
 |                        the ``offending`` attribute tags
 +-- SubOperationError    a stored instance could not be sent over an association
                          (no acceptable presentation context, transcoding failed)

Messages never contain patient data: they name attributes, tags, UIDs of SOP
classes and transfer syntaxes, never attribute values of stored objects.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AssociationError", "IdentifierError", "NetError", "SubOperationError"]


class NetError(Exception):
    """Base class of DIMSE networking errors."""


class AssociationError(NetError):
    """An association with a peer AE could not be established (rejected, aborted, unreachable)."""


class IdentifierError(NetError):
    """A query/retrieve identifier that cannot be processed.

    Parameters
    ----------
    status
        The DIMSE failure status to answer with (``0xA900`` identifier does
        not match the SOP class, ``0xC000`` unable to process ...).
    message
        What is wrong and how to fix it; sent as the response's Error Comment
        (truncated to 64 characters) and raised to library callers.
    offending
        Tags of the attributes at fault (the response's Offending Element).
    """

    def __init__(self, status: int, message: str, offending: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.offending = tuple(int(t) for t in offending)


class SubOperationError(NetError):
    """A C-STORE sub-operation (C-MOVE / C-GET) could not be attempted."""
