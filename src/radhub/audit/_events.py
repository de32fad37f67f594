"""One audit record, its canonical form and its place in the hash chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["GENESIS", "OUTCOMES", "AuditEvent", "chain_hash", "iso"]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

OUTCOMES = ("success", "failure", "denied", "foreign")
"""``success``; ``failure`` (the request was bad or failed); ``denied`` (authentication or permission);
``foreign`` (another organisation's object, answered as not found)."""

# free-text detail is never copied into an export: only these keys, whose values are
# counts, statuses, codes and path templates (see radhub.api._auth._template)
DETAIL_KEYS = ("count", "method", "path", "reason", "status")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what to which object, from where, with what outcome.

    ``user`` is a login name, an API key's name or a calling AE title;
    ``org`` an organisation code; ``source`` an IP address, ``AE:<title>@<ip>``
    or ``cli``; ``object_ids`` the ids or UIDs acted on and ``study_uids``
    the studies touched (exported as ATNA participant objects). ``detail``
    holds small facts (a count, an HTTP method, a status): never patient
    names or ids.
    """

    action: str
    outcome: str = "success"
    user: str = ""
    org: str = ""
    source: str = ""
    object_type: str = ""
    object_ids: tuple[str, ...] = ()
    study_uids: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_utcnow)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {', '.join(OUTCOMES)}, not {self.outcome!r}")
        if not self.action:
            raise ValueError("an audit event needs an action")

    def row(self) -> dict[str, Any]:
        """The ``audit_events`` columns (without ``pk``, ``prev_hash`` and ``hash``)."""
        return {
            "at": self.at,
            "user_name": self.user[:128],
            "org_code": self.org[:64],
            "action": self.action[:64],
            "outcome": self.outcome,
            "source": self.source[:128],
            "object_type": self.object_type[:32],
            "object_ids": json.dumps(list(self.object_ids), separators=(",", ":")),
            "study_uids": json.dumps(list(self.study_uids), separators=(",", ":")),
            "detail": json.dumps(dict(self.detail), separators=(",", ":"), sort_keys=True, default=str),
        }


def iso(at: datetime | str) -> str:
    """``2026-12-07T10:00:00.123456Z`` (stored times are naive UTC; a driver may hand back text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical(pk: int, row: Mapping[str, Any]) -> str:
    """The text a record's hash covers: every column but the hashes, in a fixed order."""
    body = {
        "pk": int(pk),
        "at": iso(row["at"]),
        "user": row["user_name"],
        "org": row["org_code"],
        "action": row["action"],
        "outcome": row["outcome"],
        "source": row["source"],
        "object_type": row["object_type"],
        "object_ids": row["object_ids"],
        "study_uids": row["study_uids"],
        "detail": row["detail"],
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def chain_hash(prev_hash: str, pk: int, row: Mapping[str, Any]) -> str:
    """sha256 of the previous record's hash, a newline and this record's canonical text."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(pk, row)}".encode()).hexdigest()
