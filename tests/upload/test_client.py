"""radhub.ingest.upload_file: create, chunk, verify, and resume from the server's offset."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest

from radhub.ingest import UploadFailedError, upload_file
from radhub.retrieve import Retriever
from tests.conftest import shared_data
from tests.upload.conftest import TUS, make_object

CHUNK = 1 << 20


class Interrupt(Exception):
    """Raised from on_progress to stop a transfer part-way (as Ctrl-C or a closed laptop would)."""


def _stop_after(limit: int):
    def on_progress(offset: int, size: int) -> None:
        if offset >= limit:
            raise Interrupt(offset)

    return on_progress


def _bytes_of(archive, sop_uid: str) -> bytes:
    retriever = Retriever(archive)
    (instance,) = retriever.find(sop_uid=sop_uid)
    with retriever.open(instance) as fh:
        return fh.read()


def test_upload_file_stores_a_bit_exact_object(app_client, big_object, tmp_path):
    client, archive = app_client
    progress: list[tuple[int, int]] = []
    state = tmp_path / "resume.json"
    receipt = upload_file(
        "http://testserver/upload",
        big_object,
        chunk_size=CHUNK,
        client=client,
        state_file=state,
        on_progress=lambda o, s: progress.append((o, s)),
    )
    size = big_object.stat().st_size
    assert receipt.ok and receipt.state == "stored" and receipt.verified
    assert (receipt.size, receipt.resumed_from, receipt.bytes_sent) == (size, 0, size)
    assert progress[0] == (0, size) and progress[-1] == (size, size)
    assert [o for o, _ in progress] == sorted(o for o, _ in progress)
    (result,) = receipt.results
    assert result["sha256"] == hashlib.sha256(big_object.read_bytes()).hexdigest()
    assert _bytes_of(archive, result["sop_instance_uid"]) == big_object.read_bytes()
    assert json.loads(state.read_text()) == {}  # finished uploads are forgotten


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
def test_other_checksum_algorithms(app_client, tmp_path, algorithm):
    client, _ = app_client
    path = make_object(tmp_path, f"client-{algorithm}")
    receipt = upload_file(
        "http://testserver/upload",
        path,
        chunk_size=200_000,
        checksum=algorithm,
        client=client,
        resume=False,
    )
    assert receipt.state == "stored"


def test_interrupted_then_called_again_continues_from_the_server_offset(
    app_client, big_object, tmp_path
):
    client, archive = app_client
    state = tmp_path / "resume.json"
    size = big_object.stat().st_size
    with pytest.raises(Interrupt):
        upload_file(
            "http://testserver/upload",
            big_object,
            chunk_size=CHUNK,
            client=client,
            state_file=state,
            on_progress=_stop_after(3 * CHUNK),
        )
    (entry,) = json.loads(state.read_text()).values()
    head = client.head(entry["url"], headers=TUS)
    assert head.headers["Upload-Offset"] == str(3 * CHUNK)

    receipt = upload_file(
        "http://testserver/upload", big_object, chunk_size=CHUNK, client=client, state_file=state
    )
    assert receipt.url == entry["url"]
    assert receipt.resumed_from == 3 * CHUNK
    assert receipt.bytes_sent == size - 3 * CHUNK  # not from zero
    assert receipt.state == "stored"
    assert _bytes_of(archive, receipt.results[0]["sop_instance_uid"]) == big_object.read_bytes()


def test_a_remembered_upload_that_is_gone_starts_over(app_client, tmp_path):
    client, _ = app_client
    path = make_object(tmp_path, "gone-upload")
    state = tmp_path / "resume.json"
    with pytest.raises(Interrupt):
        upload_file(
            "http://testserver/upload",
            path,
            chunk_size=100_000,
            client=client,
            state_file=state,
            on_progress=_stop_after(100_000),
        )
    (entry,) = json.loads(state.read_text()).values()
    assert client.delete(entry["url"], headers=TUS).status_code == 204
    receipt = upload_file(
        "http://testserver/upload", path, chunk_size=100_000, client=client, state_file=state
    )
    assert receipt.url != entry["url"] and receipt.resumed_from == 0 and receipt.state == "stored"


def test_resume_false_keeps_no_state(app_client, tmp_path, monkeypatch):
    client, _ = app_client
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = make_object(tmp_path, "no-state")
    with pytest.raises(Interrupt):
        upload_file(
            "http://testserver/upload",
            path,
            chunk_size=100_000,
            client=client,
            resume=False,
            on_progress=_stop_after(100_000),
        )
    assert not (tmp_path / "cache").exists()
    receipt = upload_file(
        "http://testserver/upload", path, chunk_size=100_000, client=client, resume=False
    )
    assert receipt.resumed_from == 0 and receipt.state == "stored"


def test_rejected_object_is_a_receipt_not_an_exception(app_client, tmp_path):
    client, _ = app_client
    receipt = upload_file(
        "http://testserver/upload",
        shared_data("dicom", "malformed", "rtplan_truncated.dcm"),
        chunk_size=1000,
        client=client,
        state_file=tmp_path / "s.json",
    )
    assert not receipt.ok
    assert receipt.state == "rejected" and receipt.status["code"] == "truncated"
    assert receipt.reason
    assert receipt.verified  # the bytes arrived intact; the object itself is refused


def test_zip_through_the_client(app_client, ct_folder_zip, tmp_path):
    client, archive = app_client
    receipt = upload_file(
        "http://testserver/upload",
        ct_folder_zip,
        chunk_size=4 << 20,
        client=client,
        state_file=tmp_path / "s.json",
    )
    assert receipt.state == "stored"
    assert receipt.status["summary"] == {"stored": 28, "duplicate": 0, "conflict": 0, "rejected": 1}
    assert archive.catalog.totals()["instances"] == 28


def test_invalid_arguments(tmp_path):
    path = make_object(tmp_path, "args")
    with pytest.raises(ValueError, match="checksum must be one of md5, sha1, sha256"):
        upload_file("http://127.0.0.1:9/upload", path, chunk_size=10, checksum="crc32")
    with pytest.raises(ValueError, match="chunk_size must be a positive"):
        upload_file("http://127.0.0.1:9/upload", path, chunk_size=0)
    with pytest.raises(FileNotFoundError):
        upload_file("http://127.0.0.1:9/upload", tmp_path / "missing.dcm", chunk_size=10)


def test_server_unreachable_fails_clearly(tmp_path):
    from tests.conftest import free_port

    path = make_object(tmp_path, "unreachable")
    with pytest.raises(UploadFailedError, match="upload failed after 1 retries"):
        upload_file(
            f"http://127.0.0.1:{free_port()}/upload",
            path,
            chunk_size=1000,
            max_retries=1,
            retry_backoff=0.01,
            state_file=tmp_path / "s.json",
        )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_server_killed_then_upload_file_again_resumes(radhub_server, tmp_path):
    """kill -9 mid-transfer: the call fails after its retries; after a restart the next call resumes."""
    server = radhub_server
    path = make_object(tmp_path, "client-kill", frames=16)
    size = path.stat().st_size
    state = tmp_path / "resume.json"
    killed_at: list[int] = []

    def kill_after_two_chunks(offset: int, total: int) -> None:
        if offset >= 2 * CHUNK and not killed_at:
            killed_at.append(offset)
            server.kill()

    with pytest.raises(UploadFailedError) as info:
        upload_file(
            server.base_url + "/upload",
            path,
            chunk_size=CHUNK,
            state_file=state,
            on_progress=kill_after_two_chunks,
            max_retries=2,
            retry_backoff=0.05,
        )
    assert info.value.url is not None
    server.start()
    receipt = upload_file(server.base_url + "/upload", path, chunk_size=CHUNK, state_file=state)
    assert receipt.url == info.value.url
    assert receipt.resumed_from == killed_at[0] == 2 * CHUNK
    assert receipt.bytes_sent == size - 2 * CHUNK
    assert receipt.state == "stored" and receipt.verified
    assert receipt.results[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_call_rides_out_a_server_restart(radhub_server, tmp_path):
    """The server is killed and comes back while upload_file is retrying: the same call finishes."""
    server = radhub_server
    path = make_object(tmp_path, "client-restart", frames=16)
    size = path.stat().st_size
    restarts: list[threading.Thread] = []

    def restart_after_a_chunk(offset: int, total: int) -> None:
        if offset >= CHUNK and not restarts:
            server.kill()
            restarts.append(threading.Thread(target=server.start))
            restarts[0].start()

    receipt = upload_file(
        server.base_url + "/upload",
        path,
        chunk_size=CHUNK,
        state_file=tmp_path / "s.json",
        on_progress=restart_after_a_chunk,
        max_retries=12,
        retry_backoff=0.25,
    )
    restarts[0].join()
    assert receipt.state == "stored" and receipt.resumed_from == 0
    assert size <= receipt.bytes_sent <= size + CHUNK  # at most the chunk in flight went twice
    assert receipt.results[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
