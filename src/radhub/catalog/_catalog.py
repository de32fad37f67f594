"""The catalog: one database (SQLite or PostgreSQL) indexing every stored instance."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from radhub.catalog._bulk import _Sql, index_batch, insert_conflicts
from radhub.catalog._models import Conflict, Instance, InstanceCheck, Patient, QualityGrade, Series, Study
from radhub.catalog._tenancy import DEFAULT_ORG_PK, study_condition, study_sql
from radhub.catalog.errors import NotFoundError

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "ConflictRecord", "InstanceRecord", "QUALITY_GRADES", "RegisterOutcome", "StoredInstance"]


@dataclass(frozen=True)
class ConflictRecord:
    """An object refused (or kept aside) because its SOP Instance UID is stored with other bytes."""

    sop_uid: str
    blob_sha256: str
    size: int
    source: str = ""


@dataclass(frozen=True)
class InstanceRecord:
    """Everything the catalog stores about one new instance."""

    sop_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    blob_sha256: str
    size: int
    transfer_syntax_uid: str
    metadata: dict[str, Any] | str  # PS3.18 JSON, or its serialised text
    patient_id: str = ""
    issuer: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician: str = ""
    institution_name: str = ""
    modality: str = ""
    series_number: str = ""
    series_description: str = ""
    body_part: str = ""
    performed_start_date: str = ""
    performed_start_time: str = ""
    instance_number: str = ""
    frames: int = 0
    rows: int = 0
    columns: int = 0
    source: str = ""
    calling_ae: str = ""
    checks: tuple[str, ...] = ()
    org_pk: int = DEFAULT_ORG_PK
    """The organisation that sent the object and owns its study."""


@dataclass(frozen=True)
class StoredInstance:
    """Where an instance's bytes are and what they are."""

    sop_uid: str
    series_uid: str
    study_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    blob_sha256: str
    size: int
    frames: int
    checks: tuple[str, ...] = field(default=())
    rows: int = 0
    columns: int = 0


@dataclass(frozen=True)
class RegisterOutcome:
    """Result of :meth:`Catalog.register`: ``created``, ``duplicate``, ``conflict`` or ``series_mismatch``."""

    status: str
    existing_sha256: str | None = None


class Catalog:
    """Index of patients, studies, series and instances.

    Parameters
    ----------
    url
        SQLAlchemy database URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
    migrate
        Run the Alembic migrations to the newest revision on open.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=16
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._group = _GroupCommit(self._register_now)
        if migrate:
            self.migrate()

    # -- lifecycle ---------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from radhub.catalog._migrate import upgrade

        upgrade(self.engine)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session."""
        with self._sessions() as s:
            yield s

    @contextmanager
    def _write_conn(self) -> Iterator[Connection]:
        """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on exit."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    # take the write lock up front: a deferred transaction that
                    # reads first can fail to upgrade when another process writes
                    conn.execution_options(radhub_write=True)
                with conn.begin():
                    yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """An ORM session in a write transaction, committed on exit."""
        with self._write_conn() as conn, Session(bind=conn, expire_on_commit=False) as s:
            yield s
            s.flush()

    # -- writes ------------------------------------------------------------
    def register(self, rec: InstanceRecord, *, conflict_action: str = "kept_first") -> RegisterOutcome:
        """Index a durable instance in one transaction.

        Returns ``created`` for a new SOP Instance UID, ``duplicate`` when the
        same UID is known with the same bytes (idempotent), and ``conflict``
        when it is known with different bytes; the conflict is recorded with
        ``conflict_action`` and the stored instance is left untouched.

        Concurrent callers are group-committed: while one transaction runs,
        the records that arrive wait and are then indexed together in the
        next one (each caller still returns only once its record is
        committed), so that N parallel senders cost far fewer than N commits.
        """
        return self._group.submit(rec, conflict_action)

    def register_many(
        self,
        records: Sequence[InstanceRecord],
        *,
        conflict_action: str = "kept_first",
        conflicts: Sequence[ConflictRecord] = (),
    ) -> list[RegisterOutcome]:
        """Index several durable instances in one transaction (outcomes in order).

        The outcomes are those of calling :meth:`register` for each record in
        order; the whole batch is committed or nothing is. Concurrent callers
        share transactions (group commit, as :meth:`register`), which keeps
        each caller's batch whole. ``conflicts`` found before indexing (see
        :meth:`record_conflicts`) are logged in the same transaction.
        """
        if not records and not conflicts:
            return []
        return self._group.submit_many(list(records), conflict_action, list(conflicts))

    def _register_now(
        self,
        records: Sequence[InstanceRecord],
        *,
        conflict_action: str = "kept_first",
        conflicts: Sequence[ConflictRecord] = (),
    ) -> list[RegisterOutcome]:
        """Index records (and log conflicts) in one transaction of this thread (retried on lock or race errors)."""
        if not records and not conflicts:
            return []
        for attempt in range(8):
            try:
                with self._write_conn() as conn:
                    if conflicts:
                        insert_conflicts(
                            conn,
                            [(c.sop_uid, c.blob_sha256, c.size, conflict_action, c.source) for c in conflicts],
                        )
                    raw = index_batch(conn, records, conflict_action) if records else []
                return [RegisterOutcome(status, existing) for status, existing in raw]
            except (IntegrityError, OperationalError) as exc:
                # a concurrent writer created the same patient/study/series
                # (PostgreSQL) or held the lock too long (SQLite): retry
                if attempt == 7:
                    raise
                logger.debug("register retry %d: %s", attempt, type(exc).__name__)
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def known_sha256_many(self, sop_uids: Sequence[str]) -> dict[str, str]:
        """Digests of the stored instances among ``sop_uids`` (absent UIDs are left out)."""
        if not sop_uids:
            return {}
        with self.engine.connect() as conn:
            db = _Sql(conn)
            return {str(u): str(h) for u, h in db.select_in("sop_uid, blob_sha256", "instances", "sop_uid", list(dict.fromkeys(sop_uids)))}

    def known_owners_many(self, sop_uids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Digest and owning organisation of the stored instances among ``sop_uids`` (unscoped: ingest's view)."""
        if not sop_uids:
            return {}
        out: dict[str, tuple[str, int]] = {}
        with self.engine.connect() as conn:
            db = _Sql(conn)
            for part in _chunks_of(list(dict.fromkeys(sop_uids))):
                sql = (
                    "SELECT i.sop_uid, i.blob_sha256, st.org_pk FROM instances i JOIN series se ON i.series_pk = se.pk"
                    f" JOIN studies st ON se.study_pk = st.pk WHERE i.sop_uid IN ({db.marks(len(part))})"
                )
                for u, h, o in db.rows(sql, part):
                    out[str(u)] = (str(h), int(o))
        return out

    def record_conflicts(self, conflicts: Sequence[ConflictRecord], *, action: str) -> None:
        """Log objects that arrived under a known SOP Instance UID with other bytes (one transaction).

        ``action`` says what the conflict policy did (``kept_first``,
        ``rejected``, ``kept_both``); the stored instance is never changed.
        The transaction is shared with concurrent registrations (group commit).
        """
        if conflicts:
            self._group.submit_many([], action, list(conflicts))

    # -- reads -------------------------------------------------------------
    def instance(self, sop_uid: str, *, study_uid: str | None = None, series_uid: str | None = None) -> StoredInstance:
        """Location and identity of one instance; raises :class:`NotFoundError`."""
        found = self.instances(study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
        if not found:
            raise NotFoundError(f"instance {sop_uid} not found")
        return found[0]

    def instances(
        self, *, study_uid: str | None = None, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[StoredInstance]:
        """Instances of a study, a series, or one instance, in series/instance order."""
        q = (
            select(
                Instance.sop_uid,
                Series.series_uid,
                Study.study_uid,
                Instance.sop_class_uid,
                Instance.transfer_syntax_uid,
                Instance.blob_sha256,
                Instance.size,
                Instance.frames,
                Instance.rows,
                Instance.columns,
            )
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
        )
        if study_uid is not None:
            q = q.where(Study.study_uid == study_uid)
        if series_uid is not None:
            q = q.where(Series.series_uid == series_uid)
        if sop_uid is not None:
            q = q.where(Instance.sop_uid == sop_uid)
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        q = q.order_by(Series.pk, Instance.pk)
        with self.session() as s:
            rows = s.execute(q).all()
        return [StoredInstance(*r[:8], rows=r[8] or 0, columns=r[9] or 0) for r in rows]

    def first_instances(self, study_uid: str) -> dict[str, str]:
        """{series UID: SOP Instance UID of its first-stored instance} of a study (one grouped query)."""
        first = (
            select(func.min(Instance.pk).label("pk"))
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
            .where(Study.study_uid == study_uid)
            .group_by(Series.pk)
        )
        tenant = study_condition(Study)
        if tenant is not None:
            first = first.where(tenant)
        q = (
            select(Series.series_uid, Instance.sop_uid)
            .join(Series, Instance.series_pk == Series.pk)
            .where(Instance.pk.in_(first))
        )
        with self.session() as s:
            return {series: sop for series, sop in s.execute(q)}

    def locate(
        self, sop_uid: str, *, study_uid: str | None = None, series_uid: str | None = None
    ) -> StoredInstance | None:
        """The instance :meth:`instances` returns for ``sop_uid``, or ``None``, in one driver-level query.

        The per-request lookup of WADO-RS instance, frame and rendered URLs:
        the same rows as ``instances(sop_uid=...)`` (``None`` also when the
        instance belongs to another study or series) without building an
        ORM statement each call.
        """
        mark = "?" if self.is_sqlite else "%s"
        sql = (
            "SELECT i.sop_uid, se.series_uid, st.study_uid, i.sop_class_uid, i.transfer_syntax_uid,"
            " i.blob_sha256, i.size, i.frames, i.rows, i.columns FROM instances i"
            " JOIN series se ON i.series_pk = se.pk JOIN studies st ON se.study_pk = st.pk"
            f" WHERE i.sop_uid = {mark}"
        )
        tenant, params = study_sql("st", mark)
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(sql + tenant, (sop_uid, *params)).first()
        if row is None:
            return None
        if (study_uid is not None and row[2] != study_uid) or (series_uid is not None and row[1] != series_uid):
            return None
        return StoredInstance(*row[:8], rows=row[8] or 0, columns=row[9] or 0)

    def metadata(
        self, *, study_uid: str | None = None, series_uid: str | None = None, sop_uid: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored PS3.18 JSON metadata of the matching instances."""
        q = (
            select(Instance.metadata_json)
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
        )
        if study_uid is not None:
            q = q.where(Study.study_uid == study_uid)
        if series_uid is not None:
            q = q.where(Series.series_uid == series_uid)
        if sop_uid is not None:
            q = q.where(Instance.sop_uid == sop_uid)
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        with self.session() as s:
            rows = s.execute(q.order_by(Series.pk, Instance.pk)).scalars().all()
        return [json.loads(r) for r in rows]

    def checks(
        self, *, code: str | None = None, study_uid: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Ingest-check flags (A8): one row per flagged instance with its codes."""
        q = (
            select(Study.study_uid, Series.series_uid, Instance.sop_uid, InstanceCheck.code)
            .join(Instance, InstanceCheck.instance_pk == Instance.pk)
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
        )
        if study_uid is not None:
            q = q.where(Study.study_uid == study_uid)
        if code is not None:
            sub = select(InstanceCheck.instance_pk).where(InstanceCheck.code == code)
            q = q.where(InstanceCheck.instance_pk.in_(sub))
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        q = q.order_by(Instance.pk, InstanceCheck.code)
        out: dict[str, dict[str, Any]] = {}
        with self.session() as s:
            for study, series, sop, c in s.execute(q):
                row = out.setdefault(
                    sop, {"study_uid": study, "series_uid": series, "sop_uid": sop, "checks": []}
                )
                row["checks"].append(c)
        rows = list(out.values())
        return rows[offset : offset + limit]

    def check_counts_by_study(self, study_uids: list[str]) -> dict[str, int]:
        """Number of flagged instances (A8) in each of these studies (absent: none)."""
        if not study_uids:
            return {}
        q = (
            select(Study.study_uid, func.count(func.distinct(InstanceCheck.instance_pk)))
            .join(Instance, InstanceCheck.instance_pk == Instance.pk)
            .join(Series, Instance.series_pk == Series.pk)
            .join(Study, Series.study_pk == Study.pk)
            .where(Study.study_uid.in_(study_uids))
            .group_by(Study.study_uid)
        )
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        with self.session() as s:
            return {uid: int(n) for uid, n in s.execute(q)}

    @staticmethod
    def _visible_study_pk(s: Session, study_uid: str) -> int | None:
        """The study's pk within the current tenant scope (``None``: not there, or another site's)."""
        q = select(Study.pk).where(Study.study_uid == study_uid)
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        return s.execute(q).scalar_one_or_none()

    def study_visible(self, study_uid: str) -> bool:
        """Whether the study exists within the current tenant scope."""
        with self.session() as s:
            return self._visible_study_pk(s, study_uid) is not None

    # -- image quality grades (A8) -------------------------------------------
    def grade_quality(self, study_uid: str, grade: int, *, note: str = "", by: str = "", org_pk: int = DEFAULT_ORG_PK) -> dict[str, Any]:
        """Record a grade (1-3) of a study the caller may see; raises :class:`NotFoundError` otherwise."""
        if isinstance(grade, bool) or not isinstance(grade, int) or grade not in QUALITY_GRADES:
            raise ValueError("a quality grade is 1, 2 or 3 (1: not diagnostic; 2: diagnostic, minor artefacts; 3: clear)")
        note = (note or "").strip()
        if len(note) > 500:
            raise ValueError("a quality note is at most 500 characters")
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self._write() as s:
            study_pk = self._visible_study_pk(s, study_uid)
            if study_pk is None:
                raise NotFoundError(f"study {study_uid} not found")
            s.add(QualityGrade(study_pk=study_pk, grade=grade, note=note, graded_by=by, org_pk=org_pk, graded_at=now))
        return {"study_uid": study_uid, "grade": grade, "note": note, "graded_by": by, "graded_at": now.isoformat() + "Z"}

    def quality_grades(self, study_uids: list[str], *, history: bool = False) -> dict[str, list[dict[str, Any]]]:
        """The grades of these studies (the caller may see), newest first; only the latest unless ``history``."""
        if not study_uids:
            return {}
        q = (
            select(Study.study_uid, QualityGrade.grade, QualityGrade.note, QualityGrade.graded_by, QualityGrade.graded_at)
            .join(Study, QualityGrade.study_pk == Study.pk)
            .where(Study.study_uid.in_(study_uids))
            .order_by(Study.study_uid, QualityGrade.pk.desc())
        )
        tenant = study_condition(Study)
        if tenant is not None:
            q = q.where(tenant)
        out: dict[str, list[dict[str, Any]]] = {}
        with self.session() as s:
            for uid, grade, note, by, at in s.execute(q):
                rows = out.setdefault(uid, [])
                if history or not rows:
                    rows.append({"grade": int(grade), "note": note, "graded_by": by, "graded_at": at.isoformat() + "Z"})
        return out

    def check_counts(self) -> dict[str, int]:
        """Number of instances carrying each check code."""
        q = select(InstanceCheck.code, func.count()).group_by(InstanceCheck.code)
        tenant = study_condition(Study)
        if tenant is not None:
            q = (
                q.join(Instance, InstanceCheck.instance_pk == Instance.pk)
                .join(Series, Instance.series_pk == Series.pk)
                .join(Study, Series.study_pk == Study.pk)
                .where(tenant)
            )
        with self.session() as s:
            rows = s.execute(q).all()
        return {c: int(n) for c, n in rows}

    def conflicts(self, sop_uid: str | None = None) -> list[dict[str, Any]]:
        """Recorded receipts of known UIDs with different bytes."""
        q = select(Conflict).order_by(Conflict.pk)
        tenant = study_condition(Study)
        if tenant is not None:  # conflicts are shown to the owner of the stored instance
            owned = (
                select(Instance.sop_uid)
                .join(Series, Instance.series_pk == Series.pk)
                .join(Study, Series.study_pk == Study.pk)
                .where(tenant)
            )
            q = q.where(Conflict.sop_uid.in_(owned))
        if sop_uid is not None:
            q = q.where(Conflict.sop_uid == sop_uid)
        with self.session() as s:
            return [
                {
                    "sop_uid": c.sop_uid,
                    "blob_sha256": c.blob_sha256,
                    "size": c.size,
                    "action": c.action,
                    "source": c.source,
                    "received_at": c.received_at.isoformat(),
                }
                for c in s.execute(q).scalars()
            ]

    def totals(self) -> dict[str, int]:
        """Counts of patients, studies, series and instances, and bytes stored.

        Instances and bytes are the sums of the per-study counters that every
        index transaction maintains, so the cost grows with the number of
        studies, not of instances (``/metrics`` calls this on every scrape).
        """
        tenant = study_condition(Study)
        sums = select(func.coalesce(func.sum(Study.num_instances), 0), func.coalesce(func.sum(Study.size_bytes), 0))
        patients = select(func.count(Patient.pk))
        studies = select(func.count(Study.pk))
        series = select(func.count(Series.pk))
        if tenant is not None:
            sums = sums.where(tenant)
            patients = select(func.count(func.distinct(Study.patient_pk))).where(tenant)
            studies = studies.where(tenant)
            series = series.join(Study, Series.study_pk == Study.pk).where(tenant)
        with self.session() as s:
            n_inst, n_bytes = s.execute(sums).one()
            return {
                "patients": int(s.scalar(patients) or 0),
                "studies": int(s.scalar(studies) or 0),
                "series": int(s.scalar(series) or 0),
                "instances": int(n_inst),
                "bytes": int(n_bytes),
            }

    def blob_digests(self) -> set[str]:
        """Every blob digest the catalog references (instances and kept conflicts)."""
        with self.session() as s:
            a = set(s.execute(select(Instance.blob_sha256)).scalars())
            b = set(
                s.execute(select(Conflict.blob_sha256).where(Conflict.action == "kept_both")).scalars()
            )
        return a | b

    def recent_blob_digests(self, limit: int) -> set[str]:
        """Digests of the ``limit`` most recently indexed instances (startup check)."""
        with self.session() as s:
            q = select(Instance.blob_sha256).order_by(Instance.pk.desc()).limit(limit)
            return set(s.execute(q).scalars())

    def references_blob(self, sha256: str) -> bool:
        """Whether an instance (or a kept conflict version) points to this blob (indexed lookups)."""
        with self.engine.connect() as conn:
            if conn.execute(select(Instance.pk).where(Instance.blob_sha256 == sha256).limit(1)).first():
                return True
            q = select(Conflict.pk).where(Conflict.blob_sha256 == sha256, Conflict.action == "kept_both").limit(1)
            return conn.execute(q).first() is not None

    def delete_instance(self, sop_uid: str) -> None:
        """Remove an instance's index row (lifecycle operations; blobs are kept)."""
        with self._write() as s:
            pk = s.execute(select(Instance.pk).where(Instance.sop_uid == sop_uid)).scalar_one_or_none()
            if pk is None:
                raise NotFoundError(f"instance {sop_uid} not found")
            s.execute(delete(InstanceCheck).where(InstanceCheck.instance_pk == pk))
            s.execute(delete(Instance).where(Instance.pk == pk))


QUALITY_GRADES = {
    1: "not diagnostic: blurred, or motion, beam-hardening or removable foreign-body artefacts",
    2: "diagnostic: structures distinguishable, a few artefacts that do not affect the diagnosis",
    3: "good: clear structures, good contrast, no artefact",
}
"""Seed 002's image-quality scale (A8); images must reach 2 or 3."""


def _chunks_of(items: list[Any], n: int = 5000) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("radhub_write") else "BEGIN")


class _Pending:
    __slots__ = ("action", "conflicts", "error", "event", "leader", "outcomes", "records")

    def __init__(self, records: list[InstanceRecord], action: str, conflicts: list[ConflictRecord]) -> None:
        self.records = records
        self.action = action
        self.conflicts = conflicts
        self.event = threading.Event()
        self.leader = False
        self.outcomes: list[RegisterOutcome] | None = None
        self.error: BaseException | None = None


class _GroupCommit:
    """Leader/follower group commit of registrations (one record, or one caller's batch).

    The first caller becomes the leader and indexes every pending batch (up
    to ``max_records`` records in all) in one transaction; callers arriving
    meanwhile wait. When the transaction ends the leader wakes the callers
    it committed and hands leadership to the oldest caller still pending.
    A failing transaction is retried caller by caller, so that a bad batch
    fails only its caller and each caller's batch stays all or nothing.
    """

    def __init__(self, run: Any, max_records: int = 512) -> None:
        self._run = run
        self._max = max_records
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._busy = False

    def submit(self, record: InstanceRecord, action: str) -> RegisterOutcome:
        return self.submit_many([record], action)[0]

    def submit_many(
        self, records: list[InstanceRecord], action: str, conflicts: list[ConflictRecord] | None = None
    ) -> list[RegisterOutcome]:
        p = _Pending(records, action, conflicts or [])
        with self._lock:
            self._pending.append(p)
            if not self._busy:
                self._busy = True
                p.leader = True
        if not p.leader:
            p.event.wait()
        if p.leader:
            with self._lock:
                batch: list[_Pending] = []
                n = 0
                while self._pending and (not batch or n + len(self._pending[0].records) <= self._max):
                    q = self._pending.pop(0)
                    batch.append(q)
                    n += len(q.records)
            try:
                self._execute(batch)
            finally:
                with self._lock:
                    if self._pending:
                        nxt = self._pending[0]
                        nxt.leader = True
                        nxt.event.set()
                    else:
                        self._busy = False
                for q in batch:
                    if q is not p:
                        q.event.set()
        if p.error is not None:
            raise p.error
        if p.outcomes is None:  # pragma: no cover - every batch member gets outcomes or an error
            raise RuntimeError("group commit left a registration without an outcome")
        return p.outcomes

    def _execute(self, batch: list[_Pending]) -> None:
        # contiguous runs with the same conflict action share a transaction
        runs: list[list[_Pending]] = []
        for q in batch:
            if runs and runs[-1][0].action == q.action:
                runs[-1].append(q)
            else:
                runs.append([q])
        for run in runs:
            try:
                outcomes = self._run(
                    [r for q in run for r in q.records],
                    conflict_action=run[0].action,
                    conflicts=[c for q in run for c in q.conflicts],
                )
                at = 0
                for q in run:
                    q.outcomes = outcomes[at : at + len(q.records)]
                    at += len(q.records)
            except Exception as exc:
                if len(run) == 1:
                    run[0].error = exc
                    continue
                for q in run:
                    try:
                        q.outcomes = self._run(q.records, conflict_action=q.action, conflicts=q.conflicts)
                    except Exception as one_exc:  # noqa: BLE001 - handed to that caller
                        q.error = one_exc