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

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Self

from pydicom.multival import MultiValue
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.transport import RequestHandler

from radhub.archive import Archive
from radhub.config import DicomPeer
from radhub.identity import SYSTEM, Permission, Principal, Role, current_principal, principal_context
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

_REGISTERED_TTL = 2.0


def _refused(command: str) -> Any:
    """The answer to a request the caller may not make (0x0124 Refused: not authorised)."""
    if command == "C-STORE":
        return int(DimseStatus.NOT_AUTHORIZED)

    def gen() -> Iterator[Any]:
        if command == "C-FIND":
            yield int(DimseStatus.NOT_AUTHORIZED), None
        elif command == "C-MOVE":
            yield None, None  # no destination for this caller: 0xA801
        else:
            yield 1
            yield int(DimseStatus.NOT_AUTHORIZED), None

    return gen()


def _in_context(gen: Iterator[Any], principal: Principal) -> Iterator[Any]:
    """Drive a handler's generator with ``principal`` set for each step (pynetdicom iterates it later)."""
    while True:
        with principal_context(principal):
            try:
                item = next(gen)
            except StopIteration:
                return
        yield item


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

    def __init__(self, ae_title: str, sender: InstanceSender, callers: Callable[[], list[str]] | None = None) -> None:
        super().__init__(ae_title=ae_title)
        self._sender = sender
        self._callers = callers

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        """The accepted calling AE titles: with authentication, those registered to an organisation.

        pynetdicom accepts any caller when the list is empty; with
        authentication on and nothing registered the list holds one title no
        caller can have (a backslash), so every association is rejected.
        """
        if self._callers is None:
            return self._require_calling_aet
        return self._callers() or ["\\"]

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        AE.require_calling_aet.fset(self, ae_titles)  # type: ignore[attr-defined]

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
        self.auth = bool(s.auth)
        self._registered: tuple[float, dict[str, int]] = (0.0, {})
        self._registered_lock = threading.Lock()
        sender = InstanceSender(Retriever(archive))
        self._store = StoreService(archive)
        self._find = FindService(archive, self.ae_title)
        self._retrieve = RetrieveService(archive, sender, self.peer)
        self._server: Any = None
        self.ae = self._build_ae(sender)

    def _build_ae(self, sender: InstanceSender) -> AE:
        ae = _ArchiveAE(self.ae_title, sender, self._accepted_callers if self.auth else None)
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

    # -- identity ------------------------------------------------------------
    def registered_callers(self) -> dict[str, int]:
        """Calling AE titles registered to organisations (re-read at most every 2 s)."""
        with self._registered_lock:
            at, found = self._registered
            if time.monotonic() - at > _REGISTERED_TTL:
                found = self.archive.directory.ae_titles()
                self._registered = (time.monotonic(), found)
            return found

    def _accepted_callers(self) -> list[str]:
        registered = list(self.registered_callers())
        if self.allowed_callers:
            return [a for a in registered if a in self.allowed_callers]
        return registered

    def _principal(self, event: Any) -> Principal:
        """The principal of an association: the organisation its calling AE title is registered to."""
        assoc = event.assoc
        ae = str(assoc.requestor.ae_title or "").strip()
        source = f"AE:{ae}@{assoc.requestor.address}"
        if not self.auth:
            return SYSTEM.with_source(source)
        org_pk = self.registered_callers().get(ae)
        if org_pk is None:  # unregistered since the association was accepted
            return Principal("ae", ae, -1, "", frozenset(), source=source, via="dimse")
        org = self.archive.directory.org(org_pk)
        return Principal("ae", ae, org.pk, org.code, frozenset({Role.GATEWAY.value}), source=source, via="dimse")

    def _as_caller(self, handler: Callable[[Any], Any], command: str) -> Callable[[Any], Any]:
        """``handler`` run as the association's principal (generators: each step), with an audit record."""

        need = Permission.WRITE if command == "C-STORE" else Permission.READ

        def run(event: Any) -> Any:
            principal = self._principal(event)
            if not principal.can(need):
                logger.warning("%s from AE %r refused: not authorised", command, principal.name[:16])
                return _refused(command)
            with principal_context(principal):
                if command in ("C-FIND", "C-MOVE", "C-GET"):
                    self._audit_request(event, command)
                result = handler(event)
            if inspect.isgenerator(result):
                return _in_context(result, principal)
            return result

        return run

    def _audit_request(self, event: Any, command: str) -> None:
        try:
            ident = event.identifier
            level = str(ident.get("QueryRetrieveLevel", ""))
            value = ident.get("StudyInstanceUID", "")
            studies = tuple(str(u) for u in (value if isinstance(value, MultiValue) else [value]) if u)
        except Exception:  # noqa: BLE001 - a malformed identifier is answered by the handler
            level, studies = "", ()
        self.archive.record(
            "query" if command == "C-FIND" else "study.read",
            object_type="dimse",
            study_uids=studies[:50],
            detail={"method": command, "reason": level[:16]},
        )

    def _on_rejected(self, event: Any) -> None:
        assoc = event.assoc
        ae = str(assoc.requestor.ae_title or "").strip()
        logger.warning("association from AE %r at %s rejected: calling AE title not registered", ae[:16], assoc.requestor.address)
        self.archive.record(
            "association.rejected", outcome="denied", principal=Principal("ae", ae[:16]),
            source=f"AE:{ae[:16]}@{assoc.requestor.address}", object_type="dimse",
            detail={"reason": "calling AE title not registered"},
        )

    def peer(self, ae_title: str) -> DicomPeer | None:
        """The C-MOVE destination with this AE title: with authentication, one registered to the caller's organisation."""
        wanted = ae_title.strip()
        if self.auth:
            principal = current_principal()
            if principal.kind != "system":
                found = self.archive.directory.destination(principal.org_pk, wanted)
                return DicomPeer(ae_title=found[0], host=found[1], port=found[2]) if found else None
        for p in self.peers:
            if p.ae_title.strip() == wanted:
                return p
        return None

    def handlers(self) -> list[Any]:
        """pynetdicom event handlers bound to this server."""
        return [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._as_caller(self._store, "C-STORE")),
            (evt.EVT_C_FIND, self._as_caller(self._find, "C-FIND")),
            (evt.EVT_C_MOVE, self._as_caller(self._retrieve.move, "C-MOVE")),
            (evt.EVT_C_GET, self._as_caller(self._retrieve.get, "C-GET")),
            (evt.EVT_REJECTED, self._on_rejected),
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
