"""The ingest pipeline: durability, idempotency, conflict policy, A8 checks, rejects."""

from __future__ import annotations

import hashlib

import pytest
from pydicom.uid import generate_uid

from radhub.archive import Archive
from radhub.config import ConflictPolicy, Settings
from radhub.ingest import CHECK_CODES, IngestStatus, run_checks
from radhub.retrieve import Retriever
from tests.conftest import DICOM_DIR, dicom_manifest, shared_data


def test_store_then_retrieve_bit_exact(archive, make_instance):
    data = make_instance(PatientName="Doe^Jane")
    res = archive.ingestor.ingest_bytes(data, source="test")
    assert res.status is IngestStatus.STORED and res.ok
    assert res.sha256 == hashlib.sha256(data).hexdigest()
    stored = Retriever(archive).find(sop_uid=res.sop_instance_uid)
    assert len(stored) == 1
    with Retriever(archive).open(stored[0]) as fh:
        assert fh.read() == data
    assert archive.catalog.totals()["instances"] == 1


def test_resend_is_idempotent(archive, make_instance):
    data = make_instance()
    first = archive.ingestor.ingest_bytes(data, source="test")
    second = archive.ingestor.ingest_bytes(data, source="test")
    assert first.status is IngestStatus.STORED
    assert second.status is IngestStatus.DUPLICATE and second.ok
    assert archive.catalog.totals()["instances"] == 1
    assert list(archive.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]


def test_conflict_keeps_first_and_reports(archive, make_instance):
    sop = generate_uid()
    study = generate_uid()
    a = make_instance(SOPInstanceUID=sop, StudyInstanceUID=study, PatientName="First^Version")
    b = make_instance(SOPInstanceUID=sop, StudyInstanceUID=study, PatientName="Second^Version")
    assert archive.ingestor.ingest_bytes(a, source="test").status is IngestStatus.STORED
    res = archive.ingestor.ingest_bytes(b, source="test")
    assert res.status is IngestStatus.CONFLICT and not res.ok
    assert "keep_first" in (res.reason or "")
    stored = Retriever(archive).find(sop_uid=sop)[0]
    assert archive.store.read_bytes(stored.blob_sha256) == a
    # the conflicting bytes are not kept under keep_first
    assert not archive.store.exists(hashlib.sha256(b).hexdigest())
    conflicts = archive.catalog.conflicts(sop)
    assert len(conflicts) == 1 and conflicts[0]["action"] == "kept_first"


@pytest.mark.parametrize(
    ("policy", "status", "kept"),
    [(ConflictPolicy.REJECT, IngestStatus.REJECTED, False), (ConflictPolicy.KEEP_BOTH, IngestStatus.CONFLICT, True)],
)
def test_other_conflict_policies(tmp_path, make_instance, policy, status, kept):
    archive = Archive.open(Settings(data_dir=tmp_path / "d", conflict_policy=policy))
    try:
        sop = generate_uid()
        a = make_instance(SOPInstanceUID=sop, PatientID="A")
        b = make_instance(SOPInstanceUID=sop, PatientID="B")
        archive.ingestor.ingest_bytes(a, source="test")
        res = archive.ingestor.ingest_bytes(b, source="test")
        assert res.status is status
        assert res.code == "conflict"
        assert archive.store.exists(hashlib.sha256(b).hexdigest()) is kept
        stored = Retriever(archive).find(sop_uid=sop)[0]
        assert archive.store.read_bytes(stored.blob_sha256) == a  # never overwritten
    finally:
        archive.close()


def test_a8_checks_are_flagged_not_rejected(archive, make_instance):
    data = make_instance(PatientName=None, PatientSex=None, PatientAge=None, PatientBirthDate=None, InstitutionName=None, KVP=None, Exposure=None, XRayTubeCurrent=None, ExposureTime=None)
    res = archive.ingestor.ingest_bytes(data, source="test")
    assert res.status is IngestStatus.STORED
    assert {"missing_patient_name", "missing_patient_sex", "missing_patient_age", "missing_institution", "missing_kvp", "missing_mas"} <= set(res.checks)
    rows = archive.catalog.checks(code="missing_kvp")
    assert [r["sop_uid"] for r in rows] == [res.sop_instance_uid]
    assert "missing_patient_name" in rows[0]["checks"]
    complete = make_instance(PatientName="Ok^Patient", PatientSex="F", PatientAge="050Y", InstitutionName="Site A", KVP="120", Exposure="200")
    ok = archive.ingestor.ingest_bytes(complete, source="test")
    assert ok.checks == ()
    assert archive.catalog.check_counts()["missing_kvp"] == 1


def test_check_codes_cover_run_checks():
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.Modality = "CT"
    assert set(run_checks(ds)) <= set(CHECK_CODES)
    assert "missing_kvp" in run_checks(ds)
    ds.Modality = "MR"
    assert "missing_kvp" not in run_checks(ds)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b"this is not dicom at all" * 10, "not_dicom"),
        (lambda b: b"", "empty"),
        (lambda b: b[128:], "not_dicom"),
    ],
    ids=["truncated", "text", "empty", "no-preamble"],
)
def test_bad_bytes_are_rejected_with_a_reason(archive, make_instance, mutate, code):
    good = make_instance()
    res = archive.ingestor.ingest_bytes(mutate(good), source="test")
    assert res.status is IngestStatus.REJECTED and res.code == code and res.reason
    assert archive.catalog.totals()["instances"] == 0
    assert list(archive.store.tmp_dir.iterdir()) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad_uid", ["../../etc/passwd", "1.2.3.abc", "1." + "2" * 70, "1..2"])
def test_path_like_and_invalid_uids_are_rejected(archive, make_instance, bad_uid):
    data = make_instance(SeriesInstanceUID=bad_uid)
    res = archive.ingestor.ingest_bytes(data, source="test")
    assert res.status is IngestStatus.REJECTED
    assert res.code in ("invalid_uid", "invalid_value")
    assert "SeriesInstanceUID" in (res.reason or "") or "(0020,000E)" in (res.reason or "")


def test_size_limit(tmp_path, make_instance):
    archive = Archive.open(Settings(data_dir=tmp_path / "d", max_object_bytes=1000))
    try:
        res = archive.ingestor.ingest_bytes(make_instance(), source="test")
        assert res.status is IngestStatus.REJECTED and res.code == "too_large"
        assert "1000 bytes" in (res.reason or "")
    finally:
        archive.close()


MALFORMED = [r for r in dicom_manifest() if r["path"].startswith("malformed/")]


@pytest.mark.parametrize("row", MALFORMED, ids=[r["path"] for r in MALFORMED])
def test_every_malformed_file_gets_a_clear_outcome(sqlite_archive, make_instance, row):
    """Each malformed file is rejected with a reason, or (only when its DICOM
    structure is sound and just its compressed pixel data is corrupt) stored
    as received; either way a good object ingested next is unaffected."""
    res = sqlite_archive.ingestor.ingest_file(DICOM_DIR / row["path"])
    pixel_only = {
        "malformed/JPEG2000-embedded-sequence-delimiter.dcm",
        "malformed/explicit_VR-UN.dcm",
    }
    if row["path"] in pixel_only:
        assert res.status is IngestStatus.STORED
    else:
        assert res.status is IngestStatus.REJECTED, row["path"]
        assert res.code and res.reason and len(res.reason) > 20
    good = sqlite_archive.ingestor.ingest_bytes(make_instance(), source="test")
    assert good.status is IngestStatus.STORED


def test_whole_corpus_outcomes_match_manifest(sqlite_archive):
    """Every valid file with Study/Series/SOP UIDs is stored or is a re-encoding
    of an already stored UID; nothing acknowledged differs from its file."""
    rows = dicom_manifest()
    if not rows:
        pytest.skip("corpus absent")
    first_seen: dict[str, str] = {}
    for row in rows:
        path = DICOM_DIR / row["path"]
        res = sqlite_archive.ingestor.ingest_file(path)
        data = path.read_bytes()
        if res.status is IngestStatus.STORED:
            first_seen[res.sop_instance_uid] = hashlib.sha256(data).hexdigest()
            assert res.sop_instance_uid == row["sop_instance_uid"]
        elif res.status is IngestStatus.CONFLICT:
            assert res.sop_instance_uid in first_seen
            assert first_seen[res.sop_instance_uid] != hashlib.sha256(data).hexdigest()
        else:
            assert res.status is IngestStatus.REJECTED
            has_uids = all(row[k] for k in ("study_instance_uid", "series_instance_uid", "sop_instance_uid"))
            assert row["valid"] == "no" or not has_uids, f"{row['path']} rejected: {res.reason}"
    # every stored instance is bit-exact
    r = Retriever(sqlite_archive)
    for sop, digest in first_seen.items():
        inst = r.find(sop_uid=sop)[0]
        with r.open(inst) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == digest
    report = sqlite_archive.check_consistency(full=True)
    assert report.rows_without_blob == [] and report.blobs_without_row == 0
    assert len(first_seen) > 200
    # the totals (summed from the per-study counters) agree with the instance rows
    stored = sqlite_archive.catalog.instances()
    totals = sqlite_archive.catalog.totals()
    assert totals["instances"] == len(stored) == len(first_seen)
    assert totals["bytes"] == sum(i.size for i in stored)


def test_file_path_is_not_required_in_corpus():
    assert shared_data("dicom", "manifest.csv").exists()


def test_series_of_another_study_is_refused(archive, make_instance):
    """A series belongs to one study: reusing its UID under another study is rejected, not re-filed."""
    series = generate_uid()
    first = archive.ingestor.ingest_bytes(make_instance(SeriesInstanceUID=series), source="test")
    assert first.status is IngestStatus.STORED
    other = make_instance(SeriesInstanceUID=series)  # new StudyInstanceUID
    res = archive.ingestor.ingest_bytes(other, source="test")
    assert res.status is IngestStatus.REJECTED and res.code == "series_mismatch"
    assert "another study" in (res.reason or "")
    assert archive.catalog.instances(sop_uid=res.sop_instance_uid) == []
    assert not archive.store.exists(hashlib.sha256(other).hexdigest())
    assert archive.catalog.totals()["studies"] == 1
    # the same series in its own study is fine
    again = archive.ingestor.ingest_bytes(make_instance(SeriesInstanceUID=series, StudyInstanceUID=first.study_instance_uid), source="test")
    assert again.status is IngestStatus.STORED


def test_startup_check_reports_a_missing_blob(sqlite_archive, make_instance):
    res = sqlite_archive.ingestor.ingest_bytes(make_instance(), source="test")
    sqlite_archive.store.delete(res.sha256)
    assert sqlite_archive.check_consistency().rows_without_blob == [res.sha256]
    assert sqlite_archive.check_consistency(full=True).rows_without_blob == [res.sha256]
