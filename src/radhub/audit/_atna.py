"""Audit records as DICOM PS3.15 A.5 audit messages (IHE ATNA), RFC 5424 syslog, and files.

Each record becomes one ``AuditMessage``: EventIdentification (the DCM
event id for the action, the action code, UTC time, outcome 0/4/8),
the requesting ActiveParticipant (user and network access point),
AuditSourceIdentification (this radhub) and one ParticipantObject per
study (Study Instance UID, code 110180). Only UIDs, ids and a small
allow-list of detail keys are exported, never patient names or ids.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from radhub.audit._events import DETAIL_KEYS

__all__ = ["SyslogSender", "event_code", "export_file", "syslog_message", "to_atna_xml"]

logger = logging.getLogger(__name__)

# (DCM code, meaning, EventActionCode, EventTypeCode or None) per action prefix, most specific first
_EVENTS: tuple[tuple[str, tuple[str, str, str, tuple[str, str] | None]], ...] = (
    ("instance.store", ("110104", "DICOM Instances Transferred", "C", None)),
    ("instance.import", ("110107", "Import", "C", None)),
    ("study.read", ("110103", "DICOM Instances Accessed", "R", None)),
    ("study.delete", ("110105", "DICOM Study Deleted", "D", None)),
    ("study.share", ("110106", "Export", "R", None)),
    ("study.unshare", ("110113", "Security Alert", "E", ("110129", "Security Configuration"))),
    ("query", ("110112", "Query", "E", None)),
    ("login.", ("110114", "User Authentication", "E", ("110122", "Login"))),
    ("login", ("110114", "User Authentication", "E", ("110122", "Login"))),
    ("logout", ("110114", "User Authentication", "E", ("110123", "Logout"))),
    ("access.denied", ("110113", "Security Alert", "E", None)),
    ("association.rejected", ("110113", "Security Alert", "E", ("110126", "Node Authentication"))),
    ("user.", ("110113", "Security Alert", "E", ("110137", "User security Attributes Changed"))),
    ("apikey.", ("110113", "Security Alert", "E", ("110137", "User security Attributes Changed"))),
    ("org.", ("110113", "Security Alert", "E", ("110129", "Security Configuration"))),
    ("audit.", ("110101", "Audit Log Used", "R", None)),
)
_DEFAULT_EVENT = ("110100", "Application Activity", "E", None)
_OUTCOME = {"success": "0", "failure": "4", "foreign": "4", "denied": "8"}


def event_code(action: str) -> tuple[str, str, str, tuple[str, str] | None]:
    """The DCM EventID (code, meaning), EventActionCode and EventTypeCode for a radhub action."""
    for prefix, code in _EVENTS:
        if action == prefix or (prefix.endswith(".") and action.startswith(prefix)):
            return code
    return _DEFAULT_EVENT


def _a(name: str, value: Any) -> str:
    return f" {name}={quoteattr(str(value))}"


def to_atna_xml(record: Mapping[str, Any], *, source_id: str = "radhub") -> str:
    """One record (as :meth:`AuditLog.query` returns it) as a PS3.15 A.5.1 ``AuditMessage``."""
    code, meaning, action_code, type_code = event_code(record["action"])
    parts = ["<AuditMessage>"]
    parts.append(
        "<EventIdentification"
        + _a("EventActionCode", action_code)
        + _a("EventDateTime", record["at"])
        + _a("EventOutcomeIndicator", _OUTCOME.get(record["outcome"], "4"))
        + ">"
    )
    parts.append("<EventID" + _a("csd-code", code) + _a("codeSystemName", "DCM") + _a("originalText", meaning) + "/>")
    if type_code is not None:
        parts.append("<EventTypeCode" + _a("csd-code", type_code[0]) + _a("codeSystemName", "DCM") + _a("originalText", type_code[1]) + "/>")
    parts.append("</EventIdentification>")
    source = str(record.get("source") or "")
    host = source.rsplit("@", 1)[-1] if source.startswith("AE:") else source
    participant = "<ActiveParticipant" + _a("UserID", record.get("user") or "unknown") + _a("UserIsRequestor", "true")
    if source.startswith("AE:"):
        participant += _a("AlternativeUserID", source[3:].split("@", 1)[0])
    if host and host != "cli":
        participant += _a("NetworkAccessPointID", host) + _a("NetworkAccessPointTypeCode", "2")
    parts.append(participant + ">")
    if record.get("org"):
        parts.append("<RoleIDCode" + _a("csd-code", record["org"]) + _a("codeSystemName", "radhub organisation") + _a("originalText", record["org"]) + "/>")
    parts.append("</ActiveParticipant>")
    parts.append("<AuditSourceIdentification" + _a("AuditSourceID", source_id) + ">")
    parts.append("<AuditSourceTypeCode" + _a("csd-code", "4") + _a("codeSystemName", "DCM") + _a("originalText", "Application Server Process") + "/>")
    parts.append("</AuditSourceIdentification>")
    for uid in record.get("study_uids") or ():
        parts.append(
            "<ParticipantObjectIdentification"
            + _a("ParticipantObjectID", uid)
            + _a("ParticipantObjectTypeCode", "2")
            + _a("ParticipantObjectTypeCodeRole", "3")
            + ">"
        )
        parts.append("<ParticipantObjectIDTypeCode" + _a("csd-code", "110180") + _a("codeSystemName", "DCM") + _a("originalText", "Study Instance UID") + "/>")
        parts.append("</ParticipantObjectIdentification>")
    detail = record.get("detail") or {}
    kept = {k: detail[k] for k in DETAIL_KEYS if k in detail}
    others = [i for i in (record.get("object_ids") or ()) if i not in (record.get("study_uids") or ())]
    if kept or others:
        parts.append(
            "<ParticipantObjectIdentification"
            + _a("ParticipantObjectID", f"radhub-audit-{record['pk']}")
            + _a("ParticipantObjectTypeCode", "4")
            + ">"
        )
        parts.append("<ParticipantObjectIDTypeCode" + _a("csd-code", record.get("object_type") or "event") + _a("codeSystemName", "radhub") + _a("originalText", record["action"]) + "/>")
        for k, v in kept.items():
            parts.append("<ParticipantObjectDetail" + _a("type", k) + _a("value", str(v)) + "/>")
        for i in others[:20]:
            parts.append("<ParticipantObjectDetail" + _a("type", "id") + _a("value", i) + "/>")
        parts.append("</ParticipantObjectIdentification>")
    parts.append("</AuditMessage>")
    return "".join(parts)


def syslog_message(record: Mapping[str, Any], *, hostname: str | None = None, app: str = "radhub") -> str:
    """RFC 5424 with the ATNA message as MSG (RFC 5425 / IHE ITI-20: MSGID ``IHE+RFC-3881``)."""
    pri = 10 * 8 + (5 if record["outcome"] == "success" else 4)  # facility authpriv; notice / warning
    host = (hostname or socket.gethostname() or "-")[:255]
    return f"<{pri}>1 {record['at']} {host} {app} - IHE+RFC-3881 - \ufeff{to_atna_xml(record)}"


def _frame(message: str) -> bytes:
    data = message.encode("utf-8")
    return str(len(data)).encode() + b" " + data


class SyslogSender:
    """Send records to an audit record repository: syslog over TCP, or TLS (RFC 5425), octet-counted frames."""

    def __init__(self, host: str, port: int, *, tls: bool = False, context: ssl.SSLContext | None = None, timeout: float = 5.0) -> None:
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self.context = context if context is not None else (ssl.create_default_context() if tls else None)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.sent = 0

    @classmethod
    def from_url(cls, url: str) -> SyslogSender:
        """``HOST:PORT`` (TCP) or ``tls://HOST:PORT``."""
        tls = url.startswith("tls://")
        rest = url.split("://", 1)[-1]
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"audit syslog target must be HOST:PORT or tls://HOST:PORT, not {url!r}")
        return cls(host, int(port), tls=tls)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_hostname=self.host)
        return sock

    def __call__(self, records: Iterable[Mapping[str, Any]]) -> None:
        payload = b"".join(_frame(syslog_message(r)) for r in records)
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._sock is None:
                        self._sock = self._connect()
                    self._sock.sendall(payload)
                    self.sent += 1
                    return
                except OSError:
                    self.close()
                    if attempt == 2:
                        raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def export_file(records: Iterable[Mapping[str, Any]], path: Path, *, fmt: str = "xml") -> int:
    """Write records to ``path``: ``xml`` (one AuditMessage per line), ``syslog`` (RFC 5424 lines) or ``jsonl``."""
    if fmt not in ("xml", "syslog", "jsonl"):
        raise ValueError(f"export format must be xml, syslog or jsonl, not {fmt!r}")
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            if fmt == "xml":
                fh.write(to_atna_xml(r) + "\n")
            elif fmt == "syslog":
                fh.write(syslog_message(r) + "\n")
            else:
                fh.write(json.dumps(r, sort_keys=True) + "\n")
            n += 1
    return n
