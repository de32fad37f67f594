"""The bulk indexing path writes exactly what one-by-one ingest writes (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import io
import threading

import pytest

from radhub.catalog import Catalog, search
from radhub.catalog._bulk import bulk_index
from radhub.dicom import read_header
from radhub.ingest._pipeline import build_record
from tests.conftest import DICOM_DIR, dicom_manifest


def _corpus_records() -> list:
    """Catalog records of the valid shared corpus, built by the ingest pipeline's code."""
    rows = [r for r in dicom_manifest() if r["valid"] == "yes" and r["study_instance_uid"]]
    if not rows:
        pytest.skip("the shared DICOM corpus is not available")
    records = []
    for r in rows:
        data = (DICOM_DIR / r["path"]).read_bytes()
        header = read_header(io.BytesIO(data), file_size=len(data))
        records.append(build_record(header, sha256=f"{len(records):064x}", size=len(data), source="test"))
    return records


def _snapshot(catalog: Catalog) -> dict:
    studies = search(catalog, "STUDY", {}, include_all=True).datasets
    series = search(catalog, "SERIES", {}, include_all=True).datasets
    instances = catalog.instances()
    return {
        "totals": catalog.totals(),
        "studies": sorted((d.StudyInstanceUID, d.NumberOfStudyRelatedSeries, d.NumberOfStudyRelatedInstances, tuple(d.ModalitiesInStudy or ()), str(d.PatientName or "")) for d in studies),
        "series": sorted((d.SeriesInstanceUID, d.NumberOfSeriesRelatedInstances, d.Modality) for d in series),
        "instances": sorted((i.sop_uid, i.blob_sha256, i.size, i.frames) for i in instances),
        "checks": sorted((c["sop_uid"], tuple(c["checks"])) for c in catalog.checks(limit=100000)),
        "conflicts": sorted((c["sop_uid"], c["blob_sha256"], c["action"]) for c in catalog.conflicts()),
        "metadata": sorted(m["00080018"]["Value"][0] for m in catalog.metadata()),
    }


def test_bulk_index_equals_one_by_one(tmp_path, database_url):
    records = _corpus_records()
    # a re-sent identical object and a conflicting one, as in real traffic
    records.append(records[0])
    records.append(dataclasses.replace(records[1], blob_sha256="f" * 64))
    # an instance whose series is filed under another study is refused
    records.append(dataclasses.replace(records[2], sop_uid="1.2.826.0.1.3680043.8.498.99", study_uid="1.2.826.0.1.3680043.8.498.98", blob_sha256="d" * 64))

    one = Catalog(database_url)
    outcomes_one = [one.register(r).status for r in records]
    other_url = f"sqlite:///{tmp_path / 'bulk.sqlite'}" if database_url.startswith("sqlite") else database_url + "_bulk"
    if not database_url.startswith("sqlite"):
        import psycopg

        base = database_url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(base + "/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{other_url.rsplit("/", 1)[1]}"')
    bulk = Catalog(other_url)
    result = bulk_index(bulk, records, batch_size=37)
    try:
        assert result.created == outcomes_one.count("created")
        assert result.duplicate == outcomes_one.count("duplicate") >= 1
        assert result.conflict == outcomes_one.count("conflict") >= 1
        assert result.series_mismatch == outcomes_one.count("series_mismatch") == 1
        assert result.batches == -(-len(records) // 37)
        assert _snapshot(bulk) == _snapshot(one)
    finally:
        one.close()
        bulk.close()


def test_register_many_outcomes_in_order(database_url):
    records = _corpus_records()[:20]
    cat = Catalog(database_url)
    try:
        first = cat.register_many(records[:10])
        assert [o.status for o in first] == ["created"] * 10
        again = cat.register_many([records[3], dataclasses.replace(records[4], blob_sha256="e" * 64), records[12]])
        assert [o.status for o in again] == ["duplicate", "conflict", "created"]
        assert again[1].existing_sha256 == records[4].blob_sha256
        assert cat.register_many([]) == []
    finally:
        cat.close()


def test_bulk_index_rejects_bad_batch_size(sqlite_archive):
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        bulk_index(sqlite_archive.catalog, [], batch_size=0)


def test_concurrent_register_group_commits_correct_aggregates(database_url):
    """Many threads registering instances of the same studies: counts and modalities stay exact."""
    base = _corpus_records()[0]
    cat = Catalog(database_url)
    records = []
    for s in range(3):
        for k in range(40):
            records.append(
                dataclasses.replace(
                    base,
                    sop_uid=f"1.2.826.0.1.3680043.8.498.9{s}{k:04d}",
                    series_uid=f"1.2.826.0.1.3680043.8.498.8{s}{k % 4}",
                    study_uid=f"1.2.826.0.1.3680043.8.498.7{s}",
                    modality=["CT", "MR", "SR", "CT"][k % 4],
                    blob_sha256=f"{s}{k:063x}",
                )
            )
    errors: list[BaseException] = []
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(part: list) -> None:
        try:
            for r in part:
                o = cat.register(r)
                with lock:
                    outcomes.append(o.status)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(records[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert outcomes.count("created") == len(records)
        studies = search(cat, "STUDY", {}).datasets
        assert len(studies) == 3
        for d in studies:
            assert d.NumberOfStudyRelatedInstances == 40
            assert d.NumberOfStudyRelatedSeries == 4
            assert list(d.ModalitiesInStudy) == ["CT", "MR", "SR"]
        assert cat.totals()["instances"] == 120
    finally:
        cat.close()


@pytest.mark.parametrize("poison", [None, 3], ids=["all-good", "one-failing"])
def test_concurrent_batches_share_transactions_and_stay_whole(database_url, monkeypatch, poison):
    """register_many from 6 threads: one transaction for those that queued; a failing batch fails alone and whole."""
    import time

    from sqlalchemy import event

    base = _corpus_records()[0]
    cat = Catalog(database_url)
    commits: list[int] = []
    event.listen(cat.engine, "commit", lambda conn: commits.append(1))

    def rec(s: int, k: int) -> object:
        return dataclasses.replace(
            base,
            sop_uid=f"1.2.826.0.1.3680043.8.498.6{s}{k:04d}",
            series_uid=f"1.2.826.0.1.3680043.8.498.5{s}",
            study_uid=f"1.2.826.0.1.3680043.8.498.4{s}",
            blob_sha256=f"{s}{k:063x}",
        )

    batches = [[rec(s, k) for k in range(20)] for s in range(6)]
    poisoned = batches[poison] if poison is not None else []
    real_run = cat._group._run
    gate = threading.Barrier(6)
    calls: list[int] = []

    def run(records, conflict_action, conflicts=()):
        calls.append(len(records))
        if len(calls) == 1:
            time.sleep(0.3)  # the first transaction is slow: every other caller queues behind it
        if any(r in poisoned for r in records):
            raise RuntimeError("simulated database failure for batch 3")
        return real_run(records, conflict_action=conflict_action, conflicts=conflicts)

    monkeypatch.setattr(cat._group, "_run", run)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        gate.wait()
        try:
            results[i] = [o.status for o in cat.register_many(batches[i])]
        except RuntimeError as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        good = [i for i in range(6) if i != poison]
        assert all(results[i] == ["created"] * 20 for i in good)
        assert cat.totals()["instances"] == 20 * len(good)  # a failed batch leaves nothing behind
        if poison is None:
            # the first caller alone, then the five that queued meanwhile in one transaction
            assert calls == [20, 100] and len(commits) == 2
        else:
            assert isinstance(results[poison], RuntimeError)
            if len(calls) == 2:  # the failing caller went first, alone; the others shared one transaction
                assert calls == [20, 100] and len(commits) == 1
            else:  # the shared transaction failed; it is retried caller by caller
                assert calls[:2] == [20, 100] and sorted(calls[2:]) == [20] * 5 and len(commits) == 5
    finally:
        cat.close()
