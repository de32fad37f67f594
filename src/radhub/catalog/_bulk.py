"""Index many instances in one transaction: the one indexing code of the catalog.

:meth:`Catalog.register` indexes a batch of one through :func:`index_batch`;
:meth:`Catalog.register_many` and :func:`bulk_index` index larger batches
through the same function, so that a catalog built in bulk (benchmarks,
migrations from another archive) holds exactly what the ingest pipeline
would have written: the same patient/study/series/instance rows, the same
aggregates (number of series and instances, size, modalities in study),
the same check flags and the same duplicate/conflict outcomes.

A batch costs a fixed number of SQL statements (about ten executemany or
``IN`` queries), whatever its size, instead of a dozen per instance.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

if TYPE_CHECKING:
    from radhub.catalog._catalog import Catalog, InstanceRecord

logger = logging.getLogger(__name__)

__all__ = ["BulkIndexResult", "bulk_index", "index_batch", "insert_conflicts"]

# keep each IN (...) list well below SQLite's variable limit (32766)
_IN_CHUNK = 5000


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def name_key(value: str) -> str:
    """Normalised person name for case-insensitive matching."""
    return (value or "").strip().upper()


def _chunks(items: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _Sql:
    """Plain SQL for one connection's driver (``?`` for sqlite3, ``%s`` for psycopg).

    The hot path of ingest runs a handful of statements per transaction;
    sending them as driver SQL (``exec_driver_sql``) avoids SQLAlchemy's
    per-statement compilation and caching overhead, which profiling showed
    to cost more CPU than the database work itself.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.ph = "%s" if self.pg else "?"

    def marks(self, n: int, width: int = 1) -> str:
        one = self.ph if width == 1 else "(" + ",".join([self.ph] * width) + ")"
        return ",".join([one] * n)

    def stamp(self, when: datetime) -> Any:
        # SQLAlchemy's SQLite DateTime storage format (always with microseconds)
        return when if self.pg else when.strftime("%Y-%m-%d %H:%M:%S.%f")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.conn.exec_driver_sql(sql.replace("?", self.ph), tuple(params)).all())

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.exec_driver_sql(sql.replace("?", self.ph), tuple(params))

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        if params:
            self.conn.exec_driver_sql(sql.replace("?", self.ph), params)

    def select_in(self, columns: str, table: str, key: str, values: Sequence[Any], suffix: str = "") -> list[Any]:
        out: list[Any] = []
        for part in _chunks(list(values)):
            out.extend(self.rows(f"SELECT {columns} FROM {table} WHERE {key} IN ({self.marks(len(part))}){suffix}", part))
        return out


_INSERT_PATIENT = (
    "INSERT INTO patients (patient_id, issuer, patient_name, patient_name_key, birth_date, sex, org_pk) "
    "VALUES (?,?,?,?,?,?,?)"
)
_INSERT_STUDY = (
    "INSERT INTO studies (org_pk, study_uid, patient_pk, study_date, study_time, accession_number, study_id, "
    "study_description, referring_physician, referring_physician_key, institution_name, modalities, "
    "num_series, num_instances, size_bytes, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_SERIES = (
    "INSERT INTO series (series_uid, study_pk, modality, series_number, series_description, body_part, "
    "performed_start_date, performed_start_time, num_instances) VALUES (?,?,?,?,?,?,?,?,?)"
)
_INSERT_INSTANCE = (
    "INSERT INTO instances (sop_uid, series_pk, sop_class_uid, instance_number, transfer_syntax_uid, frames, "
    '"rows", "columns", blob_sha256, size, metadata_json, source, calling_ae, received_at) '
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_CONFLICT = (
    "INSERT INTO conflicts (sop_uid, blob_sha256, size, action, source, received_at) VALUES (?,?,?,?,?,?)"
)
_UPDATE_STUDY = (
    "UPDATE studies SET num_instances = num_instances + ?, num_series = num_series + ?, "
    "size_bytes = size_bytes + ?, modalities = ?, updated_at = ? WHERE pk = ?"
)
_UPDATE_SERIES = "UPDATE series SET num_instances = num_instances + ? WHERE pk = ?"


def insert_conflicts(conn: Connection, rows: Sequence[tuple[str, str, int, str, str]]) -> None:
    """Log ``(sop_uid, blob_sha256, size, action, source)`` conflicts inside the caller's transaction."""
    db = _Sql(conn)
    stamp = db.stamp(_utcnow())
    db.many(_INSERT_CONFLICT, [(*row, stamp) for row in rows])


def index_batch(
    conn: Connection, records: Sequence[InstanceRecord], conflict_action: str
) -> list[tuple[str, str | None]]:
    """Index ``records`` inside the caller's transaction on ``conn``.

    Returns one ``(status, existing_sha256)`` per record, in order, with
    ``status`` ``created``, ``duplicate``, ``conflict``, ``series_mismatch``
    (the series is filed under another study; nothing is indexed) or
    ``foreign`` (the study, series or instance UID belongs to another
    organisation; nothing is indexed or changed) -- the same
    outcomes as indexing the records one by one in this order. Unique-key races with
    a concurrent writer raise :class:`sqlalchemy.exc.IntegrityError`; the
    caller retries the batch.
    """
    db = _Sql(conn)
    now = _utcnow()
    stamp = db.stamp(now)
    outcomes: list[tuple[str, str | None]] = []
    known: dict[str, str] = {}
    known_org: dict[str, int] = {}
    uids = list({r.sop_uid: None for r in records})
    for part in _chunks(uids):
        sql = (
            "SELECT i.sop_uid, i.blob_sha256, st.org_pk FROM instances i JOIN series se ON i.series_pk = se.pk"
            f" JOIN studies st ON se.study_pk = st.pk WHERE i.sop_uid IN ({db.marks(len(part))})"
        )
        for sop, sha, org in db.rows(sql, part):
            known[sop] = sha
            known_org[sop] = org
    new: list[InstanceRecord] = []
    new_pos: list[int] = []
    conflicts: list[tuple[Any, ...]] = []
    for i, r in enumerate(records):
        existing = known.get(r.sop_uid)
        if existing is not None and known_org.get(r.sop_uid, r.org_pk) != r.org_pk:
            # the UID belongs to another organisation's study: never shown, never overwritten
            outcomes.append(("foreign", None))
            continue
        if existing is None:
            known[r.sop_uid] = r.blob_sha256
            known_org[r.sop_uid] = r.org_pk
            new.append(r)
            new_pos.append(i)
            outcomes.append(("created", None))
        elif existing == r.blob_sha256:
            outcomes.append(("duplicate", existing))
        else:
            conflicts.append((r.sop_uid, r.blob_sha256, r.size, conflict_action, r.source, stamp))
            outcomes.append(("conflict", existing))
    db.many(_INSERT_CONFLICT, conflicts)

    # a series belongs to one study: an instance whose series is filed under
    # another study is refused (series_mismatch), never silently re-filed
    series: dict[str, int] = {}
    owner: dict[str, str] = {}
    series_org: dict[str, int] = {}
    if new:
        series_uids = list({r.series_uid: None for r in new})
        for part in _chunks(series_uids):
            sql = (
                "SELECT se.pk, se.series_uid, st.study_uid, st.org_pk FROM series se JOIN studies st ON se.study_pk = st.pk "
                f"WHERE se.series_uid IN ({db.marks(len(part))})"
            )
            for pk, uid, study_uid, org in db.rows(sql, part):
                series[uid] = pk
                owner[uid] = study_uid
                series_org[uid] = org

    # studies: locked (PostgreSQL) so that concurrent batches update their aggregates in turn
    studies: dict[str, tuple[int, str]] = {}
    study_org: dict[str, int] = {}
    lock = " ORDER BY pk FOR UPDATE" if db.pg else ""

    def load_studies(uids: Sequence[str]) -> None:
        for pk, uid, mods, org in db.select_in("pk, study_uid, modalities, org_pk", "studies", "study_uid", uids, lock):
            studies[uid] = (pk, mods)
            study_org[uid] = org

    if new:
        load_studies(list({r.study_uid: None for r in new}))
    kept: list[InstanceRecord] = []
    for pos, r in zip(new_pos, new):
        if study_org.setdefault(r.study_uid, r.org_pk) != r.org_pk or series_org.setdefault(
            r.series_uid, r.org_pk
        ) != r.org_pk:
            outcomes[pos] = ("foreign", None)
            known.pop(r.sop_uid, None)
        elif owner.setdefault(r.series_uid, r.study_uid) != r.study_uid:
            outcomes[pos] = ("series_mismatch", None)
            known.pop(r.sop_uid, None)
        else:
            kept.append(r)
    new = kept
    if not new:
        return outcomes

    # patients (the first record of a patient creates it, as with one-by-one indexing)
    first_of_patient: dict[tuple[str, str, int], InstanceRecord] = {}
    for r in new:
        first_of_patient.setdefault((r.patient_id, r.issuer, r.org_pk), r)
    patients: dict[tuple[str, str, int], int] = {}

    def load_patients(keys: Sequence[tuple[str, str, int]]) -> None:
        for part in _chunks(list(keys), _IN_CHUNK // 3):
            flat = [v for k in part for v in k]
            sql = (
                "SELECT pk, patient_id, issuer, org_pk FROM patients "
                f"WHERE (patient_id, issuer, org_pk) IN ({db.marks(len(part), 3)})"
            )
            for pk, pid, iss, org in db.rows(sql, flat):
                patients[(pid, iss, org)] = pk

    load_patients(list(first_of_patient))
    missing_p = [k for k in first_of_patient if k not in patients]
    if missing_p:
        db.many(
            _INSERT_PATIENT,
            [
                (r.patient_id, r.issuer, r.patient_name, name_key(r.patient_name), r.birth_date, r.sex, r.org_pk)
                for r in (first_of_patient[k] for k in missing_p)
            ],
        )
        load_patients(missing_p)

    first_of_study: dict[str, InstanceRecord] = {}
    for r in new:
        first_of_study.setdefault(r.study_uid, r)
    missing_st = [u for u in first_of_study if u not in studies]  # in order of arrival
    if missing_st:
        db.many(
            _INSERT_STUDY,
            [
                (
                    r.org_pk, uid, patients[(r.patient_id, r.issuer, r.org_pk)], r.study_date, r.study_time, r.accession_number,
                    r.study_id, r.study_description, r.referring_physician, name_key(r.referring_physician),
                    r.institution_name, "", 0, 0, 0, stamp, stamp,
                )
                for uid, r in ((u, first_of_study[u]) for u in missing_st)
            ],
        )
        load_studies(missing_st)

    # series
    first_of_series: dict[str, InstanceRecord] = {}
    for r in new:
        first_of_series.setdefault(r.series_uid, r)
    new_series = [u for u in first_of_series if u not in series]
    if new_series:
        db.many(
            _INSERT_SERIES,
            [
                (
                    uid, studies[r.study_uid][0], r.modality, r.series_number, r.series_description,
                    r.body_part, r.performed_start_date, r.performed_start_time, 0,
                )
                for uid, r in ((u, first_of_series[u]) for u in new_series)
            ],
        )
        for pk, uid in db.select_in("pk, series_uid", "series", "series_uid", new_series):
            series[uid] = pk

    # instances
    db.many(
        _INSERT_INSTANCE,
        [
            (
                r.sop_uid, series[r.series_uid], r.sop_class_uid, r.instance_number, r.transfer_syntax_uid,
                r.frames, r.rows, r.columns, r.blob_sha256, r.size,
                r.metadata if isinstance(r.metadata, str) else json.dumps(r.metadata, separators=(",", ":")),
                r.source, r.calling_ae, stamp,
            )
            for r in new
        ],
    )
    flagged = [r for r in new if r.checks]
    if flagged:
        pks = {sop: pk for pk, sop in db.select_in("pk, sop_uid", "instances", "sop_uid", [r.sop_uid for r in flagged])}
        db.many(
            "INSERT INTO instance_checks (instance_pk, code) VALUES (?,?)",
            [(pks[r.sop_uid], code) for r in flagged for code in sorted(set(r.checks))],
        )

    # aggregates
    new_series_set = set(new_series)
    per_study: dict[str, dict[str, Any]] = {}
    per_series: dict[int, int] = {}
    for r in new:
        agg = per_study.setdefault(r.study_uid, {"n": 0, "size": 0, "series": set(), "mods": []})
        agg["n"] += 1
        agg["size"] += r.size
        if r.series_uid in new_series_set:
            agg["series"].add(r.series_uid)
        if r.modality and r.modality not in agg["mods"]:
            agg["mods"].append(r.modality)
        spk = series[r.series_uid]
        per_series[spk] = per_series.get(spk, 0) + 1
    study_updates = []
    for uid, agg in per_study.items():
        pk, mods = studies[uid]
        current = [m for m in (mods or "").split("\\") if m]
        for m in agg["mods"]:
            if m not in current:
                current.append(m)
        study_updates.append((agg["n"], len(agg["series"]), agg["size"], "\\".join(sorted(current)), stamp, pk))
    db.many(_UPDATE_STUDY, sorted(study_updates, key=lambda t: t[-1]))
    db.many(_UPDATE_SERIES, [(n, pk) for pk, n in sorted(per_series.items())])
    return outcomes


class BulkIndexResult:
    """Counts of a :func:`bulk_index` run."""

    def __init__(self) -> None:
        self.created = 0
        self.duplicate = 0
        self.conflict = 0
        self.series_mismatch = 0
        self.foreign = 0
        self.batches = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {
            "created": self.created,
            "duplicate": self.duplicate,
            "conflict": self.conflict,
            "series_mismatch": self.series_mismatch,
            "foreign": self.foreign,
            "batches": self.batches,
        }


def bulk_index(
    catalog: Catalog,
    records: Iterable[InstanceRecord],
    *,
    batch_size: int = 2000,
    conflict_action: str = "kept_first",
) -> BulkIndexResult:
    """Index a stream of records in transactions of ``batch_size``.

    The records must describe blobs that are already durable in the blob
    store (as the ingest pipeline guarantees before it indexes). Each batch
    goes through :meth:`Catalog.register_many`, i.e. through the same code
    as every ingested instance.

    Parameters
    ----------
    catalog
        The catalog to write to.
    records
        Records as built by the ingest pipeline (:func:`radhub.ingest._pipeline.build_record`).
    batch_size
        Records per transaction.
    conflict_action
        Recorded for a known SOP Instance UID with different bytes.

    Returns
    -------
    BulkIndexResult
        How many records were created, duplicates or conflicts.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    result = BulkIndexResult()
    batch: list[InstanceRecord] = []

    def flush() -> None:
        for outcome in catalog.register_many(batch, conflict_action=conflict_action):
            setattr(result, outcome.status, getattr(result, outcome.status) + 1)
        result.batches += 1
        batch.clear()

    for rec in records:
        batch.append(rec)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return result
