"""H1: kill -9 the server repeatedly during a concurrent ingest; nothing acknowledged is lost."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from radhub.archive import Archive
from radhub.config import Settings
from tests.conftest import RadhubProcess, shared_data


def _instance(template: pydicom.Dataset, study: str) -> tuple[str, pydicom.Dataset]:
    ds = template.copy()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    return ds.SOPInstanceUID, ds


def _sender(port: int, template: pydicom.Dataset, acked: dict[str, bytes], stop: threading.Event, lock: threading.Lock) -> None:
    ae = AE(ae_title="CRASHER")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    study = generate_uid()
    while not stop.is_set():
        try:
            assoc = ae.associate("127.0.0.1", port, ae_title="RADHUB")
        except Exception:  # noqa: BLE001 - the server is down: retry
            time.sleep(0.05)
            continue
        if not assoc.is_established:
            time.sleep(0.05)
            continue
        try:
            while not stop.is_set() and assoc.is_established:
                sop, ds = _instance(template, study)
                status = assoc.send_c_store(ds)
                if status and status.Status == 0x0000:
                    with lock:
                        acked[sop] = pixel_digest(ds)
        except Exception:  # noqa: BLE001 - killed mid-association
            pass
        finally:
            if assoc.is_established:
                assoc.release()


def pixel_digest(ds: pydicom.Dataset) -> bytes:
    return hashlib.sha256(ds.PixelData).digest()


@pytest.mark.slow
def test_kill9_during_concurrent_ingest(tmp_path):
    template = pydicom.dcmread(shared_data("dicom", "pydicom", "CT_small.dcm"))
    data = tmp_path / "data"
    data.mkdir()
    server = RadhubProcess(data)
    acked: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()
    senders = [threading.Thread(target=_sender, args=(server.dicom_port, template, acked, stop, lock)) for _ in range(4)]
    for t in senders:
        t.start()
    rng = random.Random(1)
    kills = 0
    try:
        for _ in range(5):
            time.sleep(rng.uniform(0.8, 2.0))
            server.kill()
            kills += 1
            server.start()
        time.sleep(1.0)
    finally:
        stop.set()
        for t in senders:
            t.join(30)
        server.stop()
    assert kills == 5
    assert len(acked) > 20, "the senders should have stored instances between kills"

    # restart (in-process): the startup sweep cleans temp files and checks rows
    archive = Archive.open(Settings(data_dir=data))
    try:
        report = archive.check_consistency(full=True)
        assert report.rows_without_blob == []
        assert list((data / "blobs" / "tmp").iterdir()) == []
        for sop, digest in acked.items():
            found = archive.catalog.instances(sop_uid=sop)
            assert found, f"acknowledged instance {sop} lost"
            with archive.store.open(found[0].blob_sha256) as fh:
                blob = fh.read()
            assert hashlib.sha256(blob).hexdigest() == found[0].blob_sha256
            ds = pydicom.dcmread(io.BytesIO(blob))
            assert hashlib.sha256(ds.PixelData).digest() == digest
            assert ds.SOPInstanceUID == sop
    finally:
        archive.close()
