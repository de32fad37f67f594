"""radhub's DIMSE service class provider (pynetdicom): C-ECHO and C-STORE.

Handlers translate DIMSE to the archive's library calls; they hold no rules.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from radhub.archive import Archive
from radhub.dicom import part10_prefix
from radhub.ingest import IngestStatus

logger = logging.getLogger(__name__)

__all__ = ["DicomServer"]

# C-STORE statuses (PS3.4 B.2.3)
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_DUPLICATE_WARNING = 0x0111  # Duplicate SOP Instance (PS3.7 C.4.2 warning)


class DicomServer:
    """The DIMSE server of one archive.

    Parameters
    ----------
    archive
        The archive that receives and serves objects.
    host, port, ae_title
        Where to listen (defaults from the archive's settings).
    """

    def __init__(self, archive: Archive, *, host: str | None = None, port: int | None = None, ae_title: str | None = None) -> None:
        s = archive.settings
        self.archive = archive
        self.host = host or s.dicom_host
        self.port = port if port is not None else s.dicom_port
        self.ae_title = ae_title or s.ae_title
        self._server: Any = None
        self.ae = self._build_ae()

    def _build_ae(self) -> AE:
        ae = AE(ae_title=self.ae_title)
        ae.maximum_pdu_size = 0
        ae.network_timeout = 60
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        ae.maximum_associations = 32
        ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        callers = self.archive.settings.allowed_callers
        if callers:
            ae.require_calling_aet = list(callers)
        return ae

    def handlers(self) -> list[tuple[Any, Any]]:
        """pynetdicom event handlers bound to this server."""
        return [(evt.EVT_C_ECHO, self._on_echo), (evt.EVT_C_STORE, self._on_store)]

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Listen in background threads."""
        self._server = self.ae.start_server(
            (self.host, self.port), block=False, evt_handlers=self.handlers()
        )
        self.port = self._server.server_address[1]
        logger.info("DIMSE server %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        """Stop listening and close associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    # -- handlers ----------------------------------------------------------
    def _on_echo(self, event: Any) -> int:
        return STATUS_SUCCESS

    def _on_store(self, event: Any) -> int:
        start = time.perf_counter()
        req = event.request
        cx = event.context
        calling = event.assoc.requestor.ae_title
        prefix = part10_prefix(
            req.AffectedSOPClassUID, req.AffectedSOPInstanceUID, cx.transfer_syntax, source_ae=calling
        )
        stream = req.DataSet
        stream.seek(0)
        result = self.archive.ingestor.ingest_stream(
            [prefix, stream.getvalue()], source="cstore", calling_ae=calling
        )
        if result.status is IngestStatus.REJECTED:
            status = STATUS_CANNOT_UNDERSTAND if result.code != "conflict" else STATUS_DATASET_MISMATCH
        elif result.ok and result.sop_instance_uid != req.AffectedSOPInstanceUID:
            status = STATUS_DATASET_MISMATCH
        else:
            status = STATUS_SUCCESS
        self.archive.metrics.dimse_latency.labels(command="C-STORE", status=f"{status:04X}").observe(
            time.perf_counter() - start
        )
        return status
