"""C-GET SCP: getscu and a pynetdicom SCU receive the stored bytes on their own association."""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_context, build_role, evt

from radhub.net import DimseStatus
from tests.net.conftest import (
    AE_TITLE,
    dataset_bytes,
    meta_of,
    on_the_wire,
    run_dcmtk,
    start_server,
)

STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"


def getscu(port: int, out: Path, *keys: str, options: tuple[str, ...] = ()) -> str:
    out.mkdir(parents=True)
    args = ["-v", "-S", "+B", "-aet", "GETSCU", "-aec", AE_TITLE, "-od", str(out), *options]
    for key in keys:
        args += ["-k", key]
    return run_dcmtk("getscu", *args, "127.0.0.1", str(port), timeout=300).stdout


def test_getscu_study_arrives_bit_exact(retrieve_archive, tmp_path):
    server = start_server(retrieve_archive.archive)
    try:
        output = getscu(
            server.port,
            tmp_path / "get",
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={retrieve_archive.ge_study}",
        )
    finally:
        server.stop()
    assert "Received C-GET Response (Success)" in output, output
    assert "Number of Completed Suboperations : 28" in output
    files = sorted((tmp_path / "get").iterdir())
    assert len(files) == 28
    for f in files:
        raw = f.read_bytes()
        uid = str(meta_of(raw).MediaStorageSOPInstanceUID)
        stored = retrieve_archive.stored(uid)
        assert (
            meta_of(raw).TransferSyntaxUID
            == meta_of(stored).TransferSyntaxUID
            == ExplicitVRLittleEndian
        )
        assert dataset_bytes(raw) == dataset_bytes(stored), f"{uid} changed in transit"


def test_getscu_without_compressed_proposals_receives_decompressed_pixels(
    retrieve_archive, tmp_path
):
    compressed = {
        ts: uid
        for ts, uid in retrieve_archive.by_ts.items()
        if ts.startswith("1.2.840.10008.1.2.4.")
    }
    assert len(compressed) >= 6
    server = start_server(retrieve_archive.archive)
    try:
        output = getscu(
            server.port,
            tmp_path / "get",
            "QueryRetrieveLevel=IMAGE",
            "SOPInstanceUID=" + "\\".join(compressed.values()),
        )
    finally:
        server.stop()
    assert "Received C-GET Response (Success)" in output, output
    got = {
        str(meta_of(f.read_bytes()).MediaStorageSOPInstanceUID): f.read_bytes()
        for f in (tmp_path / "get").iterdir()
    }
    assert set(got) == set(compressed.values())
    for ts, uid in compressed.items():
        raw = got[uid]
        assert meta_of(raw).TransferSyntaxUID == ExplicitVRLittleEndian, ts
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            received = pydicom.dcmread(BytesIO(raw)).pixel_array
            stored = pydicom.dcmread(BytesIO(retrieve_archive.stored(uid))).pixel_array
        assert np.array_equal(received, stored), ts


class _GetSCU:
    """A pynetdicom C-GET SCU that proposes each stored transfer syntax in its own context."""

    def __init__(self, pairs: list[tuple[str, str]], model: str = STUDY_ROOT_GET) -> None:
        self.model = model
        self.received: dict[str, tuple[str, bytes]] = {}
        self.ae = AE(ae_title="PYGETSCU")
        self.ae.add_requested_context(model)
        self.contexts = [build_context(sop, [ts]) for sop, ts in pairs]
        self.roles = [
            build_role(sop, scp_role=True) for sop in dict.fromkeys(sop for sop, _ in pairs)
        ]

    def _on_store(self, event: evt.Event) -> int:
        self.received[str(event.request.AffectedSOPInstanceUID)] = (
            str(event.context.transfer_syntax),
            event.request.DataSet.getvalue(),
        )
        return 0x0000

    def get(self, port: int, identifier: Dataset) -> list[tuple[Dataset, Dataset | None]]:
        for cx in self.contexts:
            self.ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
        assoc = self.ae.associate(
            "127.0.0.1",
            port,
            ae_title=AE_TITLE,
            ext_neg=self.roles,
            evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
        )
        assert assoc.is_established
        try:
            return list(assoc.send_c_get(identifier, self.model))
        finally:
            assoc.release()


def test_exact_proposals_get_every_stored_syntax_unchanged(retrieve_archive):
    instances = {
        retrieve_archive.archive.catalog.instance(
            uid
        ).sop_uid: retrieve_archive.archive.catalog.instance(uid)
        for uid in retrieve_archive.by_ts.values()
    }
    scu = _GetSCU(sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in instances.values()}))
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.SOPInstanceUID = list(instances)
    server = start_server(retrieve_archive.archive)
    try:
        responses = scu.get(server.port, identifier)
    finally:
        server.stop()
    final = responses[-1][0]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == len(instances)
    assert [s.Status for s, _ in responses[:-1]] == [0xFF00] * len(instances)
    assert set(scu.received) == set(instances)
    for uid, (ts, data) in scu.received.items():
        stored = retrieve_archive.stored(uid)
        assert ts == instances[uid].transfer_syntax_uid
        assert data == on_the_wire(dataset_bytes(stored)), ts


def test_get_identifier_error(retrieve_archive):
    scu = _GetSCU([("1.2.840.10008.5.1.4.1.1.2", ExplicitVRLittleEndian)])
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = retrieve_archive.ge_study
    server = start_server(retrieve_archive.archive)
    try:
        final = scu.get(server.port, identifier)[-1][0]
    finally:
        server.stop()
    assert final.Status == DimseStatus.DATASET_DOES_NOT_MATCH == 0xA900
    assert final.ErrorComment == "a IMAGE level retrieve needs SOPInstanceUID"
    assert scu.received == {}


def test_get_patient_root_counts(retrieve_archive):
    scu = _GetSCU([("1.2.840.10008.5.1.4.1.1.2", ExplicitVRLittleEndian)], PATIENT_ROOT_GET)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.PatientID = retrieve_archive.ge_patient
    server = start_server(retrieve_archive.archive)
    try:
        responses = scu.get(server.port, identifier)
    finally:
        server.stop()
    final = responses[-1][0]
    assert final.Status == 0x0000 and final.NumberOfCompletedSuboperations == 28
    remaining = [s.NumberOfRemainingSuboperations for s, _ in responses[:-1]]
    assert remaining == list(range(27, -1, -1))
    assert len(scu.received) == 28
