"""radhub.dicom's JSON encoder gives pydicom's PS3.18 JSON, and pydicom's errors, faster.

``dataset_json`` decodes common VRs and whole sequences from raw bytes and
hands everything else to pydicom; these tests hold it to pydicom's
``Dataset.to_json_dict`` (the reference it replaced) over every file of
the shared corpus, valid or malformed, in pydicom's strict reading mode as
ingest uses it, and on hand-made values at the edges of each rule.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from radhub.dicom._json import dataset_json
from tests.conftest import DICOM_DIR

THRESHOLD = 4096


def _handler(elem: Any) -> str:
    return f"bulk:{int(elem.tag):08X}"


def _read(source: Path | bytes) -> Dataset:
    fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(fh, defer_size=THRESHOLD, force=True)
        # deferred values are read from the file on access: keep it readable
        ds.filename = None if isinstance(source, bytes) else str(source)
        return ds


def _outcome(fn: Any, ds: Dataset) -> tuple[str, Any]:
    try:
        with warnings.catch_warnings(), pydicom_config.strict_reading():
            warnings.simplefilter("ignore")
            return "ok", fn(ds)
    except Exception as exc:  # noqa: BLE001 - the kind of failure is compared
        return "error", type(exc).__name__


def _pydicom(ds: Dataset) -> dict[str, Any]:
    return ds.to_json_dict(bulk_data_threshold=THRESHOLD, bulk_data_element_handler=_handler)


def _radhub(ds: Dataset) -> dict[str, Any]:
    return dataset_json(ds, _handler, THRESHOLD)


def _corpus_files() -> list[Path]:
    if not DICOM_DIR.exists():
        return []
    return sorted(p for p in DICOM_DIR.rglob("*") if p.is_file() and p.suffix.lower() not in {".csv", ".md", ".txt"})


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.relative_to(DICOM_DIR)))
def test_same_json_and_errors_as_pydicom_over_the_corpus(path: Path) -> None:
    try:
        expected = _outcome(_pydicom, _read(path))
    except Exception:  # noqa: BLE001 - not even readable: nothing to compare
        pytest.skip("pydicom cannot read the file at all")
    got = _outcome(_radhub, _read(path))
    if expected[0] == "error":
        assert got[0] == "error", f"pydicom refuses this file ({expected[1]}) but the fast encoder accepted it"
    else:
        assert got == expected


def test_the_corpus_is_there_and_mostly_decoded_without_pydicom() -> None:
    files = _corpus_files()
    if not files:
        pytest.skip("the shared DICOM corpus is not available")
    assert len(files) > 300


def _part10(ds: Dataset, *, implicit: bool = False) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True, implicit_vr=implicit, little_endian=True)
    return buf.getvalue()


_LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


def _explicit(tag: int, vr: str, value: bytes, order: str = "little") -> bytes:
    """One Explicit VR element (``order`` little or big endian), written byte by byte (any value, valid or not)."""
    if len(value) % 2:
        value += b"\x00" if vr in {"UI", "OB", "UN"} else b" "
    head = (tag >> 16).to_bytes(2, order) + (tag & 0xFFFF).to_bytes(2, order) + vr.encode()
    if vr in _LONG:
        return head + b"\x00\x00" + len(value).to_bytes(4, order) + value
    return head + len(value).to_bytes(2, order) + value


EDGE_VALUES = [
    ("CS", b"ORIGINAL\\PRIMARY\\AXIAL "),
    ("CS", b"lower"),  # invalid: lower case
    ("CS", b"A" * 17),  # invalid: too long
    ("CS", b"A\\\\B"),  # empty middle value
    ("UI", b"1.2.840.10008.1.2\x00"),
    ("UI", b"1.02.3"),  # leading zero: nonconformant
    ("UI", b"1.2\\1.3"),
    ("DA", b"20240131"),
    ("DA", b"20241331"),  # invalid month
    ("DA", b"20240101-20240131 "),
    ("TM", b"235959.123456"),
    ("DT", b"20240101120000+0100"),
    ("AS", b"045Y"),
    ("AS", b"45Y"),
    ("AE", b" STORE_SCP  "),
    ("IS", b" 12 \\-3"),
    ("IS", b"1.5"),  # invalid IS
    ("IS", b"1234567890123"),  # too long
    ("DS", b" 1.5\\-2e3\\.5 "),
    ("DS", b"12345678901234567"),  # too long
    ("DS", b"1.5\\\\2"),  # empty middle value
    ("DS", b"abc"),
    ("LO", b"Caf\xe9 \\second "),
    ("LO", b"x" * 65),  # too long
    ("SH", b"short\\"),
    ("LT", b"line one\r\nline two  "),
    ("ST", b"x" * 1025),
    ("UT", b"\\ backslashes are not delimiters in UT \\ "),
    ("PN", b"Doe^John\\Roe^Jane"),
    ("PN", b"Yamada^Tarou=\xe5\xb1\xb1\xe7\x94\xb0=\xe3\x82\x84"),
    ("PN", b"Doe^John=="),
    ("PN", b"a=b=c=d"),
    ("US", b"\x01\x00\x02\x00"),
    ("US", b"\x01\x00\x02"),  # odd length
    ("SS", b"\xff\xff"),
    ("UL", b"\x00\x00\x01\x00"),
    ("SL", b"\xfe\xff\xff\xff"),
    ("FL", b"\x00\x00\xc0\x3f"),
    ("FD", b"\x00\x00\x00\x00\x00\x00\xf8\x3f"),
    ("UV", b"\x01\x00\x00\x00\x00\x00\x00\x00"),
    ("OB", b"\x00\x01\x02\x03"),
    ("AT", b"\x10\x00\x20\x00"),
    ("UR", b"http://example.org/a b"),
]


@pytest.mark.parametrize(("vr", "raw"), EDGE_VALUES, ids=[f"{vr}-{i}" for i, (vr, _) in enumerate(EDGE_VALUES)])
@pytest.mark.parametrize("nested", [False, True], ids=["top", "in-sequence"])
def test_edge_values_match_pydicom(vr: str, raw: bytes, nested: bool) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192" if b"\xe5" in raw else "ISO_IR 100"
    element = _explicit(0x00090010, "LO", b"TEST") + _explicit(0x00091010, vr, raw)
    if nested:  # one item of defined length holding the element
        item = b"\xfe\xff\x00\xe0" + len(element).to_bytes(4, "little") + element
        element = _explicit(0x0040A730, "SQ", item)
    data = _part10(ds) + element  # the highest tags: appended at the end
    expected = _outcome(_pydicom, _read(data))
    got = _outcome(_radhub, _read(data))
    assert expected[0] == "ok" or got[0] == "error"
    if expected[0] == "ok":
        assert got == expected
        key = "0040A730" if nested else "00091010"
        assert key in got[1]


def _explicit_big(tag: int, vr: str, value: bytes) -> bytes:
    """One Explicit VR Big Endian element (PS3.5 A.3, retired)."""
    return _explicit(tag, vr, value, "big")


def _big_endian_part10(elements: bytes) -> bytes:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import ExplicitVRBigEndian

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRBigEndian
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"
    buf = DicomBytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, meta, enforce_standard=True)
    head = _explicit_big(0x00080005, "CS", b"ISO_IR 100") + _explicit_big(0x00080016, "UI", b"1.2.840.10008.5.1.4.1.1.7")
    head += _explicit_big(0x00080018, "UI", b"1.2.3.4")
    return buf.getvalue() + head + elements


@pytest.mark.parametrize(("vr", "raw"), [(vr, raw) for vr, raw in EDGE_VALUES if b"\xe5" not in raw],
                         ids=[f"{vr}-{i}" for i, (vr, raw) in enumerate(EDGE_VALUES) if b"\xe5" not in raw])
def test_big_endian_values_match_pydicom(vr: str, raw: bytes) -> None:
    """Explicit VR Big Endian top-level elements: numbers and tags swap, text and binary do not."""
    data = _big_endian_part10(_explicit_big(0x00090010, "LO", b"TEST") + _explicit_big(0x00091010, vr, raw))
    expected = _outcome(_pydicom, _read(data))
    got = _outcome(_radhub, _read(data))
    assert expected[0] == "ok" or got[0] == "error"
    if expected[0] == "ok":
        assert got == expected
        assert "00091010" in got[1]


@pytest.mark.parametrize("undefined", [False, True], ids=["defined-length", "undefined-length"])
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_nested_sequences(implicit: bool, undefined: bool) -> None:
    leaf = Dataset()
    leaf.CodeValue, leaf.CodingSchemeDesignator, leaf.CodeMeaning = "121071", "DCM", "Finding"
    mid = Dataset()
    mid.ValueType, mid.RelationshipType = "CODE", "CONTAINS"
    mid.ConceptNameCodeSequence = Sequence([leaf])
    mid.ConceptCodeSequence = Sequence([leaf, leaf])
    mid.ReferencedFrameNumber = [1, 2, 3]
    ds = Dataset()
    ds.PatientName = "Doe^John"
    ds.ContentSequence = Sequence([mid, mid, Dataset()])
    ds.ReferencedImageSequence = Sequence([])  # an element of VR SQ with no items
    for elem in (ds["ContentSequence"], mid["ConceptNameCodeSequence"], mid["ConceptCodeSequence"]):
        elem.is_undefined_length = undefined
    for item in (mid, leaf):
        item.is_undefined_length_sequence_item = undefined
    data = _part10(ds, implicit=implicit)
    assert (b"\xff\xff\xff\xff" in data) == undefined
    expected = _outcome(_pydicom, _read(data))
    got = _outcome(_radhub, _read(data))
    assert expected[0] == "ok"
    assert got == expected
    assert got[1]["0040A730"]["Value"][0]["0040A168"]["Value"][1]["00080104"]["Value"] == ["Finding"]


def test_truncated_sequence_bytes_fall_back_to_pydicom() -> None:
    item = Dataset()
    item.CodeValue = "X"
    ds = Dataset()
    ds.ContentSequence = Sequence([item])
    data = bytearray(_part10(ds))
    # lengthen the item's declared length past the end of the sequence
    pos = data.index(b"\xfe\xff\x00\xe0")
    data[pos + 4 : pos + 8] = (0xFFFF).to_bytes(4, "little")
    expected = _outcome(_pydicom, _read(bytes(data)))
    got = _outcome(_radhub, _read(bytes(data)))
    assert got[0] == expected[0]
    if expected[0] == "ok":
        assert got == expected


def _with_element(tag: int, vr: str, raw: bytes) -> bytes:
    ds = Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.4"
    return _part10(ds) + _explicit(tag, vr, raw)  # (0028,xxxx) follows every tag written above


def test_an_overlong_decimal_string_is_stored_with_a_warning() -> None:
    """DS values over 16 characters are a common vendor fault: flagged, like nonconformant UIDs."""
    from radhub.dicom import read_header

    header = read_header(io.BytesIO(_with_element(0x00280030, "DS", b"0.48828125000000\\0.488281250000001")))
    assert header.warnings == ("nonconformant_ds:00280030",)
    assert header.metadata is not None
    assert header.metadata["00280030"]["Value"] == [0.48828125, 0.488281250000001]


def test_a_decimal_string_that_is_not_a_number_is_rejected() -> None:
    from radhub.dicom import InvalidDicomError, read_header

    with pytest.raises(InvalidDicomError) as info:
        read_header(io.BytesIO(_with_element(0x00280030, "DS", b"0.5\\abc")))
    assert info.value.code == "invalid_value"
    assert "(0028,0030)" in str(info.value)


def test_json_text_renders_values_as_dicom_text() -> None:
    from radhub.dicom import json_text

    meta = {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"}]},
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
        "00200013": {"vr": "IS", "Value": [12]},
        "00100020": {"vr": "LO"},
        "00081030": {"vr": "LO", "Value": [None]},
    }
    assert json_text(meta, "PatientName") == "Wang^XiaoDong=王^小東"
    assert json_text(meta, "ImageType") == "ORIGINAL\\PRIMARY"
    assert json_text(meta, "InstanceNumber") == "12"
    assert json_text(meta, "PatientID") is None  # present, empty
    assert json_text(meta, "StudyDescription") == ""
    assert json_text(meta, "Modality") is None  # absent


@pytest.mark.parametrize("path", _corpus_files()[::7], ids=lambda p: str(p.relative_to(DICOM_DIR)))
def test_checks_from_the_json_equal_checks_from_the_dataset(path: Path) -> None:
    from radhub.dicom import InvalidDicomError, read_header
    from radhub.ingest import run_checks

    try:
        header = read_header(path)
    except InvalidDicomError:
        pytest.skip("rejected at parse")
    assert header.metadata is not None
    assert run_checks(header.metadata) == run_checks(header.dataset)


def _header_outcome(path: Path) -> tuple[str, Any]:
    from radhub.dicom import InvalidDicomError, read_header

    try:
        h = read_header(path)
    except InvalidDicomError as exc:
        return "rejected", exc.code
    return "ok", (h.sop_instance_uid, h.study_instance_uid, h.series_instance_uid, h.transfer_syntax_uid, h.warnings, h.metadata)


def test_raw_reader_gives_what_dcmread_gives_over_the_corpus(monkeypatch) -> None:
    """read_header with the raw top-level reader equals read_header through pydicom.dcmread, file by file."""
    from radhub.dicom import _header
    from radhub.dicom._read import read_raw

    files = _corpus_files()
    if not files:
        pytest.skip("the shared DICOM corpus is not available")
    used = 0
    for path in files:
        with open(path, "rb") as fh:
            used += read_raw(fh, 0, THRESHOLD) is not None
    fast = {p: _header_outcome(p) for p in files}
    monkeypatch.setattr(_header, "read_raw", lambda *args: None)
    slow = {p: _header_outcome(p) for p in files}
    differ = [str(p.relative_to(DICOM_DIR)) for p in files if fast[p] != slow[p]]
    assert differ == []
    assert used > 0.8 * len(files)  # most objects are plain Little Endian
    assert sum(o[0] == "rejected" for o in slow.values()) > 10  # the malformed ones are in the comparison


def test_raw_reader_reads_every_accepted_little_endian_object() -> None:
    """Only what pydicom itself finds odd (a dataset in another VR encoding than declared) leaves the raw path."""
    from radhub.dicom import InvalidDicomError, read_header
    from radhub.dicom._read import read_raw

    files = _corpus_files()
    if not files:
        pytest.skip("the shared DICOM corpus is not available")
    plain = 0
    for path in files:
        try:
            ts = pydicom.uid.UID(read_header(path).transfer_syntax_uid)
        except InvalidDicomError:
            continue
        if ts.is_deflated or not ts.is_little_endian:
            continue
        plain += 1
        with open(path, "rb") as fh:
            if read_raw(fh, 0, THRESHOLD) is not None:
                continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pydicom.dcmread(path)
        assert any("VR" in str(w.message) for w in caught), f"{path} left the raw path"
    assert plain > 250
