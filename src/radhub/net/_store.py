"""C-STORE SCP: received data sets go through the one ingest pipeline unchanged.

The archived Part 10 object is the File Meta Information radhub writes
(preamble, ``DICM``, group 0002 naming the context's transfer syntax) followed
by the data set bytes exactly as they arrived on the association.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from io import BytesIO
from typing import Any

from pydicom.filereader import read_partial
from pydicom.uid import DeflatedExplicitVRLittleEndian

from radhub.archive import Archive
from radhub.config import ConflictPolicy
from radhub.dicom import part10_prefix
from radhub.ingest import IngestResult, IngestStatus
from radhub.net._status import DimseStatus, status_dataset

logger = logging.getLogger(__name__)

__all__ = ["StoreService", "store_status"]

_SOP_INSTANCE_UID = 0x00080018
_HEAD_BYTES = 1 << 16

# Error Comments per ingest rejection code: they name the problem, never a value.
_REJECT_TEXT = {
    "uid_in_use": "a UID of this object is used by another organisation's object",
    "empty": "the data set is empty",
    "not_dicom": "the data set cannot be parsed",
    "truncated": "the data set ends before its declared lengths",
    "invalid_meta": "invalid File Meta Information",
    "invalid_value": "an element value is invalid for its VR",
    "invalid_uid": "a UID attribute is not a valid UID",
    "missing_uid": "a required UID attribute is missing",
}


def _reason_detail(code: str, reason: str | None) -> str:
    """The attribute or tag a rejection reason names (keywords and tags only)."""
    if not reason:
        return ""
    if code in ("missing_uid", "invalid_uid"):
        found = re.search(
            r"\b(SOPClassUID|SOPInstanceUID|StudyInstanceUID|SeriesInstanceUID)\b", reason
        )
        return found.group(1) if found else ""
    found = re.search(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)", reason)
    return f"({found.group(1)},{found.group(2)})".upper() if found else ""


def store_status(result: IngestResult, policy: ConflictPolicy) -> tuple[DimseStatus, str]:
    """The C-STORE status and Error Comment for an ingest result (PS3.4 B.2.3).

    * stored, or already stored with identical bytes: Success ``0x0000``;
    * a different object with this SOP Instance UID is already stored:
      Warning ``0xB000`` under ``keep_first`` and ``keep_both`` (the sender's
      object is not the one served; the conflict is recorded in the catalog),
      Failure ``0x0111`` Duplicate SOP Instance under ``reject``;
    * refused by the ingest pipeline: ``0xC000`` Cannot Understand, except
      ``too_large`` which is ``0xA700`` Out of Resources.

    The comment names the ingest code and the attribute at fault, never a value.
    """
    if result.ok:
        return DimseStatus.SUCCESS, ""
    code = result.code or "rejected"
    if result.status is IngestStatus.CONFLICT or code == "conflict":
        if policy is ConflictPolicy.REJECT:
            return (
                DimseStatus.DUPLICATE_SOP_INSTANCE,
                "conflict: another object with this SOP Instance UID is stored",
            )
        return DimseStatus.WARNING, "conflict: another object with this SOP Instance UID is kept"
    if code == "uid_in_use":
        return DimseStatus.DUPLICATE_SOP_INSTANCE, "uid_in_use: " + _REJECT_TEXT[code]
    if code == "too_large":
        return (
            DimseStatus.OUT_OF_RESOURCES,
            "too_large: the object exceeds the archive's size limit",
        )
    text = _REJECT_TEXT.get(code, "the object was refused by the archive")
    detail = _reason_detail(code, result.reason)
    if detail and code == "missing_uid":
        text = f"{detail} is missing or empty"
    elif detail and code == "invalid_uid":
        text = f"{detail} is not a valid UID"
    elif detail and code == "truncated":
        text = f"element {detail} runs past the end of the data set"
    elif detail:
        text = f"element {detail} value is invalid"
    return DimseStatus.CANNOT_UNDERSTAND, f"{code}: {text}"


def _identity(
    prefix: bytes, data: bytes, transfer_syntax: str
) -> tuple[str | None, str | None] | None:
    """(SOPClassUID, SOPInstanceUID) as the data set states them; ``None`` if it cannot be read."""
    head = data if transfer_syntax == DeflatedExplicitVRLittleEndian else data[:_HEAD_BYTES]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(
                BytesIO(prefix + head),
                stop_when=lambda tag, vr, length: int(tag) > _SOP_INSTANCE_UID,
            )
            values = [ds.get(kw) for kw in ("SOPClassUID", "SOPInstanceUID")]
    except Exception:  # noqa: BLE001 - unreadable data sets are reported by the ingest pipeline
        return None
    out = [
        str(v).strip("\x00 ") if v is not None and str(v).strip("\x00 ") else None for v in values
    ]
    return out[0], out[1]


class StoreService:
    """The EVT_C_STORE handler of one archive.

    Parameters
    ----------
    archive
        Where received objects are ingested.
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def __call__(self, event: Any) -> Any:
        """Ingest one C-STORE request; returns the status dataset for pynetdicom."""
        start = time.perf_counter()
        status, comment = self.handle(
            sop_class_uid=str(event.request.AffectedSOPClassUID),
            sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
            transfer_syntax=str(event.context.transfer_syntax),
            data=event.request.DataSet.getvalue(),
            calling_ae=str(event.assoc.requestor.ae_title).strip(),
        )
        self.archive.metrics.dimse_latency.labels(
            command="C-STORE", status=f"{int(status):04X}"
        ).observe(time.perf_counter() - start)
        return status_dataset(status, comment)

    def handle(
        self,
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax: str,
        data: bytes,
        calling_ae: str,
    ) -> tuple[DimseStatus, str]:
        """Archive one received data set; returns the DIMSE status and Error Comment.

        Parameters
        ----------
        sop_class_uid, sop_instance_uid
            The request's Affected SOP Class and Instance UIDs.
        transfer_syntax
            The presentation context's transfer syntax (how ``data`` is encoded).
        data
            The data set bytes as received.
        calling_ae
            The sender's AE title (recorded with the instance).
        """
        prefix = part10_prefix(
            sop_class_uid, sop_instance_uid, transfer_syntax, source_ae=calling_ae
        )
        identity = _identity(prefix, data, transfer_syntax)
        if identity is not None:
            ds_class, ds_instance = identity
            if ds_class is None or ds_instance is None:
                missing = "SOPClassUID" if ds_class is None else "SOPInstanceUID"
                logger.info("C-STORE from %s: data set lacks %s", calling_ae, missing)
                return (
                    DimseStatus.DATASET_DOES_NOT_MATCH,
                    f"the data set lacks {missing} (0008,{'0016' if ds_class is None else '0018'})",
                )
            if ds_instance != sop_instance_uid.strip("\x00 "):
                logger.info(
                    "C-STORE from %s: SOP Instance UID differs from the request", calling_ae
                )
                return (
                    DimseStatus.DATASET_DOES_NOT_MATCH,
                    "SOPInstanceUID differs from Affected SOP Instance UID",
                )
            if ds_class != sop_class_uid.strip("\x00 "):
                logger.info("C-STORE from %s: SOP Class UID differs from the request", calling_ae)
                return (
                    DimseStatus.DATASET_DOES_NOT_MATCH,
                    "SOPClassUID differs from Affected SOP Class UID",
                )
        try:
            result = self.archive.ingestor.ingest_stream(
                [prefix, data], source="cstore", calling_ae=calling_ae
            )
        except Exception as exc:  # noqa: BLE001 - any storage/database failure: nothing was acknowledged
            detail = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            )
            # the exception text may quote SQL parameters (patient data): log its type only
            logger.error(
                "C-STORE from %s: storage failure (%s); answered 0xA700", calling_ae, detail
            )
            return (
                DimseStatus.OUT_OF_RESOURCES,
                f"storage failure ({detail}); the object was not stored",
            )
        status, comment = store_status(result, self.archive.settings.conflict_policy)
        if status is not DimseStatus.SUCCESS:
            logger.info("C-STORE from %s: %s -> 0x%04X", calling_ae, result.code, status)
        return status, comment
