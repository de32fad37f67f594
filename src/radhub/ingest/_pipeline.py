"""The one ingest pipeline for C-STORE, STOW-RS, resumable upload and import.

receive (streamed to a temp blob, hashed) -> parse and validate the header
-> ingest checks (A8) -> conflict policy -> fsync + rename the blob ->
one catalog transaction -> result. The caller acknowledges only after
:meth:`Ingestor.ingest_stream` has returned a stored/duplicate result, so
an acknowledged object is always durable and indexed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from pydicom.dataset import Dataset

from radhub.catalog import Catalog, InstanceRecord, normalise_time
from radhub.config import ConflictPolicy, Settings
from radhub.dicom import InstanceHeader, InvalidDicomError, dataset_to_json, read_header
from radhub.ingest._checks import run_checks
from radhub.store import BlobStore, BlobTooLargeError, BlobWriter

logger = logging.getLogger(__name__)

__all__ = ["IngestResult", "IngestStatus", "Ingestor", "build_record"]

_CHUNK = 1 << 20


class IngestStatus(str, Enum):
    """Outcome of ingesting one object."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IngestResult:
    """What happened to one object; ``ok`` is whether the sender may consider it archived."""

    status: IngestStatus
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    transfer_syntax_uid: str | None = None
    sha256: str | None = None
    size: int = 0
    code: str | None = None
    reason: str | None = None
    checks: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Stored now or already stored with the same bytes."""
        return self.status in (IngestStatus.STORED, IngestStatus.DUPLICATE)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "status": self.status.value,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "sha256": self.sha256,
            "size": self.size,
            "code": self.code,
            "reason": self.reason,
            "checks": list(self.checks),
        }


Listener = Callable[[str, IngestResult], None]


def _s(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or getattr(value, "VM", 1) > 1 and not isinstance(value, str):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _date(ds: Dataset, keyword: str) -> str:
    v = _s(ds, keyword, 32)
    return v if len(v) == 8 and v.isdigit() else ""


def _int(ds: Dataset, keyword: str, default: int = 0) -> int:
    try:
        return int(ds.get(keyword, default) or default)
    except (TypeError, ValueError):
        return default


class Ingestor:
    """Receives objects from every entry point and archives them.

    Parameters
    ----------
    store, catalog
        Where blobs and index rows go.
    settings
        Size limit and conflict policy.
    listeners
        Called with ``(source, result)`` after each object (metrics, routing).
    """

    def __init__(
        self,
        store: BlobStore,
        catalog: Catalog,
        settings: Settings,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.listeners: list[Listener] = list(listeners)

    # -- entry points ------------------------------------------------------
    def ingest_bytes(self, data: bytes, *, source: str, calling_ae: str = "") -> IngestResult:
        """Ingest one object held in memory."""
        return self.ingest_stream([data], source=source, calling_ae=calling_ae)

    def ingest_file(self, path: str | Path, *, source: str = "import") -> IngestResult:
        """Ingest one object from a file (read in chunks)."""
        with open(path, "rb") as fh:
            return self.ingest_fileobj(fh, source=source)

    def ingest_fileobj(self, fh: BinaryIO, *, source: str, calling_ae: str = "") -> IngestResult:
        """Ingest one object from a binary file object (read in chunks)."""
        return self.ingest_stream(iter(lambda: fh.read(_CHUNK), b""), source=source, calling_ae=calling_ae)

    def ingest_stream(
        self, chunks: Iterable[bytes], *, source: str, calling_ae: str = ""
    ) -> IngestResult:
        """Ingest one object delivered as a sequence of byte chunks.

        Never raises for bad input: the result says ``rejected`` with a code
        and a reason. Storage or database failures do raise, and then nothing
        has been acknowledged.
        """
        writer = self.store.writer(max_size=self.settings.max_object_bytes)
        try:
            try:
                for chunk in chunks:
                    if chunk:
                        writer.write(chunk)
            except BlobTooLargeError as exc:
                return self._done(source, IngestResult(IngestStatus.REJECTED, code="too_large", reason=str(exc)))
            if writer.size == 0:
                writer.abort()
                return self._done(source, IngestResult(IngestStatus.REJECTED, code="empty", reason="the object is empty"))
            try:
                header = read_header(writer.temp_path(), )
            except InvalidDicomError as exc:
                writer.abort()
                return self._done(
                    source, IngestResult(IngestStatus.REJECTED, code=exc.code, reason=str(exc), size=writer.size)
                )
            return self._archive(writer, header, source=source, calling_ae=calling_ae)
        except BaseException:
            writer.abort()
            raise

    # -- internals ---------------------------------------------------------
    def _archive(self, writer: BlobWriter, header: InstanceHeader, *, source: str, calling_ae: str) -> IngestResult:
        ds = header.dataset
        checks = tuple(sorted(set(run_checks(ds)) | set(header.warnings)))
        digest = writer.current_sha256()
        size = writer.size
        base = dict(
            sop_instance_uid=header.sop_instance_uid,
            sop_class_uid=header.sop_class_uid,
            study_instance_uid=header.study_instance_uid,
            series_instance_uid=header.series_instance_uid,
            transfer_syntax_uid=header.transfer_syntax_uid,
            sha256=digest,
            size=size,
            checks=checks,
        )
        known_sha256 = self.catalog.known_sha256(header.sop_instance_uid)
        if known_sha256 is not None:
            if known_sha256 == digest:
                if self.store.exists(digest):
                    writer.abort()
                else:  # the blob was lost: repair it from the identical bytes
                    writer.commit()
                    logger.warning("re-stored missing blob for a known instance")
                return self._done(source, IngestResult(IngestStatus.DUPLICATE, **base))
            return self._conflict(writer, header, base, source)

        writer.commit()
        record = self._record(header, digest, size, checks, source, calling_ae)
        outcome = self.catalog.register(record, conflict_action=self._conflict_action())
        if outcome.status == "created":
            return self._done(source, IngestResult(IngestStatus.STORED, **base))
        if outcome.status == "duplicate":
            return self._done(source, IngestResult(IngestStatus.DUPLICATE, **base))
        if outcome.status == "series_mismatch":
            if not self.catalog.references_blob(digest):
                self.store.delete(digest)
            reason = (
                "SeriesInstanceUID is already filed under another study; "
                "a series belongs to one study (correct the UIDs and send again)"
            )
            return self._done(
                source, IngestResult(IngestStatus.REJECTED, code="series_mismatch", reason=reason, **base)
            )
        # a concurrent sender stored different bytes under this UID first
        if self.settings.conflict_policy is not ConflictPolicy.KEEP_BOTH and not self.catalog.references_blob(digest):
            self.store.delete(digest)
        return self._done(source, self._conflict_result(base))

    def _conflict_action(self) -> str:
        return {
            ConflictPolicy.KEEP_FIRST: "kept_first",
            ConflictPolicy.REJECT: "rejected",
            ConflictPolicy.KEEP_BOTH: "kept_both",
        }[self.settings.conflict_policy]

    def _conflict_result(self, base: dict[str, Any]) -> IngestResult:
        policy = self.settings.conflict_policy
        reason = (
            "an instance with this SOP Instance UID is already stored with different bytes; "
            f"policy {policy.value}: the stored instance is kept unchanged"
        )
        if policy is ConflictPolicy.REJECT:
            return IngestResult(IngestStatus.REJECTED, code="conflict", reason=reason, **base)
        if policy is ConflictPolicy.KEEP_BOTH:
            reason += "; the new bytes are kept as a recorded version"
        return IngestResult(IngestStatus.CONFLICT, code="conflict", reason=reason, **base)

    def _conflict(self, writer: BlobWriter, header: InstanceHeader, base: dict[str, Any], source: str) -> IngestResult:
        from radhub.catalog._catalog import _utcnow
        from radhub.catalog._models import Conflict

        if self.settings.conflict_policy is ConflictPolicy.KEEP_BOTH:
            writer.commit()
        else:
            writer.abort()
        with self.catalog._write() as s:
            s.add(
                Conflict(
                    sop_uid=header.sop_instance_uid,
                    blob_sha256=base["sha256"],
                    size=base["size"],
                    action=self._conflict_action(),
                    source=source,
                    received_at=_utcnow(),
                )
            )
        return self._done(source, self._conflict_result(base))

    def _record(
        self, header: InstanceHeader, digest: str, size: int, checks: tuple[str, ...], source: str, calling_ae: str
    ) -> InstanceRecord:
        return build_record(header, sha256=digest, size=size, checks=checks, source=source, calling_ae=calling_ae)

    def _done(self, source: str, result: IngestResult) -> IngestResult:
        if result.status is IngestStatus.REJECTED:
            logger.info("rejected object from %s: %s", source, result.code)
        for listener in self.listeners:
            try:
                listener(source, result)
            except Exception:  # a listener must not undo an acknowledged store
                logger.exception("ingest listener failed")
        return result


def build_record(
    header: InstanceHeader,
    *,
    sha256: str,
    size: int,
    checks: tuple[str, ...] = (),
    source: str = "",
    calling_ae: str = "",
) -> InstanceRecord:
    """The catalog record of a parsed object: what the ingest pipeline indexes.

    Also used to index in bulk (:func:`radhub.catalog._bulk.bulk_index`),
    so that a catalog built in bulk holds what ingest would have written.
    """
    ds = header.dataset
    meta = dataset_to_json(ds)
    meta["00083002"] = {"vr": "UI", "Value": [header.transfer_syntax_uid]}
    return InstanceRecord(
        sop_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        study_uid=header.study_instance_uid,
        series_uid=header.series_instance_uid,
        blob_sha256=sha256,
        size=size,
        transfer_syntax_uid=header.transfer_syntax_uid,
        metadata=meta,
        patient_id=_s(ds, "PatientID", 64),
        issuer=_s(ds, "IssuerOfPatientID", 64),
        patient_name=_s(ds, "PatientName", 324),
        birth_date=_date(ds, "PatientBirthDate"),
        sex=_s(ds, "PatientSex", 16),
        study_date=_date(ds, "StudyDate"),
        study_time=normalise_time(_s(ds, "StudyTime", 32))[:32],
        accession_number=_s(ds, "AccessionNumber", 64),
        study_id=_s(ds, "StudyID", 16),
        study_description=_s(ds, "StudyDescription", 256),
        referring_physician=_s(ds, "ReferringPhysicianName", 324),
        institution_name=_s(ds, "InstitutionName", 128),
        modality=_s(ds, "Modality", 16).upper(),
        series_number=_s(ds, "SeriesNumber", 12),
        series_description=_s(ds, "SeriesDescription", 256),
        body_part=_s(ds, "BodyPartExamined", 64),
        performed_start_date=_date(ds, "PerformedProcedureStepStartDate"),
        performed_start_time=normalise_time(_s(ds, "PerformedProcedureStepStartTime", 32))[:32],
        instance_number=_s(ds, "InstanceNumber", 12),
        frames=_int(ds, "NumberOfFrames", 1) if any(t in ds for t in (0x7FE00010, 0x7FE00008, 0x7FE00009)) else 0,
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
        source=source,
        calling_ae=calling_ae.strip()[:16],
        checks=checks,
    )
