"""DIMSE status codes radhub's SCP answers with, and the Error Comment helper."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from pydicom.dataset import Dataset

__all__ = ["DimseStatus", "error_comment", "status_dataset"]

_COMMENT_LIMIT = 64  # (0000,0902) Error Comment is LO


class DimseStatus(IntEnum):
    """Status codes used by radhub's SCP (PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5, C.4.3.1.4; PS3.7 C).

    The same numeric code means slightly different things per service
    (``0xA900`` is "Data Set does not match SOP Class" for C-STORE and
    "Identifier does not match SOP Class" for C-FIND/C-MOVE/C-GET); the
    member names follow C-STORE where codes are shared.
    """

    SUCCESS = 0x0000
    """Stored (or already stored with identical bytes); query/retrieve complete."""
    PENDING = 0xFF00
    """A C-FIND match or a C-MOVE/C-GET progress report follows."""
    CANCEL = 0xFE00
    """The operation was cancelled by a C-CANCEL request."""
    WARNING = 0xB000
    """C-STORE: coercion of data elements (radhub: a different object with this SOP
    Instance UID was already stored and is kept); C-MOVE/C-GET: sub-operations
    complete with one or more failures or warnings."""
    DUPLICATE_SOP_INSTANCE = 0x0111
    """C-STORE under the ``reject`` conflict policy: the SOP Instance UID is in use."""
    NOT_AUTHORIZED = 0x0124
    """Refused: the calling AE title's organisation may not make this request (PS3.7 C.4.2.1.4)."""
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    """C-STORE: the Affected SOP Class UID is not the presentation context's abstract syntax."""
    OUT_OF_RESOURCES = 0xA700
    """C-STORE: the object could not be stored (storage or database failure, too large)."""
    UNABLE_TO_CALCULATE_MATCHES = 0xA701
    """C-MOVE/C-GET: the catalog could not be queried."""
    UNABLE_TO_PERFORM_SUBOPERATIONS = 0xA702
    """C-MOVE/C-GET: every sub-operation failed."""
    MOVE_DESTINATION_UNKNOWN = 0xA801
    """C-MOVE: the Move Destination is not a configured peer (``dicom_peers``)."""
    DATASET_DOES_NOT_MATCH = 0xA900
    """C-STORE: the data set does not match the request (SOP Class/Instance UID
    differ from the command, or are missing); Q/R: the identifier does not
    match the information model (level, unique keys)."""
    CANNOT_UNDERSTAND = 0xC000
    """C-STORE: the object was refused by the ingest pipeline (the Error
    Comment names the reason); Q/R: unable to process the identifier."""


def error_comment(text: str) -> str:
    """Text fit for (0000,0902) Error Comment: printable ASCII, at most 64 characters."""
    clean = "".join(ch if 32 <= ord(ch) < 127 and ch != "\\" else " " for ch in text)
    clean = " ".join(clean.split())
    if len(clean) > _COMMENT_LIMIT:
        clean = clean[: _COMMENT_LIMIT - 3].rstrip() + "..."
    return clean


def status_dataset(status: int, comment: str = "", offending: Sequence[int] = ()) -> Dataset:
    """A status dataset for a pynetdicom handler: Status, optional Error Comment and Offending Element."""
    ds = Dataset()
    ds.Status = int(status)
    if comment:
        ds.ErrorComment = error_comment(comment)
    if offending:
        ds.OffendingElement = [int(t) for t in offending]
    return ds
