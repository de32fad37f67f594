"""The archive: settings, blob store, catalog, ingest pipeline and metrics wired together.

>>> from radhub.archive import Archive
>>> from radhub.config import Settings
>>> archive = Archive.open(Settings(data_dir="/tmp/radhub"))  # doctest: +SKIP
>>> archive.ingestor.ingest_file("CT_small.dcm").status      # doctest: +SKIP
<IngestStatus.STORED: 'stored'>
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from radhub.catalog import Catalog
from radhub.config import Settings
from radhub.identity import Directory, Principal, current_principal
from radhub.ingest import Ingestor, IngestResult
from radhub.metrics import ArchiveMetrics
from radhub.store import BlobStore, FileBlobStore

logger = logging.getLogger(__name__)

__all__ = ["Archive", "ConsistencyReport"]

_RECENT = 1000
"""Rows checked for their blob at start-up (all of them with ``full=True``)."""
_AUTH_LOCK = threading.Lock()


@dataclass(frozen=True)
class ConsistencyReport:
    """What the startup sweep found."""

    temp_files_removed: int
    rows_without_blob: list[str] = field(default_factory=list)
    blobs_without_row: int = 0


@dataclass
class Archive:
    """Composition root used by the HTTP API, the DIMSE server and the CLI."""

    settings: Settings
    store: BlobStore
    catalog: Catalog
    ingestor: Ingestor
    metrics: ArchiveMetrics
    directory: Directory
    audit: Any
    """The audit trail (:class:`radhub.audit.AuditLog`)."""
    _auth: Any = None

    @classmethod
    def open(cls, settings: Settings, *, sweep: bool = True) -> Archive:
        """Open (creating if needed) the archive described by ``settings``.

        With ``sweep`` the startup consistency check runs: stray temporary
        files from a crash are removed and index rows whose blob is missing
        are reported (logged; nothing is deleted).
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = FileBlobStore(settings.data_dir / "blobs")
        catalog = Catalog(settings.effective_database_url)
        metrics = ArchiveMetrics(catalog)
        from radhub.audit import AuditLog

        audit = AuditLog(catalog.engine)
        if settings.audit_syslog:
            from radhub.audit import SyslogSender

            audit.forwarders.append(SyslogSender.from_url(settings.audit_syslog))
        ingestor = Ingestor(store, catalog, settings, listeners=[metrics.on_ingest])
        archive = cls(settings, store, catalog, ingestor, metrics, Directory(catalog), audit)
        ingestor.listeners.append(archive._audit_ingest)
        if settings.auth:
            archive.auth  # noqa: B018 - read or make the signing secret before the first request
        if sweep:
            archive.check_consistency()
        return archive

    def check_consistency(self, *, full: bool = False) -> ConsistencyReport:
        """Remove stray temp files; report rows without blobs (and, if ``full``, blobs without rows).

        Without ``full`` only the newest 1000 rows are checked (start-up).
        """
        removed = self.store.sweep_temp(self.catalog.references_blob)
        # Blobs are durable before their row is committed (under their address, or
        # as a sealed temporary file that the sweep puts back), so a crash can only
        # leave stray temp files; the quick check looks at the newest rows
        # only, so that start-up time does not grow with the archive.
        referenced = self.catalog.blob_digests() if full else self.catalog.recent_blob_digests(_RECENT)
        missing = sorted(d for d in referenced if not self.store.exists(d))
        if missing:
            logger.error("%d catalog rows point to missing blobs", len(missing))
        orphans = 0
        if full:
            orphans = sum(1 for d in self.store.iter_digests() if d not in referenced)
        return ConsistencyReport(removed, missing, orphans)

    @property
    def auth(self) -> Any:
        """The :class:`radhub.identity.Authenticator` (made on first use: it reads or creates the secret)."""
        if self._auth is None:
            with _AUTH_LOCK:  # the first requests arrive together: make one Authenticator
                if self._auth is None:
                    from radhub.identity import Authenticator

                    self._auth = Authenticator(self.directory, self.settings)
        return self._auth

    def record(self, action: str, *, outcome: str = "success", principal: Principal | None = None, **fields: Any) -> None:
        """Add an audit record for ``principal`` (default: the current one; see :class:`radhub.audit.AuditEvent`)."""
        from radhub.audit import AuditEvent

        p = principal or current_principal()
        fields.setdefault("source", p.source)
        self.audit.record(AuditEvent(action, outcome, user=p.name, org=p.org_code, **fields))

    def _audit_ingest(self, source: str, result: IngestResult) -> None:
        """One audit record per object received (DICOM Instances Transferred / Import)."""
        self.record(
            "instance.store",
            outcome="success" if result.ok else "failure",
            object_type="instance",
            object_ids=tuple(u for u in (result.sop_instance_uid,) if u),
            study_uids=tuple(u for u in (result.study_instance_uid,) if u),
            detail={"status": result.status.value, "reason": result.code or "", "method": source},
        )

    def close(self) -> None:
        """Flush the audit trail and release database connections."""
        try:
            self.audit.close()
        finally:
            self.catalog.close()
