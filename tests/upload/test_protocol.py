"""The tus 1.0.0 protocol of /upload step by step, through the FastAPI app (TestClient)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from email.utils import parsedate_to_datetime

import pytest

from radhub.config import Settings
from radhub.retrieve import Retriever
from tests.conftest import shared_data
from tests.upload.conftest import (
    OCTETS,
    TUS,
    chunk_checksum,
    create_headers,
    ct_file,
    make_object,
    metadata_header,
    patch_headers,
    whole_checksum,
)


def _create(client, data: bytes, name: str = "object.dcm", **extra: str) -> str:
    r = client.post("/upload", headers=create_headers(data, name, **extra))
    assert r.status_code == 201, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    return r.headers["Location"]


def _send(client, url: str, data: bytes, chunk: int, start: int = 0):
    offset, r = start, None
    while offset < len(data):
        piece = data[offset : offset + chunk]
        r = client.patch(url, content=piece, headers=patch_headers(offset, piece))
        assert r.status_code in (204, 422), r.text
        assert int(r.headers["Upload-Offset"]) == offset + len(piece)
        offset += len(piece)
    return r


def _stored_bytes(archive, sop_uid: str) -> bytes:
    retriever = Retriever(archive)
    (instance,) = retriever.find(sop_uid=sop_uid)
    with retriever.open(instance) as fh:
        return fh.read()


def test_options_advertises_version_extensions_limits(app_client):
    client, archive = app_client
    r = client.options("/upload")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "checksum",
        "termination",
    }
    assert int(r.headers["Tus-Max-Size"]) == archive.settings.max_object_bytes
    assert r.headers["Tus-Checksum-Algorithm"].split(",") == ["md5", "sha1", "sha256"]


def test_create_head_patch_in_chunks_then_bit_exact(app_client):
    client, archive = app_client
    data = ct_file(1).read_bytes()
    url = _create(client, data, "01.dcm")
    assert url.startswith("http://testserver/upload/")

    head = client.head(url, headers=TUS)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-State"] == "uploading"
    assert parsedate_to_datetime(head.headers["Upload-Expires"]).tzinfo is not None
    meta = dict(p.split(" ") for p in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(meta["filename"]) == b"01.dcm"

    # first 200 kB, then HEAD says where to continue, then the rest
    first = data[:200_000]
    r = client.patch(url, content=first, headers=patch_headers(0, first))
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "200000"
    assert r.headers["Upload-State"] == "uploading"
    assert "Upload-Expires" in r.headers
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "200000"
    status = client.get(url + "/status").json()
    assert (status["offset"], status["length"], status["state"]) == (
        200_000,
        len(data),
        "uploading",
    )

    last = _send(client, url, data, 150_000, start=200_000)
    assert last.status_code == 204
    assert last.headers["Upload-State"] == "stored"

    status = client.get(url + "/status").json()
    assert status["state"] == "stored"
    assert status["offset"] == status["length"] == len(data)
    (result,) = status["results"]
    assert result["status"] == "stored" and result["path"] == "01.dcm"
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["study_instance_uid"].startswith("1.2.826.0.1.3680043.9.4245.")
    assert isinstance(result["checks"], list)
    assert _stored_bytes(archive, result["sop_instance_uid"]) == data

    # HEAD after completion: offset == length, state final
    head = client.head(url, headers=TUS)
    assert (
        head.headers["Upload-Offset"] == str(len(data)) and head.headers["Upload-State"] == "stored"
    )


def test_same_object_again_is_a_duplicate(app_client):
    client, _ = app_client
    data = ct_file(2).read_bytes()
    for expected in ("stored", "duplicate"):
        url = _create(client, data)
        r = _send(client, url, data, 300_000)
        assert r.status_code == 204 and r.headers["Upload-State"] == expected


def test_tus_resumable_header_is_required(app_client):
    client, _ = app_client
    r = client.post("/upload", headers={"Upload-Length": "10"})
    assert r.status_code == 412
    assert r.headers["Tus-Version"] == "1.0.0"
    assert "Tus-Resumable must be 1.0.0" in r.json()["detail"]
    r = client.post("/upload", headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert r.status_code == 412


def test_create_needs_exactly_one_length_header(app_client):
    client, _ = app_client
    r = client.post("/upload", headers=TUS)
    assert r.status_code == 400 and "Upload-Length" in r.json()["detail"]
    r = client.post("/upload", headers={**TUS, "Upload-Length": "-3"})
    assert r.status_code == 400 and "non-negative integer" in r.json()["detail"]
    r = client.post("/upload", headers={**TUS, "Upload-Length": "5", "Upload-Defer-Length": "1"})
    assert r.status_code == 400


def test_bad_metadata_is_refused_at_creation(app_client):
    client, _ = app_client
    r = client.post(
        "/upload", headers={**TUS, "Upload-Length": "5", "Upload-Metadata": "filename ***"}
    )
    assert r.status_code == 400 and "base64" in r.json()["detail"]
    bad = metadata_header(checksum="crc32 00ff")
    r = client.post("/upload", headers={**TUS, "Upload-Length": "5", "Upload-Metadata": bad})
    assert r.status_code == 400 and "unsupported checksum algorithm 'crc32'" in r.json()["detail"]
    bad = metadata_header(checksum="sha256 abc")
    r = client.post("/upload", headers={**TUS, "Upload-Length": "5", "Upload-Metadata": bad})
    assert r.status_code == 400 and "64 hex digits" in r.json()["detail"]


def test_over_size_is_413(app_client):
    client, archive = app_client
    too_big = archive.settings.max_object_bytes + 1
    r = client.post("/upload", headers={**TUS, "Upload-Length": str(too_big)})
    assert r.status_code == 413
    assert "exceeds the maximum upload size" in r.json()["detail"]


def test_chunk_past_upload_length_is_413_and_kept_nothing(app_client):
    client, _ = app_client
    url = _create(client, b"x" * 10)
    r = client.patch(url, content=b"y" * 11, headers=patch_headers(0))
    assert r.status_code == 413
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "0"


def test_unknown_upload_is_404(app_client):
    client, _ = app_client
    for url in ("/upload/" + "0" * 32, "/upload/not-an-id"):
        r = client.head(url, headers=TUS)
        assert r.status_code == 404 and "Upload-Offset" not in r.headers
        assert client.patch(url, content=b"x", headers=patch_headers(0)).status_code == 404
        assert client.get(url + "/status").status_code == 404
        assert client.delete(url, headers=TUS).status_code == 404


def test_wrong_offset_is_409(app_client):
    client, _ = app_client
    data = ct_file(3).read_bytes()
    url = _create(client, data)
    first = data[:1000]
    assert client.patch(url, content=first, headers=patch_headers(0, first)).status_code == 204
    for wrong in (0, 500, 2000):
        piece = data[wrong : wrong + 100]
        r = client.patch(url, content=piece, headers=patch_headers(wrong, piece))
        assert r.status_code == 409
        assert r.headers["Upload-Offset"] == "1000"
        assert "does not match the upload's offset 1000" in r.json()["detail"]
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "1000"


def test_patch_needs_offset_octet_stream(app_client):
    client, _ = app_client
    url = _create(client, b"abc")
    r = client.patch(
        url, content=b"abc", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = client.patch(url, content=b"abc", headers={**TUS, "Content-Type": OCTETS})
    assert r.status_code == 400 and "Upload-Offset" in r.json()["detail"]


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_chunk_checksum_mismatch_is_460_and_offset_stays(app_client, algorithm):
    client, _ = app_client
    data = ct_file(4).read_bytes()
    url = _create(client, data)
    first = data[:4096]
    good = chunk_checksum(first, algorithm)
    assert (
        client.patch(
            url, content=first, headers=patch_headers(0, **{"Upload-Checksum": good})
        ).status_code
        == 204
    )
    piece = data[4096:8192]
    corrupted = piece[:-1] + bytes([piece[-1] ^ 0xFF])
    headers = patch_headers(4096, **{"Upload-Checksum": chunk_checksum(piece, algorithm)})
    r = client.patch(url, content=corrupted, headers=headers)
    assert r.status_code == 460
    assert "does not match Upload-Checksum" in r.json()["detail"]
    assert client.head(url, headers=TUS).headers["Upload-Offset"] == "4096"
    # the same chunk with the right bytes is accepted, then the rest completes a bit-exact object
    assert client.patch(url, content=piece, headers=headers).status_code == 204
    assert _send(client, url, data, 200_000, start=8192).headers["Upload-State"] == "stored"


def test_unsupported_or_malformed_chunk_checksum_is_400(app_client):
    client, _ = app_client
    url = _create(client, b"abcd")
    for value, message in (
        ("crc32 AAAA", "unsupported checksum algorithm"),
        ("sha256 not-base64!", "not valid base64"),
        ("sha256 " + base64.b64encode(b"short").decode(), "must be 32 bytes"),
        ("sha256", "'<algorithm> <base64 digest>'"),
    ):
        r = client.patch(url, content=b"ab", headers=patch_headers(0, **{"Upload-Checksum": value}))
        assert r.status_code == 400 and message in r.json()["detail"]


def test_whole_object_checksum_mismatch_rejects_and_stores_nothing(app_client):
    client, archive = app_client
    data = ct_file(5).read_bytes()
    wrong = whole_checksum(data[:-1] + b"\x00", "md5")
    headers = {
        **TUS,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": metadata_header(checksum=wrong),
    }
    url = client.post("/upload", headers=headers).headers["Location"]
    r = _send(client, url, data, 200_000)  # every chunk passes its own checksum
    assert r.status_code == 422
    body = r.json()
    assert body["state"] == "rejected" and body["code"] == "checksum_mismatch"
    assert "nothing was stored" in body["reason"] and "md5" in body["reason"]
    assert body["results"] == []
    assert client.get(url + "/status").json()["state"] == "rejected"
    assert archive.catalog.totals()["instances"] == 0
    assert not list((archive.settings.data_dir / "blobs").rglob("sha256/*/*/*"))
    upload_dir = archive.settings.data_dir / "uploads" / url.rsplit("/", 1)[1]
    assert not (upload_dir / "data").exists()


def test_whole_object_checksum_md5_and_sha1_accepted(app_client):
    client, _ = app_client
    data = ct_file(6).read_bytes()
    for algorithm in ("md5", "sha1"):
        headers = {
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata_header(checksum=whole_checksum(data, algorithm)),
        }
        url = client.post("/upload", headers=headers).headers["Location"]
        assert _send(client, url, data, 600_000).status_code == 204


def test_non_dicom_is_rejected_with_the_pipeline_reason(app_client):
    client, archive = app_client
    for name, code in (
        ("zipMR.gz", "not_dicom"),
        ("MR_truncated.dcm", "truncated"),
        ("badVR.dcm", "invalid_value"),
    ):
        data = shared_data("dicom", "malformed", name).read_bytes()
        url = _create(client, data, name)
        r = _send(client, url, data, 4096)
        assert r.status_code == 422, name
        body = r.json()
        assert (body["state"], body["code"]) == ("rejected", code)
        assert body["results"][0]["reason"] and body["results"][0]["path"] == name
        assert body["status_url"].endswith("/status")
    assert archive.catalog.totals()["instances"] == 0


def test_empty_upload_is_rejected_as_empty(app_client):
    client, _ = app_client
    url = client.post("/upload", headers={**TUS, "Upload-Length": "0"}).headers["Location"]
    r = client.patch(url, content=b"", headers=patch_headers(0))
    assert r.status_code == 422 and r.json()["code"] == "empty"


def test_expired_upload_is_410_then_404(tmp_path):
    from fastapi.testclient import TestClient

    from radhub.api import create_app
    from radhub.archive import Archive

    archive = Archive.open(Settings(data_dir=tmp_path / "data", upload_expiry_hours=0))
    try:
        with TestClient(create_app(archive)) as client:
            data = b"0123456789"
            r = client.post("/upload", headers=create_headers(data))
            url = r.headers["Location"]
            assert parsedate_to_datetime(r.headers["Upload-Expires"]) is not None
            r = client.patch(url, content=data[:5], headers=patch_headers(0))
            assert r.status_code == 410 and "expired" in r.json()["detail"]
            assert client.head(url, headers=TUS).status_code == 404
            assert not (archive.settings.data_dir / "uploads" / url.rsplit("/", 1)[1]).exists()
    finally:
        archive.close()


def test_termination(app_client):
    client, archive = app_client
    data = ct_file(7).read_bytes()
    url = _create(client, data)
    assert client.patch(url, content=data[:1000], headers=patch_headers(0)).status_code == 204
    r = client.delete(url, headers=TUS)
    assert r.status_code == 204 and r.headers["Tus-Resumable"] == "1.0.0"
    assert client.head(url, headers=TUS).status_code == 404
    assert (
        client.patch(url, content=data[1000:2000], headers=patch_headers(1000)).status_code == 404
    )
    assert not (archive.settings.data_dir / "uploads" / url.rsplit("/", 1)[1]).exists()


def test_creation_with_upload(app_client):
    client, archive = app_client
    data = ct_file(8).read_bytes()
    headers = {
        **create_headers(data),
        "Content-Type": OCTETS,
        "Upload-Checksum": chunk_checksum(data[:300_000]),
    }
    r = client.post("/upload", content=data[:300_000], headers=headers)
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == "300000"
    url = r.headers["Location"]
    assert _send(client, url, data, 300_000, start=300_000).headers["Upload-State"] == "stored"
    # the whole object in the creation request
    other = make_object(archive.settings.data_dir.parent, "creation-with-upload")
    body = other.read_bytes()
    r = client.post(
        "/upload", content=body, headers={**create_headers(body), "Content-Type": OCTETS}
    )
    assert r.status_code == 201 and r.headers["Upload-State"] == "stored"


def test_creation_with_upload_needs_octet_stream(app_client):
    client, _ = app_client
    r = client.post(
        "/upload", content=b"abc", headers={**create_headers(b"abc"), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_creation_defer_length(app_client):
    client, _ = app_client
    data = ct_file(9).read_bytes()
    meta = metadata_header(checksum=whole_checksum(data))
    r = client.post("/upload", headers={**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": meta})
    assert r.status_code == 201
    url = r.headers["Location"]
    head = client.head(url, headers=TUS)
    assert head.headers["Upload-Defer-Length"] == "1" and "Upload-Length" not in head.headers
    half = len(data) // 2
    assert client.patch(url, content=data[:half], headers=patch_headers(0)).status_code == 204
    # the length arrives with a later PATCH and cannot change afterwards
    r = client.patch(
        url, content=data[half:], headers=patch_headers(half, **{"Upload-Length": str(len(data))})
    )
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored"
    assert r.headers["Upload-Length"] == str(len(data))


def test_deferred_length_cannot_change_once_set(app_client):
    client, _ = app_client
    r = client.post("/upload", headers={**TUS, "Upload-Defer-Length": "1"})
    url = r.headers["Location"]
    assert (
        client.patch(
            url, content=b"ab", headers=patch_headers(0, **{"Upload-Length": "10"})
        ).status_code
        == 204
    )
    r = client.patch(url, content=b"cd", headers=patch_headers(2, **{"Upload-Length": "11"}))
    assert r.status_code == 400 and "cannot change" in r.json()["detail"]


def test_method_override(app_client):
    client, _ = app_client
    url = _create(client, b"0123456789")
    r = client.post(
        url, content=b"01234", headers={**patch_headers(0), "X-HTTP-Method-Override": "PATCH"}
    )
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "5"
    assert client.post(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}).status_code == 204
    assert client.head(url, headers=TUS).status_code == 404


def test_zip_of_a_corpus_folder_lists_every_member(app_client):
    client, archive = app_client
    folder = shared_data("dicom", "dcmqi", "segmentations", "ct-3slice")
    path = archive.settings.data_dir.parent / "ct-3slice.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.glob("*.dcm")):
            zf.write(f, f"ct-3slice/{f.name}")
        zf.writestr("ct-3slice/notes.txt", "not a DICOM file")
    data = path.read_bytes()
    url = _create(client, data, "ct-3slice.zip")
    r = _send(client, url, data, 256_000)
    assert r.status_code == 204 and r.headers["Upload-State"] == "stored"
    status = client.get(url + "/status").json()
    assert status["kind"] == "zip"
    assert status["summary"] == {"stored": 3, "duplicate": 0, "conflict": 0, "rejected": 1}
    by_path = {r["path"]: r for r in status["results"]}
    assert by_path["ct-3slice/notes.txt"]["code"] == "not_dicom"
    for f in sorted(folder.glob("*.dcm")):
        result = by_path[f"ct-3slice/{f.name}"]
        assert result["status"] == "stored"
        assert _stored_bytes(archive, result["sop_instance_uid"]) == f.read_bytes()


def test_declared_zip_that_is_not_a_zip_is_rejected(app_client):
    client, _ = app_client
    data = ct_file(10).read_bytes()
    meta = metadata_header(filetype="application/zip", checksum=whole_checksum(data))
    url = client.post(
        "/upload", headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    ).headers["Location"]
    r = _send(client, url, data, 600_000)
    assert r.status_code == 422 and r.json()["code"] == "invalid_zip"


def test_zip_with_a_corrupted_member(app_client):
    client, archive = app_client
    path = archive.settings.data_dir.parent / "bad.zip"
    good = ct_file(11).read_bytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.dcm", good)
        zf.writestr("b.dcm", good[:4000])
    raw = bytearray(path.read_bytes())
    # flip a byte inside a.dcm's stored data: its CRC check fails while it is ingested
    start = raw.index(good[1000:1032])
    raw[start] ^= 0xFF
    data = bytes(raw)
    url = _create(client, data, "bad.zip")
    r = _send(client, url, data, 400_000)
    body = client.get(url + "/status").json()
    by_path = {x["path"]: x for x in body["results"]}
    assert by_path["a.dcm"]["code"] == "invalid_zip_member" and "CRC" in by_path["a.dcm"]["reason"]
    assert by_path["b.dcm"]["status"] == "rejected"
    assert r.status_code == 422 and body["code"] == "no_object_stored"
    assert archive.catalog.totals()["instances"] == 0


def test_multi_mb_object_in_chunks(app_client, big_object):
    client, archive = app_client
    data = big_object.read_bytes()
    assert len(data) > 8_000_000
    url = _create(client, data, big_object.name)
    assert _send(client, url, data, 1 << 20).headers["Upload-State"] == "stored"
    (result,) = client.get(url + "/status").json()["results"]
    assert _stored_bytes(archive, result["sop_instance_uid"]) == data
