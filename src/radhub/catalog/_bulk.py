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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from radhub.catalog._models import Conflict, Instance, InstanceCheck, Patient, Series, Study

if TYPE_CHECKING:
    from radhub.catalog._catalog import Catalog, InstanceRecord

logger = logging.getLogger(__name__)

__all__ = ["BulkIndexResult", "bulk_index", "index_batch"]

_P = Patient.__table__
_ST = Study.__table__
_SE = Series.__table__
_I = Instance.__table__
_C = InstanceCheck.__table__
_CF = Conflict.__table__

# keep each IN (...) list well below SQLite's variable limit (32766)
_IN_CHUNK = 5000


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def name_key(value: str) -> str:
    """Normalised person name for case-insensitive matching."""
    return (value or "").strip().upper()


def _chunks(items: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _select_in(conn: Connection, columns: Sequence[Any], key: Any, values: Sequence[Any]) -> list[Any]:
    rows: list[Any] = []
    for part in _chunks(values):
        rows.extend(conn.execute(select(*columns).where(key.in_(part))).all())
    return rows


def _refuse_series_of_other_studies(
    conn: Connection,
    new: list[InstanceRecord],
    positions: list[int],
    outcomes: list[tuple[str, str | None]],
    known: dict[str, str],
) -> list[InstanceRecord]:
    """Drop records whose series is already filed under another study.

    A series belongs to exactly one study; filing an instance under the
    series of another study would silently move it. Such records get the
    outcome ``series_mismatch`` and are not indexed.
    """
    if not new:
        return new
    owner: dict[str, str] = {}
    series_uids = list({r.series_uid for r in new})
    for part in _chunks(series_uids):
        q = (
            select(_SE.c.series_uid, _ST.c.study_uid)
            .select_from(_SE.join(_ST, _SE.c.study_pk == _ST.c.pk))
            .where(_SE.c.series_uid.in_(part))
        )
        owner.update({s: st for s, st in conn.execute(q)})
    kept: list[InstanceRecord] = []
    for pos, r in zip(positions, new, strict=True):
        if owner.setdefault(r.series_uid, r.study_uid) != r.study_uid:
            outcomes[pos] = ("series_mismatch", None)
            known.pop(r.sop_uid, None)
        else:
            kept.append(r)
    return kept


def index_batch(
    conn: Connection, records: Sequence[InstanceRecord], conflict_action: str
) -> list[tuple[str, str | None]]:
    """Index ``records`` inside the caller's transaction on ``conn``.

    Returns one ``(status, existing_sha256)`` per record, in order, with
    ``status`` ``created``, ``duplicate`` or ``conflict`` -- the same outcomes
    as indexing the records one by one in this order. Unique-key races with
    a concurrent writer raise :class:`sqlalchemy.exc.IntegrityError`; the
    caller retries the batch.
    """
    now = _utcnow()
    outcomes: list[tuple[str, str | None]] = []
    known: dict[str, str] = {}
    uids = list({r.sop_uid for r in records})
    for sop, sha in _select_in(conn, (_I.c.sop_uid, _I.c.blob_sha256), _I.c.sop_uid, uids):
        known[sop] = sha
    new: list[InstanceRecord] = []
    new_pos: list[int] = []
    conflicts: list[dict[str, Any]] = []
    for i, r in enumerate(records):
        existing = known.get(r.sop_uid)
        if existing is None:
            known[r.sop_uid] = r.blob_sha256
            new.append(r)
            new_pos.append(i)
            outcomes.append(("created", None))
        elif existing == r.blob_sha256:
            outcomes.append(("duplicate", existing))
        else:
            conflicts.append(
                {
                    "sop_uid": r.sop_uid,
                    "blob_sha256": r.blob_sha256,
                    "size": r.size,
                    "action": conflict_action,
                    "source": r.source,
                    "received_at": now,
                }
            )
            outcomes.append(("conflict", existing))
    if conflicts:
        conn.execute(insert(_CF), conflicts)
    new = _refuse_series_of_other_studies(conn, new, new_pos, outcomes, known)
    if not new:
        return outcomes

    # patients (first record of a patient wins, as with one-by-one indexing)
    first_of_patient: dict[tuple[str, str], InstanceRecord] = {}
    for r in new:
        first_of_patient.setdefault((r.patient_id, r.issuer), r)
    pat_keys = list(first_of_patient.items())
    patients: dict[tuple[str, str], int] = {}
    for part in _chunks([k for k, _ in pat_keys]):
        q = select(_P.c.pk, _P.c.patient_id, _P.c.issuer).where(tuple_(_P.c.patient_id, _P.c.issuer).in_(part))
        for pk, pid, iss in conn.execute(q):
            patients[(pid, iss)] = pk
    missing_p = [
        {
            "patient_id": r.patient_id,
            "issuer": r.issuer,
            "patient_name": r.patient_name,
            "patient_name_key": name_key(r.patient_name),
            "birth_date": r.birth_date,
            "sex": r.sex,
        }
        for k, r in pat_keys
        if k not in patients
    ]
    if missing_p:
        conn.execute(insert(_P), missing_p)
        for part in _chunks([(m["patient_id"], m["issuer"]) for m in missing_p]):
            q = select(_P.c.pk, _P.c.patient_id, _P.c.issuer).where(tuple_(_P.c.patient_id, _P.c.issuer).in_(part))
            for pk, pid, iss in conn.execute(q):
                patients[(pid, iss)] = pk

    # studies: locked (PostgreSQL) so that concurrent batches update their aggregates in turn
    first_of_study: dict[str, InstanceRecord] = {}
    for r in new:
        first_of_study.setdefault(r.study_uid, r)
    studies: dict[str, tuple[int, str]] = {}
    study_uids = list(first_of_study)  # rows are created in order of arrival

    def load_studies(uids: Sequence[str]) -> None:
        for part in _chunks(list(uids)):
            q = select(_ST.c.pk, _ST.c.study_uid, _ST.c.modalities).where(_ST.c.study_uid.in_(part)).order_by(_ST.c.pk)
            if conn.dialect.name == "postgresql":
                q = q.with_for_update()
            for pk, uid, mods in conn.execute(q):
                studies[uid] = (pk, mods)

    load_studies(study_uids)
    missing_st = [
        {
            "study_uid": uid,
            "patient_pk": patients[(r.patient_id, r.issuer)],
            "study_date": r.study_date,
            "study_time": r.study_time,
            "accession_number": r.accession_number,
            "study_id": r.study_id,
            "study_description": r.study_description,
            "referring_physician": r.referring_physician,
            "referring_physician_key": name_key(r.referring_physician),
            "institution_name": r.institution_name,
            "modalities": "",
            "num_series": 0,
            "num_instances": 0,
            "size_bytes": 0,
            "created_at": now,
            "updated_at": now,
        }
        for uid, r in ((u, first_of_study[u]) for u in study_uids)
        if uid not in studies
    ]
    if missing_st:
        conn.execute(insert(_ST), missing_st)
        load_studies([m["study_uid"] for m in missing_st])

    # series
    first_of_series: dict[str, InstanceRecord] = {}
    for r in new:
        first_of_series.setdefault(r.series_uid, r)
    series: dict[str, int] = {}
    series_uids = list(first_of_series)
    for pk, uid in _select_in(conn, (_SE.c.pk, _SE.c.series_uid), _SE.c.series_uid, series_uids):
        series[uid] = pk
    new_series = [uid for uid in series_uids if uid not in series]
    if new_series:
        conn.execute(
            insert(_SE),
            [
                {
                    "series_uid": uid,
                    "study_pk": studies[r.study_uid][0],
                    "modality": r.modality,
                    "series_number": r.series_number,
                    "series_description": r.series_description,
                    "body_part": r.body_part,
                    "performed_start_date": r.performed_start_date,
                    "performed_start_time": r.performed_start_time,
                    "num_instances": 0,
                }
                for uid, r in ((u, first_of_series[u]) for u in new_series)
            ],
        )
        for pk, uid in _select_in(conn, (_SE.c.pk, _SE.c.series_uid), _SE.c.series_uid, new_series):
            series[uid] = pk

    # instances
    conn.execute(
        insert(_I),
        [
            {
                "sop_uid": r.sop_uid,
                "series_pk": series[r.series_uid],
                "sop_class_uid": r.sop_class_uid,
                "instance_number": r.instance_number,
                "transfer_syntax_uid": r.transfer_syntax_uid,
                "frames": r.frames,
                "rows": r.rows,
                "columns": r.columns,
                "blob_sha256": r.blob_sha256,
                "size": r.size,
                "metadata_json": r.metadata if isinstance(r.metadata, str) else json.dumps(r.metadata, separators=(",", ":")),
                "source": r.source,
                "calling_ae": r.calling_ae,
                "received_at": now,
            }
            for r in new
        ],
    )
    flagged = [r for r in new if r.checks]
    if flagged:
        pks = dict(
            (sop, pk) for pk, sop in _select_in(conn, (_I.c.pk, _I.c.sop_uid), _I.c.sop_uid, [r.sop_uid for r in flagged])
        )
        conn.execute(
            insert(_C),
            [{"instance_pk": pks[r.sop_uid], "code": code} for r in flagged for code in sorted(set(r.checks))],
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
        study_updates.append(
            {
                "b_pk": pk,
                "b_n": agg["n"],
                "b_series": len(agg["series"]),
                "b_size": agg["size"],
                "b_mods": "\\".join(sorted(current)),
                "b_now": now,
            }
        )
    conn.execute(
        update(_ST)
        .where(_ST.c.pk == bindparam("b_pk"))
        .values(
            num_instances=_ST.c.num_instances + bindparam("b_n"),
            num_series=_ST.c.num_series + bindparam("b_series"),
            size_bytes=_ST.c.size_bytes + bindparam("b_size"),
            modalities=bindparam("b_mods"),
            updated_at=bindparam("b_now"),
        ),
        study_updates,
    )
    conn.execute(
        update(_SE)
        .where(_SE.c.pk == bindparam("b_pk"))
        .values(num_instances=_SE.c.num_instances + bindparam("b_n")),
        [{"b_pk": pk, "b_n": n} for pk, n in sorted(per_series.items())],
    )
    return outcomes


class BulkIndexResult:
    """Counts of a :func:`bulk_index` run."""

    def __init__(self) -> None:
        self.created = 0
        self.duplicate = 0
        self.conflict = 0
        self.batches = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {"created": self.created, "duplicate": self.duplicate, "conflict": self.conflict, "batches": self.batches}


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
