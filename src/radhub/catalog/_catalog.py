"""The catalog: one database (SQLite or PostgreSQL) indexing every stored instance."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from radhub.catalog._models import Conflict, Instance, InstanceCheck, Patient, Series, Study
from radhub.catalog.errors import NotFoundError

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "InstanceRecord", "RegisterOutcome", "StoredInstance"]


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def name_key(value: str) -> str:
    """Normalised person name for case-insensitive matching."""
    return (value or "").strip().upper()


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
    metadata: dict[str, Any]
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


@dataclass(frozen=True)
class RegisterOutcome:
    """Result of :meth:`Catalog.register`: ``created``, ``duplicate`` or ``conflict``."""

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
    def _write(self) -> Iterator[Session]:
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._sessions() as s, s.begin():
                yield s
        finally:
            if lock is not None:
                lock.release()

    # -- writes ------------------------------------------------------------
    def register(self, rec: InstanceRecord, *, conflict_action: str = "kept_first") -> RegisterOutcome:
        """Index a durable instance in one transaction.

        Returns ``created`` for a new SOP Instance UID, ``duplicate`` when the
        same UID is known with the same bytes (idempotent), and ``conflict``
        when it is known with different bytes; the conflict is recorded with
        ``conflict_action`` and the stored instance is left untouched.
        """
        for attempt in range(8):
            try:
                with self._write() as s:
                    return self._register(s, rec, conflict_action)
            except (IntegrityError, OperationalError) as exc:
                # a concurrent writer created the same patient/study/series
                # (PostgreSQL) or held the lock too long (SQLite): retry
                if attempt == 7:
                    raise
                logger.debug("register retry %d: %s", attempt, type(exc).__name__)
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _register(self, s: Session, rec: InstanceRecord, conflict_action: str) -> RegisterOutcome:
        existing = s.execute(
            select(Instance.blob_sha256).where(Instance.sop_uid == rec.sop_uid)
        ).scalar_one_or_none()
        now = _utcnow()
        if existing is not None:
            if existing == rec.blob_sha256:
                return RegisterOutcome("duplicate", existing)
            s.add(
                Conflict(
                    sop_uid=rec.sop_uid,
                    blob_sha256=rec.blob_sha256,
                    size=rec.size,
                    action=conflict_action,
                    source=rec.source,
                    received_at=now,
                )
            )
            return RegisterOutcome("conflict", existing)

        patient = s.execute(
            select(Patient).where(Patient.patient_id == rec.patient_id, Patient.issuer == rec.issuer)
        ).scalar_one_or_none()
        if patient is None:
            patient = Patient(
                patient_id=rec.patient_id,
                issuer=rec.issuer,
                patient_name=rec.patient_name,
                patient_name_key=name_key(rec.patient_name),
                birth_date=rec.birth_date,
                sex=rec.sex,
            )
            s.add(patient)
            s.flush()

        study = s.execute(select(Study).where(Study.study_uid == rec.study_uid)).scalar_one_or_none()
        if study is None:
            study = Study(
                study_uid=rec.study_uid,
                patient_pk=patient.pk,
                study_date=rec.study_date,
                study_time=rec.study_time,
                accession_number=rec.accession_number,
                study_id=rec.study_id,
                study_description=rec.study_description,
                referring_physician=rec.referring_physician,
                referring_physician_key=name_key(rec.referring_physician),
                institution_name=rec.institution_name,
                modalities="",
                num_series=0,
                num_instances=0,
                size_bytes=0,
                created_at=now,
                updated_at=now,
            )
            s.add(study)
            s.flush()

        series = s.execute(select(Series).where(Series.series_uid == rec.series_uid)).scalar_one_or_none()
        new_series = series is None
        if series is None:
            series = Series(
                series_uid=rec.series_uid,
                study_pk=study.pk,
                modality=rec.modality,
                series_number=rec.series_number,
                series_description=rec.series_description,
                body_part=rec.body_part,
                performed_start_date=rec.performed_start_date,
                performed_start_time=rec.performed_start_time,
                num_instances=0,
            )
            s.add(series)
            s.flush()

        inst = Instance(
            sop_uid=rec.sop_uid,
            series_pk=series.pk,
            sop_class_uid=rec.sop_class_uid,
            instance_number=rec.instance_number,
            transfer_syntax_uid=rec.transfer_syntax_uid,
            frames=rec.frames,
            rows=rec.rows,
            columns=rec.columns,
            blob_sha256=rec.blob_sha256,
            size=rec.size,
            metadata_json=json.dumps(rec.metadata, separators=(",", ":")),
            source=rec.source,
            calling_ae=rec.calling_ae,
            received_at=now,
        )
        s.add(inst)
        s.flush()
        for code in sorted(set(rec.checks)):
            s.add(InstanceCheck(instance_pk=inst.pk, code=code))

        modalities = [m for m in study.modalities.split("\\") if m]
        if rec.modality and rec.modality not in modalities:
            modalities.append(rec.modality)
        s.execute(
            update(Study)
            .where(Study.pk == study.pk)
            .values(
                num_instances=Study.num_instances + 1,
                num_series=Study.num_series + (1 if new_series else 0),
                size_bytes=Study.size_bytes + rec.size,
                modalities="\\".join(sorted(modalities)),
                updated_at=now,
            )
        )
        s.execute(
            update(Series).where(Series.pk == series.pk).values(num_instances=Series.num_instances + 1)
        )
        return RegisterOutcome("created")

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
        q = q.order_by(Series.pk, Instance.pk)
        with self.session() as s:
            rows = s.execute(q).all()
        return [StoredInstance(*r) for r in rows]

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

    def check_counts(self) -> dict[str, int]:
        """Number of instances carrying each check code."""
        with self.session() as s:
            rows = s.execute(
                select(InstanceCheck.code, func.count()).group_by(InstanceCheck.code)
            ).all()
        return {c: int(n) for c, n in rows}

    def conflicts(self, sop_uid: str | None = None) -> list[dict[str, Any]]:
        """Recorded receipts of known UIDs with different bytes."""
        q = select(Conflict).order_by(Conflict.pk)
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
        """Counts of patients, studies, series and instances, and bytes stored."""
        with self.session() as s:
            n_inst, n_bytes = s.execute(
                select(func.count(Instance.pk), func.coalesce(func.sum(Instance.size), 0))
            ).one()
            return {
                "patients": int(s.scalar(select(func.count(Patient.pk))) or 0),
                "studies": int(s.scalar(select(func.count(Study.pk))) or 0),
                "series": int(s.scalar(select(func.count(Series.pk))) or 0),
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

    def delete_instance(self, sop_uid: str) -> None:
        """Remove an instance's index row (lifecycle operations; blobs are kept)."""
        with self._write() as s:
            pk = s.execute(select(Instance.pk).where(Instance.sop_uid == sop_uid)).scalar_one_or_none()
            if pk is None:
                raise NotFoundError(f"instance {sop_uid} not found")
            s.execute(delete(InstanceCheck).where(InstanceCheck.instance_pk == pk))
            s.execute(delete(Instance).where(Instance.pk == pk))


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


