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
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from radhub.catalog import DEFAULT_ORG_PK, Catalog, ConflictRecord, InstanceRecord, current_scope, normalise_time
from radhub.config import ConflictPolicy, Settings
from radhub.dicom import InstanceHeader, dataset_to_json, json_text
from radhub.ingest._parse import Parsed, ParserPool, default_workers
from radhub.store import BlobStore, BlobTooLargeError, BlobWriter

logger = logging.getLogger(__name__)

__all__ = ["IngestBatch", "IngestResult", "IngestStatus", "Ingestor", "build_record"]

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


def _s(meta: dict[str, Any], keyword: str, limit: int) -> str:
    return (json_text(meta, keyword) or "").strip()[:limit]


def _date(meta: dict[str, Any], keyword: str) -> str:
    v = _s(meta, keyword, 32)
    return v if len(v) == 8 and v.isdigit() else ""


def _int(meta: dict[str, Any], keyword: str, default: int = 0) -> int:
    try:
        return int(float(json_text(meta, keyword) or default))
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
        workers = (
            settings.ingest_workers if settings.ingest_workers is not None else default_workers()
        )
        self.parser = ParserPool.shared(workers)
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
        return self.ingest_stream(
            iter(lambda: fh.read(_CHUNK), b""), source=source, calling_ae=calling_ae
        )

    def ingest_stream(
        self,
        chunks: Iterable[bytes],
        *,
        source: str,
        calling_ae: str = "",
        expect_study_uid: str | None = None,
    ) -> IngestResult:
        """Ingest one object delivered as a sequence of byte chunks.

        Never raises for bad input: the result says ``rejected`` with a code
        and a reason. Storage or database failures do raise, and then nothing
        has been acknowledged. ``expect_study_uid`` rejects (``study_mismatch``)
        an object of another study, as STOW-RS to ``/studies/{study}`` must.
        """
        batch = self.batch(source=source, calling_ae=calling_ae)
        batch.add(chunks, expect_study_uid=expect_study_uid)
        return batch.finish()[0]

    def batch(self, *, source: str, calling_ae: str = "", org_pk: int | None = None) -> IngestBatch:
        """Objects received together and acknowledged together (one STOW-RS request).

        Each object is received, parsed and checked as it arrives; the
        durable part -- blob flushes and the catalog transaction -- is done
        once for all of them by :meth:`IngestBatch.finish`. The objects
        are filed under organisation ``org_pk`` (default: the ``write_org``
        of the request's tenant scope, else the default organisation).
        """
        return IngestBatch(self, source=source, calling_ae=calling_ae, org_pk=org_pk)

    # -- internals ---------------------------------------------------------
    def _receive(
        self, chunks: Iterable[bytes], *, source: str, calling_ae: str, expect_study_uid: str | None
    ) -> IngestResult | _Spooled:
        """Spool one object to a temporary blob and start parsing it (see :mod:`radhub.ingest._parse`)."""
        writer = self.store.writer(max_size=self.settings.max_object_bytes)
        try:
            try:
                for chunk in chunks:
                    if chunk:
                        writer.write(chunk)
            except BlobTooLargeError as exc:
                return IngestResult(IngestStatus.REJECTED, code="too_large", reason=str(exc))
            if writer.size == 0:
                writer.abort()
                return IngestResult(
                    IngestStatus.REJECTED, code="empty", reason="the object is empty"
                )
            writer.start_writeback()  # the bytes go to disk while the next objects arrive
            args = {
                "path": str(writer.temp_path()),
                "size": writer.size,
                "sha256": writer.current_sha256(),
                "source": source,
                "calling_ae": calling_ae,
                "expect_study_uid": expect_study_uid,
            }
            return _Spooled(writer, self.parser.submit(**args), args)
        except BaseException:
            writer.abort()
            raise

    def _parsed(self, spooled: _Spooled) -> IngestResult | _Received:
        """Wait for an object's parse: a rejection (its bytes discarded) or what to archive."""
        parsed = self.parser.result(spooled.future, **spooled.args)
        if parsed.record is None:
            spooled.writer.abort()
            fields = dict(parsed.base) or {"size": spooled.writer.size}
            return IngestResult(
                IngestStatus.REJECTED, code=parsed.code, reason=parsed.reason, **fields
            )
        return _Received(spooled.writer, parsed.record, parsed.base)

    def _settle(self, received: list[_Received], source: str) -> list[IngestResult]:
        """Archive received objects: duplicates, conflicts, durable blobs, one catalog transaction.

        Objects repeating a SOP Instance UID of an earlier object of the same
        batch (a study sent again re-encoded, say) are settled after it, as
        if sent next: they are then found duplicates or conflicts of it
        without committing their blobs.
        """
        seen: set[str] = set()
        first: list[int] = []
        repeats: list[int] = []
        for i, r in enumerate(received):
            (repeats if r.record.sop_uid in seen else first).append(i)
            seen.add(r.record.sop_uid)
        if not repeats:
            return self._settle_unique(received, source)
        results: list[IngestResult | None] = [None] * len(received)
        for part in (first, repeats):
            for i, result in zip(part, self._settle([received[i] for i in part], source)):
                results[i] = result
        return [r for r in results if r is not None]

    def _settle_unique(self, received: list[_Received], source: str) -> list[IngestResult]:
        """:meth:`_settle` of objects with distinct SOP Instance UIDs."""
        known = self.catalog.known_owners_many([r.record.sop_uid for r in received])
        results: list[IngestResult | None] = [None] * len(received)
        new: list[int] = []
        conflicting: list[int] = []
        for i, r in enumerate(received):
            existing, org = known.get(r.record.sop_uid, (None, r.record.org_pk))
            if org != r.record.org_pk:
                r.writer.abort()
                results[i] = self._foreign(r.base)
            elif existing is None:
                new.append(i)
            elif existing == r.record.blob_sha256:
                if self.store.exists(existing):
                    r.writer.abort()
                else:  # the blob was lost: repair it from the identical bytes
                    r.writer.commit()
                    logger.warning("re-stored missing blob for a known instance")
                results[i] = IngestResult(IngestStatus.DUPLICATE, **r.base)
            else:
                conflicting.append(i)
        action = self._conflict_action()
        keep = self.settings.conflict_policy is ConflictPolicy.KEEP_BOTH
        for i in conflicting:
            if not keep:
                received[i].writer.abort()
            results[i] = self._conflict_result(received[i].base)
        conflicts = [
            ConflictRecord(r.record.sop_uid, r.record.blob_sha256, r.record.size, source)
            for r in (received[i] for i in conflicting)
        ]
        durable = new + (conflicting if keep else [])
        if durable:
            self.store.commit_many([received[i].writer for i in durable])
        if new:
            # one transaction indexes the new objects and logs the conflicts,
            # shared with concurrent senders (group commit)
            records = [received[i].record for i in new]
            outcomes = self.catalog.register_many(records, conflict_action=action, conflicts=conflicts)
            for i, outcome in zip(new, outcomes):
                results[i] = self._indexed(received[i], outcome.status)
        elif conflicts:
            self.catalog.record_conflicts(conflicts, action=action)
        return [r for r in results if r is not None]

    def _indexed(self, received: _Received, status: str) -> IngestResult:
        """The result of a committed blob once the catalog has said what it did with it."""
        base = received.base
        digest = received.record.blob_sha256
        if status == "created":
            return IngestResult(IngestStatus.STORED, **base)
        if status == "duplicate":
            return IngestResult(IngestStatus.DUPLICATE, **base)
        if status == "foreign":
            if not self.catalog.references_blob(digest):
                self.store.delete(digest)
            return self._foreign(base)
        if status == "series_mismatch":
            if not self.catalog.references_blob(digest):
                self.store.delete(digest)
            reason = (
                "SeriesInstanceUID is already filed under another study; "
                "a series belongs to one study (correct the UIDs and send again)"
            )
            return IngestResult(
                IngestStatus.REJECTED, code="series_mismatch", reason=reason, **base
            )
        # a concurrent sender (or an earlier object of this batch) stored other bytes under this UID
        if (
            self.settings.conflict_policy is not ConflictPolicy.KEEP_BOTH
            and not self.catalog.references_blob(digest)
        ):
            self.store.delete(digest)
        return self._conflict_result(base)

    def _foreign(self, base: dict[str, Any]) -> IngestResult:
        reason = (
            "the Study, Series or SOP Instance UID is already used by another organisation's object; "
            "nothing was stored or changed (UIDs must be unique: check the modality's UID root)"
        )
        return IngestResult(IngestStatus.REJECTED, code="uid_in_use", reason=reason, **base)

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

    def _done(self, source: str, result: IngestResult) -> IngestResult:
        """Log and tell the listeners about one final result."""
        if result.status is IngestStatus.REJECTED:
            logger.info("rejected object from %s: %s", source, result.code)
        for listener in self.listeners:
            try:
                listener(source, result)
            except Exception:  # a listener must not undo an acknowledged store
                logger.exception("ingest listener failed")
        return result


@dataclass
class _Spooled:
    """An object spooled to a temporary blob, its parse under way."""

    writer: BlobWriter
    future: Future[Parsed]
    args: dict[str, Any]


@dataclass
class _Received:
    """An object spooled to a temporary blob and parsed, waiting to be archived."""

    writer: BlobWriter
    record: InstanceRecord
    base: dict[str, Any]


class IngestBatch:
    """Objects received together and archived together.

    :meth:`add` receives, parses and checks one object (rejections are
    decided at once); :meth:`finish` archives every object added since the
    last call -- one known-UID lookup, the blobs made durable together
    (:meth:`BlobStore.commit_many`), one catalog transaction -- and returns
    their results in order. Nothing is acknowledged before :meth:`finish`
    returns. Use it as a context manager, or call :meth:`abort`, so that a
    failure discards the spooled objects.
    """

    def __init__(
        self, ingestor: Ingestor, *, source: str, calling_ae: str = "", org_pk: int | None = None
    ) -> None:
        self._ingestor = ingestor
        self.source = source
        self.calling_ae = calling_ae
        if org_pk is None:
            scope = current_scope()
            org_pk = scope.write_org if scope is not None else DEFAULT_ORG_PK
        self.org_pk = org_pk
        self._slots: list[IngestResult | _Spooled] = []
        self.pending_bytes = 0

    def __len__(self) -> int:
        return len(self._slots)

    def add(self, chunks: Iterable[bytes], *, expect_study_uid: str | None = None) -> None:
        """Receive one object (see :meth:`Ingestor.ingest_stream` for ``expect_study_uid``)."""
        slot = self._ingestor._receive(
            chunks,
            source=self.source,
            calling_ae=self.calling_ae,
            expect_study_uid=expect_study_uid,
        )
        if isinstance(slot, _Spooled):
            self.pending_bytes += slot.writer.size
        self._slots.append(slot)

    def finish(self) -> list[IngestResult]:
        """Archive the objects added since the last call; their results, in order.

        Storage or database failures raise; then none of these objects is
        acknowledged and their spooled bytes are discarded.
        """
        slots, self._slots, self.pending_bytes = self._slots, [], 0
        try:
            parsed = [self._ingestor._parsed(s) if isinstance(s, _Spooled) else s for s in slots]
            received = [p for p in parsed if isinstance(p, _Received)]
            for r in received:
                if r.record.org_pk != self.org_pk:
                    r.record = replace(r.record, org_pk=self.org_pk)
            settled = iter(self._ingestor._settle(received, self.source)) if received else iter(())
        except BaseException:
            for s in slots:
                if isinstance(s, _Spooled):
                    s.writer.abort()
            raise
        results = [next(settled) if isinstance(p, _Received) else p for p in parsed]
        return [self._ingestor._done(self.source, r) for r in results]

    def abort(self) -> None:
        """Discard every object added since the last :meth:`finish`."""
        for s in self._slots:
            if isinstance(s, _Spooled):
                s.writer.abort()
        self._slots, self.pending_bytes = [], 0

    def __enter__(self) -> IngestBatch:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.abort()


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
    meta = dict(header.metadata) if header.metadata is not None else dataset_to_json(header.dataset)
    meta["00083002"] = {"vr": "UI", "Value": [header.transfer_syntax_uid]}
    has_pixels = any(t in meta for t in ("7FE00010", "7FE00008", "7FE00009"))
    return InstanceRecord(
        sop_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        study_uid=header.study_instance_uid,
        series_uid=header.series_instance_uid,
        blob_sha256=sha256,
        size=size,
        transfer_syntax_uid=header.transfer_syntax_uid,
        metadata=meta,
        patient_id=_s(meta, "PatientID", 64),
        issuer=_s(meta, "IssuerOfPatientID", 64),
        patient_name=_s(meta, "PatientName", 324),
        birth_date=_date(meta, "PatientBirthDate"),
        sex=_s(meta, "PatientSex", 16),
        study_date=_date(meta, "StudyDate"),
        study_time=normalise_time(_s(meta, "StudyTime", 32))[:32],
        accession_number=_s(meta, "AccessionNumber", 64),
        study_id=_s(meta, "StudyID", 16),
        study_description=_s(meta, "StudyDescription", 256),
        referring_physician=_s(meta, "ReferringPhysicianName", 324),
        institution_name=_s(meta, "InstitutionName", 128),
        modality=_s(meta, "Modality", 16).upper(),
        series_number=_s(meta, "SeriesNumber", 12),
        series_description=_s(meta, "SeriesDescription", 256),
        body_part=_s(meta, "BodyPartExamined", 64),
        performed_start_date=_date(meta, "PerformedProcedureStepStartDate"),
        performed_start_time=normalise_time(_s(meta, "PerformedProcedureStepStartTime", 32))[:32],
        instance_number=_s(meta, "InstanceNumber", 12),
        frames=_int(meta, "NumberOfFrames", 1) if has_pixels else 0,
        rows=_int(meta, "Rows"),
        columns=_int(meta, "Columns"),
        source=source,
        calling_ae=calling_ae.strip()[:16],
        checks=checks,
    )
