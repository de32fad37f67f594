"""Fixtures of the DIMSE tests: radhub's SCP in-process, dcmtk peers in subprocesses."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from radhub.archive import Archive
from radhub.config import DicomPeer, Settings
from radhub.net import DicomServer
from tests.conftest import DICOM_DIR, dcmtk, dicom_manifest, free_port

AE_TITLE = "RADHUB"
CORPUS_SIZE = 344


# --------------------------------------------------------------------------
# Part 10 helpers (independent of radhub's own parser)
# --------------------------------------------------------------------------
_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def dataset_bytes(part10: bytes) -> bytes:
    """The bytes after the File Meta Information of a Part 10 object."""
    assert part10[128:132] == b"DICM", "not a Part 10 object"
    pos = 132
    while True:
        group = struct.unpack_from("<H", part10, pos)[0]
        if group != 0x0002:
            return part10[pos:]
        vr = part10[pos + 4 : pos + 6]
        if vr in _LONG:
            pos += 12 + struct.unpack_from("<I", part10, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", part10, pos + 6)[0]


def on_the_wire(data: bytes) -> bytes:
    """A data set as DIMSE carries it: an odd-length (deflated) one gets its NUL pad byte."""
    return data + b"\x00" if len(data) % 2 else data


def meta_of(path_or_bytes: Path | bytes) -> pydicom.dataset.FileMetaDataset:
    """File Meta Information of a Part 10 file or byte string."""
    from io import BytesIO

    source = BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    return pydicom.dcmread(source, stop_before_pixels=True).file_meta


def stored_part10(archive: Archive, sop_uid: str) -> bytes:
    """The stored Part 10 bytes of an instance."""
    (instance,) = archive.catalog.instances(sop_uid=sop_uid)
    with archive.store.open(instance.blob_sha256) as fh:
        return fh.read()


def corpus_rows() -> list[dict[str, str]]:
    rows = dicom_manifest()
    if not rows:
        pytest.skip("the DICOM corpus is not available")
    return rows


def corpus_path(row: dict[str, str]) -> Path:
    return DICOM_DIR / row["path"]


# --------------------------------------------------------------------------
# dcmtk
# --------------------------------------------------------------------------
def run_dcmtk(tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool from /usr/bin; stdout+stderr in ``.stdout``."""
    return subprocess.run(
        [dcmtk(tool), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_listening(port: int, timeout: float = 20) -> None:
    """Poll until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


class StoreSCP:
    """dcmtk ``storescp`` in a subprocess, writing what it receives to ``out``.

    ``+B`` (bit-preserving) makes each file's data set exactly the bytes that
    arrived on the association.
    """

    def __init__(self, out: Path, *options: str, ae_title: str = "DEST") -> None:
        self.out = out
        self.out.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.ae_title = ae_title
        self.log = out.parent / f"storescp-{self.port}.log"
        self._log_fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [dcmtk("storescp"), "-aet", ae_title, "-od", str(out), *options, str(self.port)],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_listening(self.port)
        except RuntimeError:
            self.stop()
            raise

    @property
    def peer(self) -> DicomPeer:
        return DicomPeer(ae_title=self.ae_title, host="127.0.0.1", port=self.port)

    def files(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fh.close()


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[type[StoreSCP]]:
    """Factory of dcmtk storescp processes, all stopped after the test."""
    started: list[StoreSCP] = []

    class _Factory(StoreSCP):
        def __init__(self, out: Path | None = None, *options: str, ae_title: str = "DEST") -> None:
            super().__init__(
                out or tmp_path / f"received-{len(started)}", *options, ae_title=ae_title
            )
            started.append(self)

    yield _Factory
    for scp in started:
        scp.stop()


# --------------------------------------------------------------------------
# radhub's SCP
# --------------------------------------------------------------------------
def start_server(archive: Archive, **kwargs: object) -> DicomServer:
    server = DicomServer(archive, host="127.0.0.1", port=0, ae_title=AE_TITLE, **kwargs)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture
def dicom_server(sqlite_archive: Archive) -> Iterator[DicomServer]:
    """radhub's DIMSE server on a free port over an empty SQLite archive."""
    server = start_server(sqlite_archive)
    yield server
    server.stop()


@pytest.fixture
def make_archive(tmp_path: Path) -> Iterator[object]:
    """Factory of extra SQLite archives (closed after the test)."""
    opened: list[Archive] = []

    def make(name: str, **settings: object) -> Archive:
        archive = Archive.open(Settings(data_dir=tmp_path / name, **settings))  # type: ignore[arg-type]
        opened.append(archive)
        return archive

    yield make
    for a in opened:
        a.close()


# --------------------------------------------------------------------------
# an archive for retrieve tests: the GE CT series plus one instance per stored TS
# --------------------------------------------------------------------------
GE_SERIES_DIR = DICOM_DIR / "dcm_qa_ct_GE"


class RetrieveArchive:
    """An archive loaded through the ingest pipeline, with what was stored."""

    def __init__(self, archive: Archive) -> None:
        from radhub.ingest import IngestStatus

        self.archive = archive
        self.by_ts: dict[str, str] = {}  # transfer syntax -> SOP Instance UID
        ge = sorted(GE_SERIES_DIR.glob("*.dcm"))
        for path in ge:
            assert archive.ingestor.ingest_file(path).status is IngestStatus.STORED
        first = pydicom.dcmread(ge[0], stop_before_pixels=True)
        self.ge_study = str(first.StudyInstanceUID)
        self.ge_series = str(first.SeriesInstanceUID)
        self.ge_patient = str(first.PatientID)
        for row in corpus_rows():
            ts = row["transfer_syntax_uid"]
            if not ts or ts in self.by_ts or row["valid"] != "yes":
                continue
            result = archive.ingestor.ingest_file(corpus_path(row))
            if result.status is IngestStatus.STORED:
                self.by_ts[ts] = str(result.sop_instance_uid)

    def stored(self, sop_uid: str) -> bytes:
        return stored_part10(self.archive, sop_uid)


@pytest.fixture(scope="module")
def retrieve_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RetrieveArchive]:
    """Shared by the tests of one module; they only read it."""
    archive = Archive.open(Settings(data_dir=tmp_path_factory.mktemp("retrieve") / "data"))
    yield RetrieveArchive(archive)
    archive.close()
