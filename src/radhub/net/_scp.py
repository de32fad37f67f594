"""radhub's DIMSE service class provider (pynetdicom).

Verification, Storage (every storage SOP class, every transfer syntax) and
Query/Retrieve FIND, MOVE and GET in the Study Root and Patient Root models.
Handlers translate DIMSE to the archive's library calls; they hold no rules.

>>> from radhub.archive import Archive
>>> from radhub.config import Settings
>>> archive = Archive.open(Settings(data_dir="/tmp/radhub"))   # doctest: +SKIP
>>> with DicomServer(archive, port=0) as server:               # doctest: +SKIP
...     print(server.ae_title, server.port)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.transport import RequestHandler

from radhub.archive import Archive
from radhub.config import DicomPeer
from radhub.net._contexts import (
    FIND_SOP_CLASSES,
    GET_SOP_CLASSES,
    MOVE_SOP_CLASSES,
    TRANSFER_SYNTAXES,
    VERIFICATION,
    storage_sop_classes,
)
from radhub.net._find import FindService
from radhub.net._retrieve import RetrieveService
from radhub.net._send import InstanceSender, enable_stored_sends
from radhub.net._status import DimseStatus
from radhub.net._store import StoreService
from radhub.retrieve import Retriever

logger = logging.getLogger(__name__)

__all__ = ["DicomServer"]


class _Association(Association):
    """An acceptor association that answers a C-STORE with a SOP class foreign to its context.

    A C-STORE request whose Affected SOP Class UID is not the abstract
    syntax of the presentation context it was sent on (a sender that read a
    damaged file sends such requests) gets the failure status 0x0122 "SOP
    Class not supported" (PS3.7 C.4.2.1.4, PS3.4 B.2.3) with an Error
    Comment. pynetdicom would abort the association, failing every later
    object of that sender as well.
    """

    def _serve_request(self, msg: Any, context_id: int) -> None:
        context = self._accepted_cx.get(context_id)
        if isinstance(msg, C_STORE) and context is not None and msg.MessageID is not None:
            sop_class = str(msg.AffectedSOPClassUID or "")
            if sop_class != str(context.abstract_syntax):
                logger.info(
                    "C-STORE refused: SOP class %r on a presentation context for %s",
                    sop_class[:64],
                    context.abstract_syntax,
                )
                rsp = C_STORE()
                rsp.MessageIDBeingRespondedTo = msg.MessageID
                rsp.AffectedSOPClassUID = msg.AffectedSOPClassUID
                rsp.AffectedSOPInstanceUID = msg.AffectedSOPInstanceUID
                rsp.Status = int(DimseStatus.SOP_CLASS_NOT_SUPPORTED)
                rsp.ErrorComment = "Affected SOP Class UID differs from the presentation context's"[:64]
                self.dimse.send_msg(rsp, context_id)
                return
        super()._serve_request(msg, context_id)


class _RequestHandler(RequestHandler):
    def _create_association(self) -> Association:
        assoc = super()._create_association()
        assoc.__class__ = _Association
        return assoc


class _ArchiveAE(AE):
    """An AE whose outgoing associations (C-MOVE destinations) send stored instances verbatim."""

    def __init__(self, ae_title: str, sender: InstanceSender) -> None:
        super().__init__(ae_title=ae_title)
        self._sender = sender

    def associate(self, *args: Any, **kwargs: Any) -> Association:
        assoc = super().associate(*args, **kwargs)
        enable_stored_sends(assoc, self._sender)
        return assoc

    def make_server(self, *args: Any, **kwargs: Any) -> Any:
        """Servers whose associations answer foreign SOP classes (see :class:`_Association`)."""
        kwargs.setdefault("request_handler", _RequestHandler)
        return super().make_server(*args, **kwargs)


class DicomServer:
    """The DIMSE server of one archive.

    Parameters
    ----------
    archive
        The archive that receives, is queried and serves objects.
    host, port
        Where to listen (defaults: ``settings.dicom_host`` / ``dicom_port``);
        ``port=0`` picks a free port, read it back from :attr:`port` after
        :meth:`start`.
    ae_title
        This server's AE title (default ``settings.ae_title``).
    allowed_callers
        Calling AE titles accepted; others are rejected at association
        ("calling AE title not recognised"). Default
        ``settings.allowed_callers``; empty accepts any caller.
    peers
        C-MOVE destinations (default ``settings.dicom_peers``).
    require_called_ae
        Reject associations whose Called AE Title is not :attr:`ae_title`.

    Notes
    -----
    Statuses: see :class:`radhub.net.DimseStatus` and ``docs/dimse.md``.
    """

    def __init__(
        self,
        archive: Archive,
        *,
        host: str | None = None,
        port: int | None = None,
        ae_title: str | None = None,
        allowed_callers: Sequence[str] | None = None,
        peers: Sequence[DicomPeer] | None = None,
        require_called_ae: bool = False,
    ) -> None:
        s = archive.settings
        self.archive = archive
        self.host = host or s.dicom_host
        self.port = port if port is not None else s.dicom_port
        self.ae_title = (ae_title or s.ae_title).strip()
        if not 0 < len(self.ae_title) <= 16 or "\\" in self.ae_title:
            raise ValueError(
                f"ae_title must be 1-16 characters without backslash, got {self.ae_title!r}"
            )
        self.allowed_callers = [
            c.strip()
            for c in (allowed_callers if allowed_callers is not None else s.allowed_callers)
        ]
        self.peers = list(peers if peers is not None else s.dicom_peers)
        self.require_called_ae = require_called_ae
        sender = InstanceSender(Retriever(archive))
        self._store = StoreService(archive)
        self._find = FindService(archive, self.ae_title)
        self._retrieve = RetrieveService(archive, sender, self.peer)
        self._server: Any = None
        self.ae = self._build_ae(sender)

    def _build_ae(self, sender: InstanceSender) -> AE:
        ae = _ArchiveAE(self.ae_title, sender)
        ae.maximum_pdu_size = 0
        ae.network_timeout = 60
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        ae.maximum_associations = 32
        ae.add_supported_context(VERIFICATION)
        for uid in storage_sop_classes():
            # scp_role/scu_role: accept SCP/SCU role selection, needed for C-GET
            ae.add_supported_context(uid, list(TRANSFER_SYNTAXES), scu_role=True, scp_role=True)
        for uid in (*FIND_SOP_CLASSES, *MOVE_SOP_CLASSES, *GET_SOP_CLASSES):
            ae.add_supported_context(uid)
        if self.allowed_callers:
            ae.require_calling_aet = list(self.allowed_callers)
        ae.require_called_aet = self.require_called_ae
        return ae

    def peer(self, ae_title: str) -> DicomPeer | None:
        """The configured C-MOVE destination with this AE title, if any."""
        wanted = ae_title.strip()
        for p in self.peers:
            if p.ae_title.strip() == wanted:
                return p
        return None

    def handlers(self) -> list[Any]:
        """pynetdicom event handlers bound to this server."""
        return [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_C_FIND, self._find),
            (evt.EVT_C_MOVE, self._retrieve.move),
            (evt.EVT_C_GET, self._retrieve.get),
        ]

    # -- lifecycle ---------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._server is not None

    def start(self) -> None:
        """Listen in background threads (returns at once)."""
        if self._server is not None:
            raise RuntimeError("the DIMSE server is already running; call stop() first")
        self._server = self.ae.start_server(
            (self.host, self.port),
            block=False,
            evt_handlers=self.handlers(),
        )
        self.port = int(self._server.server_address[1])
        logger.info("DIMSE server %s listening on %s:%d", self.ae_title, self.host, self.port)

    def stop(self) -> None:
        """Stop listening and close associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- handlers ----------------------------------------------------------
    def _on_echo(self, event: Any) -> int:
        self.archive.metrics.dimse_latency.labels(command="C-ECHO", status="0000").observe(0.0)
        return int(DimseStatus.SUCCESS)
