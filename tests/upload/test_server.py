"""tus against a real ``radhub serve`` subprocess: real sockets, dropped connections, kill -9 and restart."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from radhub.archive import Archive
from radhub.config import Settings
from radhub.retrieve import Retriever
from tests.upload.conftest import (
    TUS,
    PartialPatch,
    create_headers,
    data_file,
    make_object,
    patch_headers,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)

CHUNK = 3 << 20  # 3 MiB PATCHes; the server writes in 1 MiB pieces


def _stored_bytes(data_dir, sop_uid: str) -> bytes:
    # sweep=False: the running server owns the temp files
    archive = Archive.open(Settings(data_dir=data_dir), sweep=False)
    try:
        retriever = Retriever(archive)
        (instance,) = retriever.find(sop_uid=sop_uid)
        with retriever.open(instance) as fh:
            return fh.read()
    finally:
        archive.close()


def _create(http: httpx.Client, base_url: str, data: bytes, name: str) -> str:
    r = http.post(base_url + "/upload", headers=create_headers(data, name))
    assert r.status_code == 201, r.text
    return r.headers["Location"]


def _patch(http: httpx.Client, url: str, offset: int, chunk: bytes) -> httpx.Response:
    return http.patch(url, content=chunk, headers=patch_headers(offset, chunk))


def _finish(http: httpx.Client, url: str, data: bytes, offset: int) -> httpx.Response:
    r = None
    while offset < len(data):
        r = _patch(http, url, offset, data[offset : offset + CHUNK])
        assert r.status_code in (204, 422), r.text
        offset = int(r.headers["Upload-Offset"])
    assert r is not None
    return r


def _offset(http: httpx.Client, url: str) -> int:
    r = http.head(url, headers=TUS)
    assert r.status_code == 200, r.text
    return int(r.headers["Upload-Offset"])


@pytest.fixture
def http():
    with httpx.Client(timeout=120) as client:
        yield client


def test_protocol_over_http(module_radhub_server, http, tmp_path):
    server = module_radhub_server
    r = http.options(server.base_url + "/upload")
    assert r.status_code == 204 and "checksum" in r.headers["Tus-Extension"]
    path = make_object(tmp_path, "server-protocol", frames=4)
    data = path.read_bytes()
    url = _create(http, server.base_url, data, path.name)
    assert url.startswith(server.base_url + "/upload/")
    assert _offset(http, url) == 0
    r = _finish(http, url, data, 0)
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored"
    status = http.get(url + "/status").json()
    assert status["state"] == "stored"
    assert _stored_bytes(server.data_dir, status["results"][0]["sop_instance_uid"]) == data
    # 409 / 460 / 404 / 413 over the wire
    assert _patch(http, url, 0, b"x").status_code in (409, 413)
    assert http.head(server.base_url + "/upload/" + "f" * 32, headers=TUS).status_code == 404
    too_big = http.post(
        server.base_url + "/upload", headers={**TUS, "Upload-Length": str(3 * 1024**3)}
    )
    assert too_big.status_code == 413
    url2 = _create(http, server.base_url, b"0123456789", "x.dcm")
    r = http.patch(url2, content=b"01234", headers=patch_headers(0, b"01235"))
    assert r.status_code == 460 and _offset(http, url2) == 0
    assert http.delete(url2, headers=TUS).status_code == 204


@pytest.mark.parametrize("checksum", [False, True], ids=["plain", "checksummed"])
def test_connection_closed_mid_chunk_then_resume(module_radhub_server, http, tmp_path, checksum):
    """A raw socket sends half a chunk and closes: the server keeps what it received (with a checksum: none)."""
    server = module_radhub_server
    path = make_object(tmp_path, f"closed-mid-chunk-{checksum}", frames=16)
    data = path.read_bytes()
    url = _create(http, server.base_url, data, path.name)
    assert _patch(http, url, 0, data[:CHUNK]).status_code == 204

    half = CHUNK // 2
    partial = PartialPatch(url, CHUNK, data[CHUNK : 2 * CHUNK], half, checksum=checksum)
    # the server is writing this request's bytes (so it holds the upload's lock) ...
    wait_for(
        lambda: data_file(server.data_dir, url).stat().st_size >= CHUNK + (1 << 20),
        "the partial chunk on disk",
    )
    partial.close()  # ... when the client goes away
    # HEAD waits for the interrupted request to settle, then tells where to resume
    offset = _offset(http, url)
    if checksum:
        assert offset == CHUNK  # unverifiable partial bytes are discarded
    else:
        # what reached the handler is kept (uvicorn drops the body it still buffered at the disconnect)
        assert CHUNK + (1 << 20) <= offset <= CHUNK + half
    assert http.get(url + "/status").json()["offset"] == offset

    r = _finish(http, url, data, offset)
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored", r.text
    sop = http.get(url + "/status").json()["results"][0]["sop_instance_uid"]
    assert _stored_bytes(server.data_dir, sop) == data


def test_concurrent_patch_is_refused_with_423(module_radhub_server, http, tmp_path):
    server = module_radhub_server
    path = make_object(tmp_path, "concurrent-patch", frames=8)
    data = path.read_bytes()
    url = _create(http, server.base_url, data, path.name)
    partial = PartialPatch(url, 0, data[:CHUNK], (1 << 20) + 1000)
    try:
        wait_for(
            lambda: data_file(server.data_dir, url).stat().st_size >= 1 << 20,
            "the first PATCH writing",
        )
        r = _patch(http, url, 0, data[:CHUNK])
        assert r.status_code == 423
        assert "another request is writing" in r.json()["detail"]
    finally:
        partial.close()
    offset = _offset(http, url)
    assert offset == (1 << 20) + 1000
    assert _finish(http, url, data, offset).headers["Upload-State"] == "stored"


@pytest.mark.slow
def test_kill_9_mid_chunk_restart_and_resume(radhub_server, http, tmp_path):
    """SIGKILL while a chunk is half received: after restart HEAD gives the last confirmed offset.

    Then a graceful restart between chunks; the upload completes bit-exact.
    """
    server = radhub_server
    path = make_object(tmp_path, "kill-9", frames=16)
    data = path.read_bytes()
    url = _create(http, server.base_url, data, path.name)
    confirmed = CHUNK
    assert _patch(http, url, 0, data[:CHUNK]).status_code == 204
    assert len(data) > 2 * CHUNK  # the partial chunk is not the last one

    partial = PartialPatch(url, confirmed, data[confirmed : confirmed + CHUNK], CHUNK - 100)
    wait_for(
        lambda: data_file(server.data_dir, url).stat().st_size > confirmed,
        "the partial chunk on disk",
    )
    server.kill()
    partial.close()
    server.start()

    assert _offset(http, url) == confirmed  # never more than what was confirmed
    # one more chunk, then a graceful restart: the upload is still there
    assert _patch(http, url, confirmed, data[confirmed : confirmed + CHUNK]).status_code == 204
    confirmed += CHUNK
    server.stop()
    server.start()
    assert _offset(http, url) == confirmed
    r = _finish(http, url, data, confirmed)
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored", r.text
    status = http.get(url + "/status").json()
    assert status["results"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert _stored_bytes(server.data_dir, status["results"][0]["sop_instance_uid"]) == data


@pytest.mark.slow
def test_zip_of_a_corpus_folder(module_radhub_server, http, ct_folder_zip):
    """The GE CT folder (28 slices) plus a malformed file, zipped: each member ingested and listed."""
    server = module_radhub_server
    data = ct_folder_zip.read_bytes()
    url = _create(http, server.base_url, data, ct_folder_zip.name)
    r = _finish(http, url, data, 0)
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored"
    status = http.get(url + "/status").json()
    assert status["kind"] == "zip"
    assert status["summary"]["stored"] + status["summary"]["duplicate"] == 28
    assert status["summary"]["rejected"] == 1
    by_path = {x["path"]: x for x in status["results"]}
    assert by_path["dcm_qa_ct_GE/MR_truncated.dcm"]["code"] == "truncated"
    assert (
        len({x["sop_instance_uid"] for x in status["results"] if x["status"] != "rejected"}) == 28
    )


def test_third_party_tus_client_interoperates(module_radhub_server, tmp_path):
    """tuspy (the tus project's Python client) creates, stops part-way, resumes from HEAD and completes."""
    tusclient = pytest.importorskip("tusclient.client", reason="tuspy is not installed")
    server = module_radhub_server
    path = make_object(tmp_path, "tuspy", frames=6)
    data = path.read_bytes()
    checksum = f"sha256 {hashlib.sha256(data).hexdigest()}"
    client = tusclient.TusClient(server.base_url + "/upload")
    uploader = client.uploader(
        str(path),
        chunk_size=1 << 20,
        metadata={"filename": path.name, "checksum": checksum},
        upload_checksum=True,
    )
    uploader.upload(stop_at=2 << 20)
    assert uploader.offset == 2 << 20
    resumed = client.uploader(str(path), url=uploader.url, chunk_size=1 << 20, upload_checksum=True)
    assert resumed.offset == 2 << 20  # from the server's HEAD
    resumed.upload()
    status = httpx.get(uploader.url + "/status").json()
    assert status["state"] == "stored"
    assert _stored_bytes(server.data_dir, status["results"][0]["sop_instance_uid"]) == data
