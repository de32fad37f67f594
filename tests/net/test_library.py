"""The DIMSE adapters' library parts without a network: identifiers, statuses, contexts, sends."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom.dsutils import decode, encode

from radhub.config import ConflictPolicy
from radhub.ingest import IngestResult, IngestStatus
from radhub.net import IdentifierError, QueryModel, parse_find_identifier, parse_retrieve_identifier
from radhub.net._contexts import (
    MAX_CONTEXTS,
    TRANSFER_SYNTAXES,
    requested_storage_contexts,
    storage_sop_classes,
)
from radhub.net._send import split_part10, transcode
from radhub.net._status import error_comment
from radhub.net._store import store_status
from radhub.net.errors import SubOperationError
from tests.conftest import DICOM_DIR


def _ds(**keys: object) -> Dataset:
    ds = Dataset()
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def test_find_identifier_becomes_criteria_and_requested_keys():
    query = parse_find_identifier(
        _ds(
            QueryRetrieveLevel="SERIES",
            StudyInstanceUID=["1.2.3", "1.2.4"],
            Modality="CT",
            SeriesNumber="",
            RetrieveAETitle="",
            OperatorsName="",
            SpecificCharacterSet="ISO_IR 100",
        )
    )
    assert query.level == "SERIES"
    assert query.criteria == {
        "StudyInstanceUID": "1.2.3\\1.2.4",
        "Modality": "CT",
        "SeriesNumber": "",
        "OperatorsName": "",
    }
    assert set(query.requested) == {
        "StudyInstanceUID",
        "Modality",
        "SeriesNumber",
        "RetrieveAETitle",
        "OperatorsName",
    }


def test_find_identifier_drops_empty_lower_level_keys_and_private_tags():
    ds = _ds(QueryRetrieveLevel="STUDY", StudyInstanceUID="", SOPInstanceUID="")
    ds.add_new(0x00091010, "LO", "x")
    query = parse_find_identifier(ds)
    assert query.criteria == {"StudyInstanceUID": ""}


@pytest.mark.parametrize(
    ("identifier", "status", "message"),
    [
        (_ds(PatientID=""), 0xA900, "lacks Query/Retrieve Level"),
        (_ds(QueryRetrieveLevel="FRAME"), 0xA900, "level FRAME is not one of STUDY, SERIES, IMAGE"),
        (
            _ds(QueryRetrieveLevel="SERIES", SOPInstanceUID="1.2.3"),
            0xA900,
            "SOPInstanceUID is below the SERIES",
        ),
    ],
)
def test_find_identifier_errors(identifier, status, message):
    with pytest.raises(IdentifierError, match=message) as info:
        parse_find_identifier(identifier)
    assert info.value.status == status
    assert info.value.offending


def test_patient_level_only_in_patient_root():
    query = parse_find_identifier(
        _ds(QueryRetrieveLevel="PATIENT", PatientName="DOE*", NumberOfPatientRelatedStudies=""),
        QueryModel.PATIENT_ROOT,
    )
    assert query.criteria == {"PatientName": "DOE*"}
    with pytest.raises(IdentifierError, match="StudyDate is not a PATIENT level attribute"):
        parse_find_identifier(
            _ds(QueryRetrieveLevel="PATIENT", StudyDate="2001"), QueryModel.PATIENT_ROOT
        )


def test_retrieve_identifier():
    query = parse_retrieve_identifier(
        _ds(QueryRetrieveLevel="IMAGE", StudyInstanceUID="1.2", SOPInstanceUID=["1.2.3", "1.2.4"])
    )
    assert (query.level, query.study_uids, query.sop_uids) == (
        "IMAGE",
        ("1.2",),
        ("1.2.3", "1.2.4"),
    )
    with pytest.raises(IdentifierError, match="a STUDY level retrieve needs StudyInstanceUID"):
        parse_retrieve_identifier(_ds(QueryRetrieveLevel="STUDY", PatientID="X"))
    with pytest.raises(IdentifierError, match="PatientID must be one value without wildcards"):
        parse_retrieve_identifier(
            _ds(QueryRetrieveLevel="PATIENT", PatientID="DOE*"), QueryModel.PATIENT_ROOT
        )
    with pytest.raises(IdentifierError, match="SeriesInstanceUID holds a value that is not a UID"):
        parse_retrieve_identifier(_ds(QueryRetrieveLevel="SERIES", SeriesInstanceUID="1.2.x"))


@pytest.mark.parametrize(
    ("result", "policy", "expected"),
    [
        (IngestResult(IngestStatus.STORED), ConflictPolicy.KEEP_FIRST, 0x0000),
        (IngestResult(IngestStatus.DUPLICATE), ConflictPolicy.KEEP_FIRST, 0x0000),
        (IngestResult(IngestStatus.CONFLICT, code="conflict"), ConflictPolicy.KEEP_FIRST, 0xB000),
        (IngestResult(IngestStatus.CONFLICT, code="conflict"), ConflictPolicy.KEEP_BOTH, 0xB000),
        (IngestResult(IngestStatus.REJECTED, code="conflict"), ConflictPolicy.REJECT, 0x0111),
        (
            IngestResult(IngestStatus.REJECTED, code="too_large", reason="x"),
            ConflictPolicy.KEEP_FIRST,
            0xA700,
        ),
        (
            IngestResult(IngestStatus.REJECTED, code="not_dicom", reason="x"),
            ConflictPolicy.KEEP_FIRST,
            0xC000,
        ),
    ],
)
def test_store_status_mapping(result, policy, expected):
    status, comment = store_status(result, policy)
    assert status == expected
    assert bool(comment) == (expected != 0)


def test_store_comment_never_quotes_the_reason_value():
    result = IngestResult(
        IngestStatus.REJECTED,
        code="invalid_value",
        reason="element (0010,0030) has a value invalid for its VR: Invalid value for DA: '19XX0101'",
    )
    status, comment = store_status(result, ConflictPolicy.KEEP_FIRST)
    assert (status, comment) == (0xC000, "invalid_value: element (0010,0030) value is invalid")


def test_error_comment_is_printable_ascii_of_at_most_64_characters():
    text = error_comment("é" + "x" * 100 + "\\")
    assert len(text) == 64 and text.isascii() and text.endswith("...")


def test_contexts_keep_one_per_stored_syntax_and_a_little_endian_fallback():
    ct, mr = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
    contexts = requested_storage_contexts(
        [(ct, JPEG2000Lossless), (ct, ExplicitVRLittleEndian), (mr, JPEG2000Lossless)]
    )
    pairs = [(cx.abstract_syntax, tuple(cx.transfer_syntax)) for cx in contexts]
    assert (ct, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)) in pairs
    assert (mr, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)) in pairs
    assert (ct, (JPEG2000Lossless,)) in pairs and (mr, (JPEG2000Lossless,)) in pairs
    assert (ct, (ExplicitVRLittleEndian,)) in pairs
    assert len(pairs) == 5


def test_more_than_128_contexts_keeps_every_fallback():
    classes = storage_sop_classes()[:100]
    contexts = requested_storage_contexts([(sop, JPEG2000Lossless) for sop in classes])
    assert len(contexts) == MAX_CONTEXTS
    fallback = {cx.abstract_syntax for cx in contexts if len(cx.transfer_syntax) == 2}
    assert fallback == set(classes)


def test_accepted_syntax_preference_starts_uncompressed():
    assert TRANSFER_SYNTAXES[:2] == (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert (
        "1.2.840.10008.1.2.4.201" in TRANSFER_SYNTAXES
        and "1.2.840.10008.1.2.8.1" in TRANSFER_SYNTAXES
    )


def test_retired_storage_classes_are_served():
    assert (
        "1.2.840.10008.5.1.4.1.1.6" in storage_sop_classes()
    )  # Ultrasound Image Storage (Retired)


def test_split_part10_walks_the_file_meta():
    raw = (DICOM_DIR / "pydicom" / "CT_small.dcm").read_bytes()
    offset, ts = split_part10(raw)
    assert ts == ExplicitVRLittleEndian
    assert raw[offset : offset + 2] == b"\x08\x00"
    with pytest.raises(SubOperationError, match="lacks the Part 10 preamble"):
        split_part10(raw[132:])


def test_transcoding_big_endian_keeps_pixel_values():
    path = DICOM_DIR / "pydicom" / "MR_small_bigendian.dcm"
    original = pydicom.dcmread(path)
    expected = original.pixel_array.copy()
    ds = transcode(pydicom.dcmread(path), "1.2.840.10008.1.2.2")
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    encoded = encode(ds, False, True)  # what the sender puts on the wire
    received = decode(BytesIO(encoded), False, True)
    received.file_meta = pydicom.dataset.FileMetaDataset()
    received.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert np.array_equal(received.pixel_array, expected)
