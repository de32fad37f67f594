"""C-MOVE SCP: movescu to a dcmtk storescp started by the test; stored bytes arrive unchanged."""

from __future__ import annotations

import warnings
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from radhub.net import DimseStatus
from tests.net.conftest import (
    AE_TITLE,
    dataset_bytes,
    meta_of,
    on_the_wire,
    run_dcmtk,
    start_server,
)

STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
DEFLATED_IMAGE_FRAME = "1.2.840.10008.1.2.8.1"  # pydicom 3.0 cannot decode it
# transfer syntaxes dcmtk 3.6.7 (storescp +xa) accepts
DCMTK_KNOWN = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
}


def movescu(port: int, destination: str, *keys: str, model: str = "-S") -> str:
    args = ["-v", model, "-aet", "MOVESCU", "-aec", AE_TITLE, "-aem", destination]
    for key in keys:
        args += ["-k", key]
    return run_dcmtk("movescu", *args, "127.0.0.1", str(port), timeout=300).stdout


def received(scp) -> dict[str, bytes]:
    """{SOP Instance UID: Part 10 bytes} of what a storescp wrote."""
    out = {}
    for f in scp.files():
        raw = f.read_bytes()
        out[str(meta_of(raw).MediaStorageSOPInstanceUID)] = raw
    return out


def pixels(part10: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(BytesIO(part10)).pixel_array


def test_movescu_study_arrives_bit_exact(retrieve_archive, storescp):
    dest = storescp(None, "+B", "+xa", "-pm")
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        output = movescu(
            server.port,
            "DEST",
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={retrieve_archive.ge_study}",
        )
    finally:
        server.stop()
    assert "Received Final Move Response (Success)" in output, output
    assert output.count("Received Move Response") == 28  # one pending response per sub-operation
    got = received(dest)
    assert len(got) == 28
    for uid, raw in got.items():
        stored = retrieve_archive.stored(uid)
        assert dataset_bytes(raw) == on_the_wire(dataset_bytes(stored)), f"{uid} changed in transit"
        assert meta_of(raw).TransferSyntaxUID == meta_of(stored).TransferSyntaxUID


def test_every_stored_transfer_syntax_is_sent_unchanged_when_accepted(retrieve_archive, storescp):
    by_ts = retrieve_archive.by_ts
    assert len(by_ts) >= 12
    dest = storescp(None, "+B", "+xa", "-pm")
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        output = movescu(
            server.port,
            "DEST",
            "QueryRetrieveLevel=IMAGE",
            "SOPInstanceUID=" + "\\".join(by_ts.values()),
        )
    finally:
        server.stop()
    got = received(dest)
    for ts, uid in by_ts.items():
        if ts in DCMTK_KNOWN:
            assert uid in got, f"{ts} not received"
            assert meta_of(got[uid]).TransferSyntaxUID == ts
            assert dataset_bytes(got[uid]) == on_the_wire(
                dataset_bytes(retrieve_archive.stored(uid))
            ), ts
    if (
        DEFLATED_IMAGE_FRAME in by_ts
    ):  # unknown to dcmtk and undecodable here: a failed sub-operation
        assert by_ts[DEFLATED_IMAGE_FRAME] not in got
        assert (
            "Received Final Move Response (Warning: SubOperationsCompleteOneOrMoreFailures)"
            in output
        ), output


@pytest.mark.parametrize(
    ("options", "expected_ts"),
    [((), ExplicitVRLittleEndian), (("+xi",), ImplicitVRLittleEndian)],
    ids=["uncompressed-only", "implicit-only"],
)
def test_destination_without_the_stored_syntax_gets_little_endian(
    retrieve_archive, storescp, options, expected_ts
):
    """storescp without +xa accepts no compressed syntax: instances are decompressed, pixels unchanged."""
    by_ts = retrieve_archive.by_ts
    dest = storescp(None, "+B", "-pm", *options)
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        movescu(
            server.port,
            "DEST",
            "QueryRetrieveLevel=IMAGE",
            "SOPInstanceUID=" + "\\".join(by_ts.values()),
        )
    finally:
        server.stop()
    got = received(dest)
    transcoded = 0
    for ts, uid in by_ts.items():
        if ts == DEFLATED_IMAGE_FRAME:
            assert uid not in got  # cannot be decompressed: reported as a failure
            continue
        assert uid in got, f"{ts} not received"
        raw, stored = got[uid], retrieve_archive.stored(uid)
        received_ts = str(meta_of(raw).TransferSyntaxUID)
        if received_ts == ts:
            assert dataset_bytes(raw) == on_the_wire(dataset_bytes(stored))
            continue
        transcoded += 1
        assert received_ts == expected_ts, ts
        ds = pydicom.dcmread(BytesIO(raw), stop_before_pixels=True)
        assert ds.SOPInstanceUID == uid  # not a new instance
        if "PixelData" in pydicom.dcmread(BytesIO(stored), stop_before_pixels=False):
            assert np.array_equal(pixels(raw), pixels(stored)), f"pixels changed for {ts}"
    assert transcoded >= 8


def _move(
    port: int, identifier: Dataset, destination: str = "DEST"
) -> list[tuple[Dataset, Dataset | None]]:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(STUDY_ROOT_MOVE)
    assoc = ae.associate("127.0.0.1", port, ae_title=AE_TITLE)
    assert assoc.is_established
    try:
        return list(assoc.send_c_move(identifier, destination, STUDY_ROOT_MOVE))
    finally:
        assoc.release()


def _identifier(**keys: object) -> Dataset:
    ds = Dataset()
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def test_failed_sub_operations_are_counted(retrieve_archive, storescp):
    by_ts = retrieve_archive.by_ts
    if DEFLATED_IMAGE_FRAME not in by_ts:
        pytest.skip("no Deflated Image Frame Compression instance stored")
    dest = storescp(None, "+B", "-pm")  # uncompressed only
    ok_uid, bad_uid = by_ts[ExplicitVRLittleEndian], by_ts[DEFLATED_IMAGE_FRAME]
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        responses = _move(
            server.port, _identifier(QueryRetrieveLevel="IMAGE", SOPInstanceUID=[ok_uid, bad_uid])
        )
    finally:
        server.stop()
    pending = [s for s, _ in responses[:-1]]
    assert [s.Status for s in pending] == [0xFF00, 0xFF00]
    assert [s.NumberOfRemainingSuboperations for s in pending] == [1, 0]
    final, identifier = responses[-1]
    assert final.Status == DimseStatus.WARNING == 0xB000
    assert final.NumberOfCompletedSuboperations == 1
    assert final.NumberOfFailedSuboperations == 1
    assert final.NumberOfWarningSuboperations == 0
    assert identifier.FailedSOPInstanceUIDList == bad_uid
    assert set(received(dest)) == {ok_uid}


def test_unknown_destination_is_refused(retrieve_archive, storescp):
    dest = storescp(None, "+B")
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        output = movescu(
            server.port,
            "NOWHERE",
            "QueryRetrieveLevel=STUDY",
            f"StudyInstanceUID={retrieve_archive.ge_study}",
        )
        responses = _move(
            server.port,
            _identifier(QueryRetrieveLevel="STUDY", StudyInstanceUID=retrieve_archive.ge_study),
            "NOWHERE",
        )
    finally:
        server.stop()
    assert "Refused: MoveDestinationUnknown" in output, output
    assert responses[-1][0].Status == DimseStatus.MOVE_DESTINATION_UNKNOWN == 0xA801
    assert received(dest) == {}


def test_missing_unique_key_is_identifier_does_not_match(retrieve_archive, storescp):
    dest = storescp(None, "+B")
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        missing = _move(server.port, _identifier(QueryRetrieveLevel="SERIES"))[-1][0]
        bad_uid = _move(
            server.port, _identifier(QueryRetrieveLevel="STUDY", StudyInstanceUID="1.2.abc")
        )[-1][0]
        bad_level = _move(
            server.port, _identifier(QueryRetrieveLevel="FRAME", StudyInstanceUID="1.2.3")
        )[-1][0]
    finally:
        server.stop()
    assert missing.Status == DimseStatus.DATASET_DOES_NOT_MATCH == 0xA900
    assert missing.ErrorComment == "a SERIES level retrieve needs SeriesInstanceUID"
    assert missing.OffendingElement == 0x0020000E
    assert bad_uid.Status == DimseStatus.CANNOT_UNDERSTAND
    assert bad_uid.ErrorComment == "StudyInstanceUID holds a value that is not a UID"
    assert bad_level.Status == 0xA900
    assert received(dest) == {}


def test_no_match_is_success_with_zero_sub_operations(retrieve_archive, storescp):
    dest = storescp(None, "+B")
    server = start_server(retrieve_archive.archive, peers=[dest.peer])
    try:
        final = _move(
            server.port, _identifier(QueryRetrieveLevel="STUDY", StudyInstanceUID="1.2.3.4")
        )[-1][0]
    finally:
        server.stop()
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 0


def test_series_level_and_patient_root(retrieve_archive, storescp):
    series_dest = storescp(None, "+B", "+xa", ae_title="SERIESDEST")
    patient_dest = storescp(None, "+B", "+xa", ae_title="PATIENTDEST")
    server = start_server(retrieve_archive.archive, peers=[series_dest.peer, patient_dest.peer])
    try:
        series = movescu(
            server.port,
            "SERIESDEST",
            "QueryRetrieveLevel=SERIES",
            f"SeriesInstanceUID={retrieve_archive.ge_series}",
        )
        patient = movescu(
            server.port,
            "PATIENTDEST",
            "QueryRetrieveLevel=PATIENT",
            f"PatientID={retrieve_archive.ge_patient}",
            model="-P",
        )
    finally:
        server.stop()
    assert "Received Final Move Response (Success)" in series and "(Success)" in patient
    assert len(received(series_dest)) == 28
    assert set(received(patient_dest)) == set(received(series_dest))
