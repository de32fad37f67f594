"""radhub.ingest.UploadStore: durability, locking, expiry, completion through the one ingest path."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radhub.ingest import (
    ChunkChecksum,
    ObjectChecksum,
    UploadChecksumError,
    UploadExpiredError,
    UploadLockedError,
    UploadNotFoundError,
    UploadOffsetError,
    UploadRequestError,
    UploadState,
    UploadStore,
    UploadTooLargeError,
    decode_upload_metadata,
    encode_upload_metadata,
)
from radhub.retrieve import Retriever
from tests.upload.conftest import ct_file, make_object, whole_checksum


class Clock:
    """A settable UTC clock passed to the store."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _store(archive, **kwargs) -> UploadStore:
    return UploadStore.from_settings(archive.settings, archive.ingestor, **kwargs)


def test_completion_goes_through_the_ingest_pipeline_on_both_databases(archive):
    """SQLite and PostgreSQL: a chunked upload ends as a bit-exact stored instance."""
    store = _store(archive)
    data = ct_file(12).read_bytes()
    up = store.create(len(data), {"filename": "12.dcm", "checksum": whole_checksum(data)})
    up = store.append(up.id, 0, [data[:100_000], data[100_000:250_000]])
    assert (up.offset, up.state) == (250_000, UploadState.UPLOADING)
    up = store.append(up.id, up.offset, [data[250_000:]])
    assert up.state is UploadState.STORED
    (result,) = up.results
    retriever = Retriever(archive)
    (instance,) = retriever.find(sop_uid=result["sop_instance_uid"])
    with retriever.open(instance) as fh:
        assert fh.read() == data
    assert (
        archive.catalog.instances(sop_uid=result["sop_instance_uid"])[0].blob_sha256
        == hashlib.sha256(data).hexdigest()
    )
    assert not (store.root / up.id / "data").exists()


def test_uploads_survive_a_new_store_and_drop_uncommitted_bytes(sqlite_archive):
    """A new store over the same directory (a restarted server) sees the committed offset only."""
    data = ct_file(13).read_bytes()
    store = _store(sqlite_archive)
    up = store.create(len(data), {"checksum": whole_checksum(data)})
    store.append(up.id, 0, [data[:300_000]])
    # a request that wrote bytes but never committed (the process died mid-chunk)
    with open(store.root / up.id / "data", "ab") as fh:
        fh.write(b"\xde\xad" * 5000)

    reopened = _store(sqlite_archive)
    assert reopened.head(up.id).offset == 300_000
    with pytest.raises(UploadOffsetError) as info:
        reopened.append(up.id, 310_000, [b"x"])
    assert info.value.offset == 300_000
    done = reopened.append(up.id, 300_000, [data[300_000:]])
    assert done.state is UploadState.STORED
    assert done.results[0]["sha256"] == hashlib.sha256(data).hexdigest()


def test_record_is_written_atomically_as_json(sqlite_archive):
    store = _store(sqlite_archive)
    up = store.create(5, {"filename": "a.dcm"})
    store.append(up.id, 0, [b"ab"])
    record = json.loads((store.root / up.id / "upload.json").read_text())
    assert (record["offset"], record["length"], record["state"]) == (2, 5, "uploading")
    assert record["metadata"] == {"filename": "a.dcm"}
    assert not (store.root / up.id / "upload.json.tmp").exists()


def test_crash_during_verification_is_completed_on_next_access(sqlite_archive):
    """An upload left 'verifying' by a dead process (nobody holds its lock) is finished by get()."""
    data = ct_file(14).read_bytes()
    store = _store(sqlite_archive)
    up = store.create(len(data))
    up = store.append(up.id, 0, [data[:-10]])
    # simulate the crash: all bytes durable, state verifying, no ingest happened
    with open(store.root / up.id / "data", "ab") as fh:
        fh.write(data[-10:])
    crashed = dataclasses.replace(up, offset=len(data), state=UploadState.VERIFYING)
    store._save(crashed)
    assert sqlite_archive.catalog.totals()["instances"] == 0
    finished = _store(sqlite_archive).get(up.id)
    assert finished.state is UploadState.STORED
    assert sqlite_archive.catalog.totals()["instances"] == 1


def test_crash_after_the_last_commit_is_completed_on_next_access(sqlite_archive):
    """Killed between committing the last byte and starting the completion: HEAD/status finish it."""
    data = ct_file(15).read_bytes()
    store = _store(sqlite_archive)
    up = store.create(len(data))
    store.append(up.id, 0, [data[:-10]])
    with open(store.root / up.id / "data", "ab") as fh:
        fh.write(data[-10:])
    store._save(dataclasses.replace(store.get(up.id), offset=len(data)))  # state still uploading
    finished = _store(sqlite_archive).head(up.id)
    assert (finished.state, finished.offset) == (UploadState.STORED, len(data))


def test_chunk_checksum_mismatch_keeps_the_offset(sqlite_archive):
    store = _store(sqlite_archive)
    up = store.create(10)
    wrong = ChunkChecksum("sha1", hashlib.sha1(b"01234").digest())
    with pytest.raises(UploadChecksumError, match="offset did not advance"):
        store.append(up.id, 0, [b"01235"], checksum=wrong)
    assert store.head(up.id).offset == 0
    assert (store.root / up.id / "data").stat().st_size == 0
    store.append(up.id, 0, [b"01234"], checksum=wrong)
    assert store.head(up.id).offset == 5


def test_interrupted_chunk_keeps_received_bytes_unless_checksummed(sqlite_archive):
    store = _store(sqlite_archive)
    up = store.create(100)
    with store.begin_append(up.id, 0) as writer:
        writer.write(b"a" * 30)
        assert writer.interrupt().offset == 30
    checksum = ChunkChecksum("md5", hashlib.md5(b"b" * 70).digest())
    with store.begin_append(up.id, 30, checksum=checksum) as writer:
        writer.write(b"b" * 20)
        assert writer.interrupt().offset == 30
    assert store.head(up.id).offset == 30


def test_a_second_writer_is_locked_out(sqlite_archive):
    store = _store(sqlite_archive, lock_timeout=0.2)
    up = store.create(100)
    with store.begin_append(up.id, 0) as writer:
        writer.write(b"x" * 10)
        with pytest.raises(UploadLockedError, match="another request is writing"):
            store.begin_append(up.id, 0)
        # a second store (another process over the same directory) is locked out too
        with pytest.raises(UploadLockedError):
            _store(sqlite_archive, lock_timeout=0.1).terminate(up.id)
        writer.commit()
    assert store.head(up.id).offset == 10


def test_concurrent_appends_are_serialised(sqlite_archive):
    """Many threads PATCH the same offset: exactly one wins, the rest get 409/423 errors."""
    store = _store(sqlite_archive, lock_timeout=2.0)
    up = store.create(1000)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.append(up.id, 0, [bytes([i]) * 100])
            outcomes.append("ok")
        except UploadOffsetError:
            outcomes.append("offset")
        except UploadLockedError:
            outcomes.append("locked")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1
    assert store.head(up.id).offset == 100
    data = (store.root / up.id / "data").read_bytes()
    assert len(set(data)) == 1  # one writer's bytes, not a mix


def test_limits(sqlite_archive):
    store = UploadStore(
        sqlite_archive.settings.data_dir / "u",
        sqlite_archive.ingestor,
        max_size=1000,
        expiry=timedelta(hours=1),
    )
    with pytest.raises(UploadTooLargeError, match="exceeds the maximum upload size of 1000"):
        store.create(1001)
    with pytest.raises(UploadRequestError, match="non-negative"):
        store.create(-1)
    deferred = store.create(None)
    with pytest.raises(UploadTooLargeError, match="maximum upload size of 1000"):
        store.append(deferred.id, 0, [b"x" * 600, b"x" * 600])
    assert store.head(deferred.id).offset == 0
    up = store.create(10)
    with pytest.raises(UploadTooLargeError, match="Upload-Length of 10"):
        store.append(up.id, 0, [b"x" * 11])


def test_expiry_and_sweep_with_a_clock(sqlite_archive):
    clock = Clock()
    store = _store(sqlite_archive, clock=clock)
    old = store.create(10)
    clock.now += timedelta(hours=sqlite_archive.settings.upload_expiry_hours - 1)
    young = store.create(10)
    store.append(old.id, 0, [b"12345"])  # activity moves the expiry forward
    assert store.get(old.id).expires == clock.now + store.expiry
    clock.now += timedelta(hours=2)
    assert store.sweep() == 0
    clock.now += timedelta(hours=sqlite_archive.settings.upload_expiry_hours)
    with pytest.raises(UploadExpiredError, match="start a new upload"):
        store.head(young.id)
    with pytest.raises(UploadNotFoundError):
        store.head(young.id)
    assert store.sweep() == 1
    assert [u.id for u in store] == []


def test_finished_status_is_kept_until_expiry(sqlite_archive):
    clock = Clock()
    store = _store(sqlite_archive, clock=clock)
    data = make_object(sqlite_archive.settings.data_dir.parent, "kept").read_bytes()
    up = store.create(len(data))
    assert store.append(up.id, 0, [data]).state is UploadState.STORED
    clock.now += store.expiry - timedelta(seconds=1)
    assert store.get(up.id).state is UploadState.STORED
    clock.now += timedelta(seconds=2)
    assert store.sweep() == 1
    with pytest.raises(UploadNotFoundError):
        store.get(up.id)


def test_ids_are_validated(sqlite_archive):
    store = _store(sqlite_archive)
    for bad in ("../../etc", "ABC", "0" * 31):
        with pytest.raises(UploadNotFoundError, match="32 hex characters"):
            store.get(bad)


def test_object_checksum_parsing():
    assert str(ObjectChecksum.parse("SHA256 " + "A" * 64)) == "sha256 " + "a" * 64
    with pytest.raises(UploadRequestError, match="32 hex digits"):
        ObjectChecksum.parse("md5 abcd")
    with pytest.raises(UploadRequestError, match="'<algorithm> <hex digest>'"):
        ObjectChecksum.parse("sha256")


def test_metadata_examples():
    assert decode_upload_metadata("filename Y3QuZGNt,flag") == {"filename": "ct.dcm", "flag": ""}
    assert decode_upload_metadata(None) == {}
    with pytest.raises(UploadRequestError, match="appears twice"):
        decode_upload_metadata("a YQ==,a YQ==")
    with pytest.raises(UploadRequestError, match="UTF-8"):
        decode_upload_metadata("a //79")


_keys = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=","),
    min_size=1,
    max_size=12,
)


@given(st.dictionaries(_keys, st.text(max_size=40), max_size=6))
def test_metadata_round_trip(metadata):
    assert decode_upload_metadata(encode_upload_metadata(metadata)) == metadata
