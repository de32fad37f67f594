"""The audit trail: an append-only, hash-chained table written by one background writer per process.

Callers never wait for the database: :meth:`AuditLog.record` queues the
event and a daemon thread writes what has gathered every ``flush_interval``
seconds in one transaction. Within that transaction the writer locks the
chain's head (``audit_head``; ``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite), numbers the records after it, chains their
hashes and moves the head, so several processes append to one chain.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from radhub.audit._events import GENESIS, AuditEvent, chain_hash, iso

__all__ = ["AuditLog", "VerifyResult"]

logger = logging.getLogger(__name__)

_meta = MetaData()
audit_events = Table(
    "audit_events",
    _meta,
    Column("pk", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime, nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("org_code", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("source", String(128), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_ids", Text, nullable=False),
    Column("study_uids", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
audit_head = Table(
    "audit_head",
    _meta,
    Column("pk", Integer, primary_key=True, autoincrement=False),
    Column("last_pk", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

_MAX_BATCH = 2000
_MAX_PENDING = 200_000


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :meth:`AuditLog.verify` found: ``ok`` when every record's hash and link hold."""

    ok: bool
    checked: int
    head_pk: int
    head_hash: str
    problems: tuple[str, ...] = field(default_factory=tuple)


class AuditLog:
    """Append audit events to the catalog database; query and verify them."""

    def __init__(self, engine: Engine, *, flush_interval: float = 0.2) -> None:
        self.engine = engine
        self.flush_interval = flush_interval
        self.forwarders: list[Callable[[list[dict[str, Any]]], None]] = []
        """Called after each committed batch with its records (e.g. a syslog sender)."""
        self._sqlite = engine.dialect.name == "sqlite"
        self._queue: queue.SimpleQueue[AuditEvent | threading.Event | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.written = 0
        self.failures = 0

    # -- writing -----------------------------------------------------------
    def record(self, event: AuditEvent) -> None:
        """Queue ``event``; it is durable within ``flush_interval`` seconds (or at :meth:`flush`)."""
        if self._closed:
            self._write([event])
            return
        self._start()
        self._queue.put(event)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event recorded so far is committed."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        thread = self._thread
        if thread is not None and not self._closed:
            self._closed = True
            self._queue.put(None)
            thread.join(30)
        self._closed = True

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="radhub-audit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        pending: list[AuditEvent] = []
        waiters: list[threading.Event] = []
        stop = False
        while not stop:
            # gather: from the first event of a batch, for flush_interval seconds
            # (less if someone flushes or closes, or the batch is full)
            deadline: float | None = None
            while not (waiters or stop or len(pending) >= _MAX_BATCH):
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    break
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    pending.append(item)
                    if deadline is None:
                        deadline = time.monotonic() + self.flush_interval
            if pending:
                try:
                    self._write(pending)
                    pending = []
                except Exception:  # noqa: BLE001 - keep the events and try again next round
                    self.failures += 1
                    logger.exception("audit: could not write %d records; will retry", len(pending))
                    if len(pending) > _MAX_PENDING:
                        logger.error("audit: dropping %d unwritten records", len(pending) - _MAX_PENDING)
                        pending = pending[-_MAX_PENDING:]
                    if not stop:
                        time.sleep(min(5.0, self.flush_interval * 5))
            for w in waiters:
                w.set()
            waiters = []

    def _write(self, events: Sequence[AuditEvent]) -> None:
        with self._begin() as conn:
            last_pk, last_hash = self._lock_head(conn)
            rows = []
            for ev in events:
                row = ev.row()
                last_pk += 1
                row["pk"] = last_pk
                row["prev_hash"] = last_hash
                row["hash"] = last_hash = chain_hash(last_hash, last_pk, row)
                rows.append(row)
            conn.execute(insert(audit_events), rows)
            conn.execute(update(audit_head).where(audit_head.c.pk == 1).values(last_pk=last_pk, last_hash=last_hash))
        self.written += len(rows)
        if self.forwarders:
            out = [_public(r) for r in rows]
            for forward in self.forwarders:
                try:
                    forward(out)
                except Exception:  # noqa: BLE001 - the database copy is the record; forwarding is best effort
                    logger.exception("audit: forwarding %d records failed", len(out))

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(radhub_audit=True)  # tells the audit writer's commits from the catalog's
            if self._sqlite:
                conn.execution_options(radhub_write=True)
            with conn.begin():
                yield conn

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        q = select(audit_head.c.last_pk, audit_head.c.last_hash).where(audit_head.c.pk == 1)
        if not self._sqlite:
            q = q.with_for_update()
        head = conn.execute(q).first()
        if head is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(audit_head).values(pk=1, last_pk=0, last_hash=GENESIS))
            except IntegrityError:  # another process made it first
                pass
            head = conn.execute(q).first()
        assert head is not None
        return int(head[0]), str(head[1])

    # -- reading -----------------------------------------------------------
    @staticmethod
    def _where(
        q: Any,
        *,
        user: str | None = None,
        org: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        study_uid: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Any:
        """``q`` narrowed to every filter given. ``action`` ending in ``.`` or ``*`` is a prefix."""
        t = audit_events
        if user:
            q = q.where(t.c.user_name == user)
        if org:
            q = q.where(t.c.org_code == org)
        if action:
            q = q.where(t.c.action.startswith(action.rstrip("*"))) if action.endswith(("*", ".")) else q.where(t.c.action == action)
        if outcome:
            q = q.where(t.c.outcome == outcome)
        if study_uid:
            q = q.where(t.c.study_uids.contains(json.dumps(study_uid)))
        if since:
            q = q.where(t.c.at >= since.replace(tzinfo=None))
        if until:
            q = q.where(t.c.at < until.replace(tzinfo=None))
        return q

    def query(self, *, limit: int = 100, offset: int = 0, **filters: Any) -> list[dict[str, Any]]:
        """Records matching every filter of :meth:`_where` given, newest first."""
        q = self._where(select(audit_events), **filters)
        q = q.order_by(audit_events.c.pk.desc()).limit(max(0, limit)).offset(max(0, offset))
        with self.engine.connect() as conn:
            return [_public(dict(r._mapping)) for r in conn.execute(q)]

    def records(self, *, chunk: int = 5000, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record matching the filters, oldest first, as :meth:`query` shows them (for exports)."""
        for row in self.iter_all(chunk=chunk, **filters):
            yield _public(row)

    def count(self, **filters: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self._where(select(func.count()).select_from(audit_events), **filters)).scalar_one())

    def iter_all(self, *, chunk: int = 5000, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record (matching the filters), oldest first (raw column values)."""
        after = 0
        while True:
            q = self._where(select(audit_events).where(audit_events.c.pk > after), **filters)
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(q.order_by(audit_events.c.pk).limit(chunk))]
            if not rows:
                return
            yield from rows
            after = rows[-1]["pk"]

    def verify(self, *, max_problems: int = 100) -> VerifyResult:
        """Recompute the chain: an edited record, a deleted one (middle or last) or a forged link is reported."""
        problems: list[str] = []
        prev_pk, prev_hash, checked = 0, GENESIS, 0

        def problem(text: str) -> None:
            if len(problems) < max_problems:
                problems.append(text)

        for row in self.iter_all():
            checked += 1
            pk = int(row["pk"])
            if pk != prev_pk + 1:
                problem(f"records {prev_pk + 1}..{pk - 1} are missing (deleted)" if pk > prev_pk + 1 else f"record {pk} out of order")
            if row["prev_hash"] != prev_hash:
                problem(f"record {pk}: link to the previous record is broken")
            if chain_hash(row["prev_hash"], pk, row) != row["hash"]:
                problem(f"record {pk}: contents do not match its hash (edited)")
            prev_pk, prev_hash = pk, row["hash"]
        with self.engine.connect() as conn:
            head = conn.execute(select(audit_head.c.last_pk, audit_head.c.last_hash).where(audit_head.c.pk == 1)).first()
        head_pk, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        if head_pk != prev_pk:
            problem(
                f"the chain's head is record {head_pk} but the last record is {prev_pk}"
                + (" (records at the end were deleted)" if head_pk > prev_pk else "")
            )
        elif head_hash != prev_hash:
            problem(f"record {prev_pk}: differs from the chain's head (edited last record)")
        return VerifyResult(not problems, checked, head_pk, head_hash, tuple(problems))


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API and exports show it."""
    return {
        "pk": int(row["pk"]),
        "at": iso(row["at"]),
        "user": row["user_name"],
        "org": row["org_code"],
        "action": row["action"],
        "outcome": row["outcome"],
        "source": row["source"],
        "object_type": row["object_type"],
        "object_ids": json.loads(row["object_ids"] or "[]"),
        "study_uids": json.loads(row["study_uids"] or "[]"),
        "detail": json.loads(row["detail"] or "{}"),
        "prev_hash": row["prev_hash"],
        "hash": row["hash"],
    }
