"""Objects archived together (one STOW-RS request): same outcomes as one by one, fewer flushes."""

from __future__ import annotations

import hashlib
import os

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import event

from radhub.archive import Archive
from radhub.config import Settings
from radhub.ingest import IngestStatus
from radhub.ingest._parse import ParserPool, parse_spooled
from radhub.store import FileBlobStore
from radhub.store import _filesystem as fs


def _commits(archive: Archive) -> list[int]:
    """A list that grows by one per committed catalog transaction (the audit writer's are not counted)."""
    seen: list[int] = []
    event.listen(
        archive.catalog.engine,
        "commit",
        lambda conn: None if conn.get_execution_options().get("radhub_audit") else seen.append(1),
    )
    return seen


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "parser-pool"])
def test_batch_outcomes_equal_one_by_one(archive, make_instance, workers):
    """Every kind of outcome in one batch, in order, as single ingests would give them."""
    archive.ingestor.parser = ParserPool.shared(workers)
    study, series = generate_uid(), generate_uid()
    known = make_instance(StudyInstanceUID=study, SeriesInstanceUID=series)
    assert archive.ingestor.ingest_bytes(known, source="test").status is IngestStatus.STORED
    clash_uid = generate_uid()
    new_a = make_instance(StudyInstanceUID=study, SeriesInstanceUID=series)
    twice = make_instance(StudyInstanceUID=study, SeriesInstanceUID=series)
    same_uid_1 = make_instance(SOPInstanceUID=clash_uid, StudyInstanceUID=study, SeriesInstanceUID=series, PatientName="A^One")
    same_uid_2 = make_instance(SOPInstanceUID=clash_uid, StudyInstanceUID=study, SeriesInstanceUID=series, PatientName="B^Two")
    known_other_bytes = make_instance(SOPInstanceUID=archive.catalog.instances()[0].sop_uid, StudyInstanceUID=study, SeriesInstanceUID=series, PatientName="Changed^Name")
    wrong_study = make_instance(SeriesInstanceUID=series)  # series filed under `study` already
    objects = [new_a, known, b"not dicom at all", twice, twice, same_uid_1, same_uid_2, known_other_bytes, wrong_study]
    commits = _commits(archive)
    committed: list[int] = []
    commit_many = archive.store.commit_many
    archive.store.commit_many = lambda writers: committed.append(len(writers)) or commit_many(writers)  # type: ignore[method-assign]
    batch = archive.ingestor.batch(source="test")
    for data in objects:
        batch.add([data[:1000], data[1000:]])
    assert archive.catalog.totals()["instances"] == 1  # nothing archived before finish()
    results = batch.finish()
    assert [r.status for r in results] == [
        IngestStatus.STORED,
        IngestStatus.DUPLICATE,
        IngestStatus.REJECTED,
        IngestStatus.STORED,
        IngestStatus.DUPLICATE,
        IngestStatus.STORED,
        IngestStatus.CONFLICT,
        IngestStatus.CONFLICT,
        IngestStatus.REJECTED,
    ]
    assert results[2].code == "not_dicom" and results[8].code == "series_mismatch"
    assert archive.catalog.totals()["instances"] == 4
    # two transactions: the index of the new objects, then the conflict log (objects repeating
    # a UID of the batch, or of a stored instance, are settled after the first of their UID)
    assert len(commits) == 2
    # blobs committed: the first of each UID only (new_a, twice, same_uid_1, wrong_study)
    assert committed == [4]
    # what is stored is what was sent, and the refused bytes are not kept
    for data, r in zip(objects, results):
        digest = hashlib.sha256(data).hexdigest()
        if r.status is IngestStatus.STORED:
            assert archive.store.read_bytes(digest) == data
        elif r.status in (IngestStatus.CONFLICT, IngestStatus.REJECTED) and data is not known:
            assert not archive.store.exists(digest)
    assert archive.store.read_bytes(hashlib.sha256(known).hexdigest()) == known
    assert sorted(c["sop_uid"] for c in archive.catalog.conflicts()) == sorted([clash_uid, archive.catalog.instances()[0].sop_uid])
    assert list(archive.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]


def test_new_objects_and_conflicts_share_one_transaction(sqlite_archive, make_instance):
    """A batch with new objects and conflicts with stored ones is indexed and logged in one commit."""
    archive = sqlite_archive
    study = generate_uid()
    stored = make_instance(StudyInstanceUID=study, PatientName="First^Version")
    first = archive.ingestor.ingest_bytes(stored, source="test")
    assert first.status is IngestStatus.STORED
    clash = make_instance(SOPInstanceUID=first.sop_instance_uid, StudyInstanceUID=study, PatientName="Second^Version")
    fresh = [make_instance(StudyInstanceUID=study) for _ in range(3)]
    commits = _commits(archive)
    batch = archive.ingestor.batch(source="test")
    for data in [fresh[0], clash, *fresh[1:]]:
        batch.add([data])
    results = batch.finish()
    assert [r.status for r in results] == [IngestStatus.STORED, IngestStatus.CONFLICT, IngestStatus.STORED, IngestStatus.STORED]
    assert len(commits) == 1
    logged = archive.catalog.conflicts(first.sop_instance_uid)
    assert [c["blob_sha256"] for c in logged] == [hashlib.sha256(clash).hexdigest()]
    assert archive.catalog.totals()["instances"] == 4
    # a batch of conflicts only is logged in one commit too
    again = make_instance(SOPInstanceUID=first.sop_instance_uid, StudyInstanceUID=study, PatientName="Third^Version")
    assert archive.ingestor.ingest_bytes(again, source="test").status is IngestStatus.CONFLICT
    assert len(commits) == 2 and len(archive.catalog.conflicts(first.sop_instance_uid)) == 2


def test_batch_study_mismatch(sqlite_archive, make_instance):
    study = generate_uid()
    batch = sqlite_archive.ingestor.batch(source="stow")
    batch.add([make_instance(StudyInstanceUID=study)], expect_study_uid=study)
    batch.add([make_instance()], expect_study_uid=study)
    ok, other = batch.finish()
    assert ok.status is IngestStatus.STORED
    assert other.status is IngestStatus.REJECTED and other.code == "study_mismatch"
    assert study in (other.reason or "") and other.sop_instance_uid
    assert sqlite_archive.catalog.totals()["instances"] == 1


def test_batch_failure_discards_the_batch_and_keeps_earlier_ones(sqlite_archive, make_instance, monkeypatch):
    archive = sqlite_archive
    batch = archive.ingestor.batch(source="test")
    first = make_instance()
    batch.add([first])
    assert batch.finish()[0].status is IngestStatus.STORED
    for _ in range(3):
        batch.add([make_instance()])

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(archive.catalog, "register_many", broken)  # fault injection
    with pytest.raises(RuntimeError):
        batch.finish()
    assert archive.catalog.totals()["instances"] == 1
    assert archive.store.read_bytes(hashlib.sha256(first).hexdigest()) == first
    assert list(archive.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]
    assert len(batch) == 0


def test_abort_discards_spooled_objects(sqlite_archive, make_instance):
    with sqlite_archive.ingestor.batch(source="test") as batch:
        batch.add([make_instance()])
        batch.add([make_instance()])
        assert len(batch) == 2 and batch.pending_bytes > 0
    assert list(sqlite_archive.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]
    assert sqlite_archive.catalog.totals()["instances"] == 0


def test_commit_many_flushes_once_for_any_number(tmp_path, monkeypatch):
    if fs._syncfs is None:
        pytest.skip("no syncfs(2) on this system: commit_many commits one by one")
    store = FileBlobStore(tmp_path)
    calls: list[str] = []
    real = fs._sync_filesystem
    monkeypatch.setattr(fs, "_sync_filesystem", lambda p: (calls.append(str(p)), real(p)))
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    blobs = [os.urandom(1000 + i) for i in range(20)] + [b"same"] * 2
    writers = []
    for data in blobs:
        w = store.writer()
        w.write(data)
        writers.append(w)
    refs = store.commit_many(writers)
    assert [r.sha256 for r in refs] == [hashlib.sha256(d).hexdigest() for d in blobs]
    assert [store.read_bytes(r.sha256) for r in refs] == blobs
    assert len(calls) == 1 and fsyncs == []
    assert list(store.tmp_dir.iterdir()) == []
    # a writer committed this way is done: abort() does not remove the blob
    writers[0].abort()
    assert store.exists(refs[0].sha256)


def test_commit_many_of_one_flushes_once(tmp_path, monkeypatch):
    """A one-object request costs one (shared) filesystem flush, not a file and a directory fsync."""
    store = FileBlobStore(tmp_path)
    calls: list[str] = []
    real = fs._sync_filesystem
    monkeypatch.setattr(fs, "_sync_filesystem", lambda p: (calls.append(str(p)), real(p)))
    w = store.writer()
    w.write(b"x" * 10)
    (ref,) = store.commit_many([w])
    assert store.read_bytes(ref.sha256) == b"x" * 10
    assert len(calls) == (1 if fs._syncfs is not None else 0)
    assert store.commit_many([]) == []


def test_stow_request_is_one_catalog_transaction(tmp_path, make_instance):
    """Through the HTTP API: 10 parts, one index transaction."""
    from fastapi.testclient import TestClient

    from radhub.api import create_app
    from tests.dicomweb.conftest import multipart_body, stow_headers  # as the STOW tests build bodies

    archive = Archive.open(Settings(data_dir=tmp_path))
    commits = _commits(archive)
    parts = [make_instance() for _ in range(10)]
    body = multipart_body(parts, "b0undary")
    with TestClient(create_app(archive)) as client:
        r = client.post("/dicomweb/studies", content=body, headers=stow_headers("b0undary"))
    assert r.status_code == 200, r.text
    assert len(r.json()["00081199"]["Value"]) == 10
    assert len(commits) == 1
    assert archive.catalog.totals()["instances"] == 10


def _spooled_args(path, data: bytes) -> dict:
    path.write_bytes(data)
    return {
        "path": str(path),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": "test",
        "calling_ae": "",
        "expect_study_uid": None,
    }


def test_parser_pool_parses_in_other_processes_as_in_process(tmp_path, make_instance):
    args = _spooled_args(tmp_path / "a.dcm", make_instance(PatientName="Pool^Test"))
    pool = ParserPool(1)
    try:
        assert pool._executor().submit(os.getpid).result() != os.getpid()
        remote = pool.result(pool.submit(**args), **args)
    finally:
        pool.shutdown()
    local = parse_spooled(**args)
    assert remote == local and remote.record is not None
    assert remote.record.patient_name == "Pool^Test"
    bad = _spooled_args(tmp_path / "b.dcm", b"not dicom")
    assert ParserPool(0).submit(**bad).result().code == "not_dicom"


def test_parser_pool_survives_a_killed_worker(tmp_path, make_instance):
    """A parser process that dies (OOM killer, kill -9) costs a re-parse, not the objects."""
    import signal

    args = _spooled_args(tmp_path / "a.dcm", make_instance())
    pool = ParserPool(1)
    try:
        pool.warm_up()
        for pid in pool._executor().pids:
            os.kill(pid, signal.SIGKILL)
        first = pool.result(pool.submit(**args), **args)  # submitted to (or found) a broken pool
        again = pool.result(pool.submit(**args), **args)  # a new pool
    finally:
        pool.shutdown()
    assert first == again == parse_spooled(**args)


def test_concurrent_commits_share_flushes_that_begin_after_them(tmp_path, monkeypatch):
    """8 requests committing at once cost a few flushes, each caller served by a flush begun after its call."""
    if fs._syncfs is None:
        pytest.skip("no syncfs(2) on this system")
    import threading
    import time

    store = FileBlobStore(tmp_path)
    flushes: list[tuple[float, float]] = []
    real = fs._sync_filesystem

    def slow_flush(path):
        start = time.monotonic()
        time.sleep(0.05)
        real(path)
        flushes.append((start, time.monotonic()))

    monkeypatch.setattr(fs, "_sync_filesystem", slow_flush)
    calls: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def commit(i: int) -> None:
        writers = []
        for j in range(3):
            w = store.writer()
            w.write(f"blob {i} {j}".encode())
            writers.append(w)
        begun = time.monotonic()
        try:
            store.commit_many(writers)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        calls.append((begun, time.monotonic()))

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(store.read_bytes(hashlib.sha256(f"blob {i} {j}".encode()).hexdigest()) for i in range(8) for j in range(3))
    assert len(flushes) < 8  # shared: one per caller without the group
    for begun, ended in calls:  # every caller waited for a flush that began after it called and ended before it returned
        assert any(begun <= start and end <= ended for start, end in flushes)
    assert list(store.tmp_dir.iterdir()) == []


def test_a_failed_shared_flush_fails_its_caller_only_and_is_retried(tmp_path, monkeypatch):
    if fs._syncfs is None:
        pytest.skip("no syncfs(2) on this system")
    store = FileBlobStore(tmp_path)
    real = fs._sync_filesystem
    failures = [OSError(5, "syncfs failed: Input/output error")]

    def flaky(path):
        if failures:
            raise failures.pop()
        real(path)

    monkeypatch.setattr(fs, "_sync_filesystem", flaky)
    writers = [store.writer() for _ in range(2)]
    for i, w in enumerate(writers):
        w.write(b"x%d" % i)
    with pytest.raises(OSError, match="Input/output error"):
        store.commit_many(writers)
    writers = [store.writer() for _ in range(2)]
    for i, w in enumerate(writers):
        w.write(b"y%d" % i)
    refs = store.commit_many(writers)  # the next caller flushes again
    assert [store.read_bytes(r.sha256) for r in refs] == [b"y0", b"y1"]


def test_a_lost_rename_is_repaired_at_start_up(tmp_path, make_instance):
    """commit_many does not flush the final renames: a crash may leave committed blobs sealed in tmp/.

    The start-up sweep puts back those the catalog refers to and deletes the rest.
    """
    archive = Archive.open(Settings(data_dir=tmp_path))
    objects = [make_instance() for _ in range(3)]
    batch = archive.ingestor.batch(source="test")
    for data in objects:
        batch.add([data])
    assert all(r.status is IngestStatus.STORED for r in batch.finish())
    store = archive.store
    digests = [hashlib.sha256(d).hexdigest() for d in objects]
    # what a crash before the renames reached the disk leaves: the blobs under their sealed names
    for i, digest in enumerate(digests):
        os.replace(store.path(digest), store.tmp_dir / f"blob-crash{i}.{digest}.ready")  # type: ignore[attr-defined]
    stray = hashlib.sha256(b"never indexed").hexdigest()
    (store.tmp_dir / f"blob-crash9.{stray}.ready").write_bytes(b"never indexed")  # type: ignore[attr-defined]
    (store.tmp_dir / "blob-partial.tmp").write_bytes(b"half an obj")  # type: ignore[attr-defined]
    archive.close()

    reopened = Archive.open(Settings(data_dir=tmp_path))
    assert [reopened.store.read_bytes(d) for d in digests] == objects
    assert not reopened.store.exists(stray)
    assert list(reopened.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]
    assert reopened.check_consistency(full=True).rows_without_blob == []
    reopened.close()
