"""C-FIND SCP through the one query engine, with dcmtk's findscu, on SQLite and PostgreSQL."""

from __future__ import annotations

import fnmatch
import threading
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE

from radhub.archive import Archive
from radhub.ingest import IngestStatus
from radhub.net import DimseStatus
from tests.conftest import DICOM_DIR
from tests.net.conftest import AE_TITLE, corpus_path, corpus_rows, run_dcmtk, start_server

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
GE_SERIES = DICOM_DIR / "dcm_qa_ct_GE"


def findscu(port: int, out: Path, *keys: str, model: str = "-S") -> list[Dataset]:
    """Run findscu, return the response identifiers (``-X`` writes one file per match)."""
    out.mkdir(parents=True)
    args = [model, "-X", "-od", str(out), "-aec", AE_TITLE]
    for key in keys:
        args += ["-k", key]
    result = run_dcmtk("findscu", *args, "127.0.0.1", str(port))
    assert result.returncode == 0, result.stdout
    return [pydicom.dcmread(f) for f in sorted(out.glob("rsp*.dcm"))]


def _load(archive: Archive, paths: list[Path]) -> list[tuple[Path, Dataset]]:
    """Ingest files directly; return (path, header) of each newly stored instance."""
    stored = []
    for path in paths:
        result = archive.ingestor.ingest_file(path)
        if result.status is IngestStatus.STORED:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stored.append((path, pydicom.dcmread(path, stop_before_pixels=True)))
    return stored


@pytest.mark.slow
def test_findscu_finds_the_whole_corpus(archive, tmp_path):
    """Every stored study, series and instance is found; wildcard, UID list and date range match."""
    stored = _load(archive, [corpus_path(r) for r in corpus_rows()])
    assert len(stored) > 200
    studies: dict[str, Dataset] = {}
    series: dict[str, set[str]] = defaultdict(set)
    instances: dict[str, str] = {}
    modality: dict[str, str] = {}
    for _path, ds in stored:
        studies.setdefault(ds.StudyInstanceUID, ds)  # study attributes come from its first instance
        series[ds.StudyInstanceUID].add(ds.SeriesInstanceUID)
        modality.setdefault(ds.SeriesInstanceUID, str(ds.get("Modality", "")))
        instances[ds.SOPInstanceUID] = ds.SeriesInstanceUID
    per_study = Counter(ds.StudyInstanceUID for _p, ds in stored)

    server = start_server(archive)
    try:
        port = server.port
        # STUDY level, universal: every study, with its instance count
        found = findscu(
            port,
            tmp_path / "studies",
            "QueryRetrieveLevel=STUDY",
            "StudyInstanceUID=",
            "NumberOfStudyRelatedInstances=",
            "PatientName=",
        )
        assert {str(d.StudyInstanceUID) for d in found} == set(studies)
        assert len(found) == len(studies)
        for d in found:
            assert d.QueryRetrieveLevel == "STUDY" and d.RetrieveAETitle == AE_TITLE
            assert int(d.NumberOfStudyRelatedInstances) == per_study[d.StudyInstanceUID]
            assert "StudyDate" not in d  # only requested keys come back

        # SERIES level, universal
        found = findscu(
            port,
            tmp_path / "series",
            "QueryRetrieveLevel=SERIES",
            "SeriesInstanceUID=",
            "StudyInstanceUID=",
            "Modality=",
        )
        assert {(str(d.StudyInstanceUID), str(d.SeriesInstanceUID)) for d in found} == {
            (st, se) for st, ses in series.items() for se in ses
        }
        assert all(str(d.Modality) == modality[d.SeriesInstanceUID] for d in found)

        # IMAGE level, universal
        found = findscu(
            port,
            tmp_path / "images",
            "QueryRetrieveLevel=IMAGE",
            "SOPInstanceUID=",
            "SeriesInstanceUID=",
        )
        assert {str(d.SOPInstanceUID): str(d.SeriesInstanceUID) for d in found} == instances

        # wildcard on Patient ID
        expected = {
            uid
            for uid, ds in studies.items()
            if fnmatch.fnmatchcase(str(ds.get("PatientID", "")), "*EXAMPLE")
        }
        assert len(expected) >= 3
        found = findscu(
            port,
            tmp_path / "wildcard",
            "QueryRetrieveLevel=STUDY",
            "StudyInstanceUID=",
            "PatientID=*EXAMPLE",
        )
        assert {str(d.StudyInstanceUID) for d in found} == expected
        assert all(str(d.PatientID).endswith("EXAMPLE") for d in found)

        # list of UIDs
        some = sorted(studies)[:5]
        found = findscu(
            port,
            tmp_path / "uids",
            "QueryRetrieveLevel=STUDY",
            "StudyInstanceUID=" + "\\".join(some),
        )
        assert sorted(str(d.StudyInstanceUID) for d in found) == some

        # date range
        expected = {
            uid
            for uid, ds in studies.items()
            if "20000101" <= str(ds.get("StudyDate", "")) <= "20101231"
        }
        assert len(expected) >= 5
        found = findscu(
            port,
            tmp_path / "dates",
            "QueryRetrieveLevel=STUDY",
            "StudyInstanceUID=",
            "StudyDate=20000101-20101231",
        )
        assert {str(d.StudyInstanceUID) for d in found} == expected
        assert all("20000101" <= d.StudyDate <= "20101231" for d in found)

        # SERIES level matching on Modality, IMAGE level within one series
        ct = {se for se, m in modality.items() if m == "CT"}
        found = findscu(
            port, tmp_path / "ct", "QueryRetrieveLevel=SERIES", "SeriesInstanceUID=", "Modality=CT"
        )
        assert {str(d.SeriesInstanceUID) for d in found} == ct
        ge_series = str(
            pydicom.dcmread(GE_SERIES / "01.dcm", stop_before_pixels=True).SeriesInstanceUID
        )
        found = findscu(
            port,
            tmp_path / "ge",
            "QueryRetrieveLevel=IMAGE",
            "SOPInstanceUID=",
            f"SeriesInstanceUID={ge_series}",
            "InstanceNumber=",
        )
        assert len(found) == 28
        assert sorted(int(d.InstanceNumber) for d in found) == list(range(1, 29))

        # Patient Root, PATIENT level: one response per patient
        found = findscu(
            port,
            tmp_path / "patients",
            "QueryRetrieveLevel=PATIENT",
            "PatientID=",
            "NumberOfPatientRelatedStudies=",
            model="-P",
        )
        ids = Counter(str(d.get("PatientID", "")) for d in found)
        assert set(ids) == {str(ds.get("PatientID", "")) for ds in studies.values()}
        assert sum(int(d.NumberOfPatientRelatedStudies) for d in found) == len(studies)
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# statuses dcmtk does not show: a pynetdicom SCU
# ---------------------------------------------------------------------------
@pytest.fixture
def ge_server(sqlite_archive):
    """radhub's SCP over an archive holding the 28-slice GE CT series and CT_small."""
    _load(
        sqlite_archive, sorted(GE_SERIES.glob("*.dcm")) + [DICOM_DIR / "pydicom" / "CT_small.dcm"]
    )
    server = start_server(sqlite_archive)
    yield server
    server.stop()


def _find(
    port: int, identifier: Dataset, model: str = STUDY_ROOT_FIND
) -> list[tuple[Dataset, Dataset | None]]:
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(model)
    assoc = ae.associate("127.0.0.1", port, ae_title=AE_TITLE)
    assert assoc.is_established
    try:
        return list(assoc.send_c_find(identifier, model))
    finally:
        assoc.release()


def _identifier(**keys: object) -> Dataset:
    ds = Dataset()
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def _final(responses: list[tuple[Dataset, Dataset | None]]) -> Dataset:
    status, _ = responses[-1]
    return status


def test_pending_per_match_then_success(ge_server):
    responses = _find(
        ge_server.port,
        _identifier(QueryRetrieveLevel="IMAGE", SOPInstanceUID="", InstanceNumber=""),
    )
    assert [s.Status for s, _ in responses[:-1]] == [0xFF00] * 29
    assert _final(responses).Status == 0x0000


def test_missing_level_is_identifier_does_not_match(ge_server):
    status = _final(_find(ge_server.port, _identifier(StudyInstanceUID="")))
    assert status.Status == DimseStatus.DATASET_DOES_NOT_MATCH == 0xA900
    assert status.ErrorComment == "the identifier lacks Query/Retrieve Level (0008,0052)"
    assert status.OffendingElement == 0x00080052


def test_patient_level_is_not_in_study_root(ge_server):
    status = _final(_find(ge_server.port, _identifier(QueryRetrieveLevel="PATIENT", PatientID="")))
    assert status.Status == 0xA900
    assert status.ErrorComment == "level PATIENT is not one of STUDY, SERIES, IMAGE"


def test_lower_level_matching_key_is_refused(ge_server):
    status = _final(_find(ge_server.port, _identifier(QueryRetrieveLevel="STUDY", Modality="CT")))
    assert status.Status == 0xA900
    assert status.ErrorComment == "Modality is below the STUDY level; query that level instead"
    assert status.OffendingElement == 0x00080060


def test_malformed_value_is_unable_to_process(ge_server):
    status = _final(
        _find(ge_server.port, _identifier(QueryRetrieveLevel="STUDY", StudyDate="2001-13"))
    )
    assert status.Status == DimseStatus.CANNOT_UNDERSTAND == 0xC000
    assert "StudyDate" in status.ErrorComment and "is not a date" in status.ErrorComment


def test_sequence_matching_is_unable_to_process(ge_server):
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds = _identifier(QueryRetrieveLevel="STUDY")
    ds.ReferencedStudySequence = [item]
    status = _final(_find(ge_server.port, ds))
    assert status.Status == 0xC000
    assert status.ErrorComment == "sequence matching is not supported (ReferencedStudySequence)"


def test_unindexed_return_key_comes_from_stored_metadata(ge_server):
    responses = _find(
        ge_server.port,
        _identifier(
            QueryRetrieveLevel="SERIES", SeriesInstanceUID="", Manufacturer="", Modality="CT"
        ),
    )
    identifiers = [ds for s, ds in responses if s.Status == 0xFF00]
    assert len(identifiers) == 2
    assert {str(ds.Manufacturer) for ds in identifiers} == {"GE MEDICAL SYSTEMS"}


def test_non_ascii_values_are_answered_in_utf8(sqlite_archive):
    path = DICOM_DIR / "pydicom" / "charset_files" / "chrH31.dcm"
    if not path.exists():
        pytest.skip("chrH31.dcm not in the corpus")
    _load(sqlite_archive, [path])
    expected = pydicom.dcmread(path).PatientName
    server = start_server(sqlite_archive)
    try:
        responses = _find(server.port, _identifier(QueryRetrieveLevel="STUDY", PatientName=""))
    finally:
        server.stop()
    (ds,) = [ds for s, ds in responses if s.Status == 0xFF00]
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == str(expected) and not str(expected).isascii()


def test_patient_root_patient_level(ge_server):
    responses = _find(
        ge_server.port,
        _identifier(
            QueryRetrieveLevel="PATIENT",
            PatientID="",
            PatientName="",
            NumberOfPatientRelatedStudies="",
            NumberOfPatientRelatedInstances="",
        ),
        PATIENT_ROOT_FIND,
    )
    identifiers = {str(ds.PatientID): ds for s, ds in responses if s.Status == 0xFF00}
    assert set(identifiers) == {"QMNx85rKkkg", "1CT1"}
    assert int(identifiers["QMNx85rKkkg"].NumberOfPatientRelatedInstances) == 28
    assert int(identifiers["1CT1"].NumberOfPatientRelatedStudies) == 1


def test_cancel_stops_the_matches(sqlite_archive):
    # Enough matches (20,000 header-only instances, bulk-indexed through the real
    # index code) that the SCP is still answering when the C-CANCEL arrives.
    import dataclasses
    import io

    from radhub.catalog._bulk import bulk_index
    from radhub.dicom import read_header
    from radhub.ingest._pipeline import build_record

    data = corpus_path(next(r for r in corpus_rows() if r["path"].startswith("dcm_qa_ct_GE"))).read_bytes()
    record = build_record(read_header(io.BytesIO(data), file_size=len(data)), sha256="0" * 64, size=len(data), source="test")
    records = [
        dataclasses.replace(record, sop_uid=f"1.2.826.0.1.3680043.8.498.77.{i}", blob_sha256=f"{i:064x}")
        for i in range(20_000)
    ]
    bulk_index(sqlite_archive.catalog, records, batch_size=5000)
    total = sqlite_archive.catalog.totals()["instances"]
    assert total == 20_000
    server = start_server(sqlite_archive)
    ae = AE(ae_title="PYSCU")
    ae.add_requested_context(STUDY_ROOT_FIND)
    assoc = ae.associate("127.0.0.1", server.port, ae_title=AE_TITLE)
    try:
        responses = assoc.send_c_find(
            _identifier(QueryRetrieveLevel="IMAGE", SOPInstanceUID=""), STUDY_ROOT_FIND, msg_id=7
        )
        statuses = []
        for status, _identifier_ in responses:
            statuses.append(status.Status)
            if (
                len(statuses) == 1
            ):  # pynetdicom drops a C-CANCEL that arrives before the request is served
                assoc.send_c_cancel(7, query_model=STUDY_ROOT_FIND)
    finally:
        assoc.release()
        server.stop()
    assert statuses[-1] == DimseStatus.CANCEL == 0xFE00
    assert len(statuses) - 1 < total, (len(statuses), total)


def test_concurrent_queries(ge_server):
    results: list[int] = []

    def query() -> None:
        responses = _find(
            ge_server.port, _identifier(QueryRetrieveLevel="IMAGE", SOPInstanceUID="")
        )
        results.append(sum(1 for s, _ in responses if s.Status == 0xFF00))

    threads = [threading.Thread(target=query) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [29] * 4
