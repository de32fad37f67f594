"""Fixtures of the DICOMweb tests: apps over real archives, multipart helpers, the corpus oracle.

The oracle (:func:`reference`) is what the one ingest pipeline decides for
every file of the shared corpus when the files arrive in manifest order;
STOW-RS must report exactly that.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid

from tests.conftest import DICOM_DIR, dicom_manifest, shared_data

DICOM_JSON = "application/dicom+json"
REASON = "00091001"  # radhub's private reason, in the block of creator (0009,0010) "RADHUB"


# ---------------------------------------------------------------------------
# multipart
# ---------------------------------------------------------------------------
def multipart_body(
    parts: Iterable[bytes], boundary: str, part_type: str | None = "application/dicom"
) -> bytes:
    """A multipart/related body as dicomweb-client writes it (leading CRLF, no final CRLF)."""
    out = io.BytesIO()
    for data in parts:
        out.write(f"\r\n--{boundary}\r\n".encode())
        if part_type is not None:
            out.write(f"Content-Type: {part_type}\r\n".encode())
        out.write(b"\r\n")
        out.write(data)
    out.write(f"\r\n--{boundary}--".encode())
    return out.getvalue()


def stow_headers(boundary: str) -> dict[str, str]:
    return {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": DICOM_JSON,
    }


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/related response (independently of radhub's reader)."""
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = params["boundary"].strip('"').encode()
    assert content_type.lower().startswith("multipart/related"), content_type
    pieces = body.split(b"--" + boundary)
    assert pieces[-1].strip() in (b"--", b""), "missing close delimiter"
    assert pieces[-1].startswith(b"--")
    out = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n")
        head, _, content = piece[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        assert content.endswith(b"\r\n")
        out.append(Part(headers, content[:-2]))
    return out


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# ---------------------------------------------------------------------------
# STOW-RS responses
# ---------------------------------------------------------------------------
def referenced(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body.get("00081199", {}).get("Value", [])


def failed(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body.get("00081198", {}).get("Value", [])


def value(item: dict[str, Any], tag: str) -> Any:
    v = item.get(tag, {}).get("Value")
    return v[0] if v else None


# ---------------------------------------------------------------------------
# apps and archives
# ---------------------------------------------------------------------------
def make_client(archive: Any) -> TestClient:
    from radhub.api import create_app

    return TestClient(create_app(archive))


@pytest.fixture
def client(sqlite_archive) -> Iterator[TestClient]:
    """A TestClient over an empty SQLite archive."""
    with make_client(sqlite_archive) as c:
        yield c


def open_archive(data_dir: Path, database_url: str | None = None, **settings: Any) -> Any:
    from radhub.archive import Archive
    from radhub.config import Settings

    return Archive.open(Settings(data_dir=data_dir, database_url=database_url, **settings))


# ---------------------------------------------------------------------------
# the corpus
# ---------------------------------------------------------------------------
def corpus_rows() -> list[dict[str, str]]:
    rows = dicom_manifest()
    if not rows:
        pytest.skip("the shared DICOM corpus is not available")
    return rows


def corpus_path(row: dict[str, str]) -> Path:
    return DICOM_DIR / row["path"]


@dataclass(frozen=True)
class Outcome:
    """What the ingest pipeline decided for one corpus file (in manifest order)."""

    path: str
    status: str
    code: str | None
    sop_uid: str | None
    sop_class_uid: str | None
    study_uid: str | None
    series_uid: str | None
    sha256: str | None


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> dict[str, Outcome]:
    """The ingest pipeline's decision for every corpus file, received in manifest order."""
    rows = corpus_rows()
    archive = open_archive(tmp_path_factory.mktemp("reference") / "data")
    try:
        out = {}
        for row in rows:
            r = archive.ingestor.ingest_file(corpus_path(row), source="reference")
            out[row["path"]] = Outcome(
                row["path"],
                r.status.value,
                r.code,
                r.sop_instance_uid,
                r.sop_class_uid,
                r.study_instance_uid,
                r.series_instance_uid,
                r.sha256,
            )
        return out
    finally:
        archive.close()


def stow_files(client: TestClient, paths: list[Path], url: str = "/dicomweb/studies") -> Any:
    boundary = uuid.uuid4().hex
    body = multipart_body((p.read_bytes() for p in paths), boundary)
    return client.post(url, content=body, headers=stow_headers(boundary))


def load_corpus(client: TestClient, batch: int = 12) -> list[tuple[list[str], Any]]:
    """STOW-RS the whole corpus in manifest order, ``batch`` files per request."""
    rows = corpus_rows()
    responses = []
    for i in range(0, len(rows), batch):
        group = rows[i : i + batch]
        r = stow_files(client, [corpus_path(row) for row in group])
        responses.append(([row["path"] for row in group], r))
    return responses


# ---------------------------------------------------------------------------
# synthetic objects
# ---------------------------------------------------------------------------
def make_instance(**attrs: Any) -> bytes:
    """Part 10 bytes of pydicom's CT_small.dcm with new UIDs (or those given)."""
    ds = pydicom.dcmread(shared_data("dicom", "pydicom", "CT_small.dcm"))
    ds.StudyInstanceUID = attrs.pop("StudyInstanceUID", None) or generate_uid()
    ds.SeriesInstanceUID = attrs.pop("SeriesInstanceUID", None) or generate_uid()
    sop = attrs.pop("SOPInstanceUID", None) or generate_uid()
    ds.SOPInstanceUID = sop
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    for key, v in attrs.items():
        setattr(ds, key, v)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def uids_of(data: bytes) -> tuple[str, str, str]:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
