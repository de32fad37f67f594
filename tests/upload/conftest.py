"""Fixtures of the resumable-upload tests: apps, servers, generated objects, raw-socket requests."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.conftest import shared_data

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def ct_file(n: int = 1) -> Path:
    """One of the 28 GE CT slices (~0.5 MB each) of the shared corpus."""
    return shared_data("dicom", "dcm_qa_ct_GE", f"{n:02d}.dcm")


def make_object(directory: Path, seed: str, *, frames: int = 1, source: int = 1) -> Path:
    """A new object derived from a real CT slice: fresh SOP Instance UID, optionally ``frames`` copies of the pixels.

    ``frames=16`` gives an ~8 MB multi-frame object for multi-chunk uploads.
    """
    ds = pydicom.dcmread(ct_file(source))
    uid = generate_uid(entropy_srcs=["radhub-upload-test", seed])
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.PixelData = ds.PixelData * frames
    path = directory / f"{seed}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def metadata_header(**values: str) -> str:
    """A tus Upload-Metadata value."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def whole_checksum(data: bytes, algorithm: str = "sha256") -> str:
    """The ``checksum`` metadata value of ``data``."""
    return f"{algorithm} {hashlib.new(algorithm, data).hexdigest()}"


def chunk_checksum(data: bytes, algorithm: str = "sha256") -> str:
    """An Upload-Checksum header value."""
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def create_headers(data: bytes, name: str = "object.dcm", **extra: str) -> dict[str, str]:
    """POST headers for an upload of ``data`` declaring its sha256."""
    return {
        **TUS,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": metadata_header(filename=name, checksum=whole_checksum(data)),
        **extra,
    }


def patch_headers(offset: int, chunk: bytes | None = None, **extra: str) -> dict[str, str]:
    """PATCH headers (with an Upload-Checksum when ``chunk`` is given)."""
    headers = {**TUS, "Content-Type": OCTETS, "Upload-Offset": str(offset), **extra}
    if chunk is not None:
        headers["Upload-Checksum"] = chunk_checksum(chunk)
    return headers


class PartialPatch:
    """A PATCH sent over a raw socket whose body is left unfinished (then closed or abandoned)."""

    def __init__(
        self, upload_url: str, offset: int, body: bytes, send: int, *, checksum: bool = False
    ) -> None:
        parts = urlsplit(upload_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        lines = [
            f"PATCH {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Tus-Resumable: 1.0.0",
            f"Content-Type: {OCTETS}",
            f"Upload-Offset: {offset}",
            f"Content-Length: {len(body)}",
        ]
        if checksum:
            lines.append(f"Upload-Checksum: {chunk_checksum(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body[:send])

    def close(self) -> None:
        """End the connection mid-body (FIN, as a dropped client would)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server side is already gone (killed)
            pass
        self.sock.close()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until true (deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def data_file(data_dir: Path, upload_url: str) -> Path:
    """The bytes file of an upload inside a data directory."""
    return data_dir / "uploads" / upload_url.rstrip("/").rsplit("/", 1)[-1] / "data"


@pytest.fixture
def app_client(tmp_path) -> Iterator:
    """(TestClient, archive) over a fresh SQLite archive."""
    from fastapi.testclient import TestClient

    from radhub.api import create_app
    from radhub.archive import Archive
    from radhub.config import Settings

    archive = Archive.open(Settings(data_dir=tmp_path / "data", max_object_bytes=32 << 20))
    with TestClient(create_app(archive)) as client:
        yield client, archive
    archive.close()


@pytest.fixture(scope="session")
def big_object(tmp_path_factory) -> Path:
    """An ~8 MB multi-frame object generated from a real CT slice."""
    return make_object(tmp_path_factory.mktemp("big"), "big-multiframe", frames=16)


@pytest.fixture(scope="session")
def ct_folder_zip(tmp_path_factory) -> Path:
    """A zip of the GE CT folder of the corpus (28 slices, ~15 MB) plus one malformed file."""
    folder = shared_data("dicom", "dcm_qa_ct_GE")
    path = tmp_path_factory.mktemp("zip") / "dcm_qa_ct_GE.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in sorted(folder.glob("*.dcm")):
            zf.write(f, f"dcm_qa_ct_GE/{f.name}")
        zf.write(
            shared_data("dicom", "malformed", "MR_truncated.dcm"), "dcm_qa_ct_GE/MR_truncated.dcm"
        )
    return path
