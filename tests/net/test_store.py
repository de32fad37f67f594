"""C-STORE SCP: statuses, and the archived object is exactly the received data set plus File Meta.

Two senders are used:

* radhub's own :func:`radhub.net.store_files`, which puts each file's data set
  on the wire unchanged, so the stored object must equal the file's data set
  byte for byte, for every transfer syntax of the corpus;
* dcmtk's ``storescu``, which decodes and re-encodes every data set (it
  drops group lengths, changes sequence length encoding ...). What it sends
  is captured by dcmtk ``storescp +B`` (bit-preserving) from the same
  command, and radhub must have stored exactly those bytes.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset, validate_file_meta
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, build_context

from radhub.config import ConflictPolicy
from radhub.dicom import InvalidDicomError, part10_prefix, read_header
from radhub.net import DimseStatus, store_files
from radhub.net._send import send_encoded
from tests.conftest import DICOM_DIR
from tests.net.conftest import (
    AE_TITLE,
    corpus_path,
    corpus_rows,
    dataset_bytes,
    meta_of,
    on_the_wire,
    run_dcmtk,
    start_server,
    stored_part10,
)

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
CT_SMALL = DICOM_DIR / "pydicom" / "CT_small.dcm"
MR_SMALL = DICOM_DIR / "pydicom" / "MR_small.dcm"
MR_SMALL_IMPLICIT = DICOM_DIR / "pydicom" / "MR_small_implicit.dcm"
PALETTE = DICOM_DIR / "pydicom" / "palettes" / "fall.dcm"  # no StudyInstanceUID


def _expected_outcomes(paths: list[Path]) -> tuple[dict[str, tuple[str, object]], dict[str, Path]]:
    """What sending ``paths`` in order must give, from the files alone.

    The object the SCP archives is rebuilt here (File Meta for the data set's
    own UIDs and the file's transfer syntax, then the data set bytes) and
    validated with :func:`radhub.dicom.read_header`. Returns
    ``{path: (kind, detail)}`` with kind ``skip`` (not sendable), ``mismatch``
    (the data set lacks its SOP UIDs), ``reject`` (detail: the ingest code),
    ``stored``, ``duplicate`` or ``conflict``; and ``{sop_uid: first stored path}``.
    """
    expected: dict[str, tuple[str, object]] = {}
    first: dict[str, Path] = {}
    for path in paths:
        raw = path.read_bytes()
        try:
            meta = meta_of(raw)
            ts = str(meta.TransferSyntaxUID)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ids = pydicom.dcmread(
                    path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
                )
        except Exception:  # noqa: BLE001
            expected[str(path)] = ("skip", "no usable File Meta")
            continue
        sop_class = str(ids.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID", ""))
        sop_instance = str(ids.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID", ""))
        if not sop_class or not sop_instance:
            expected[str(path)] = ("skip", "no SOP UIDs at all")
            continue
        if sop_class == MEDIA_STORAGE_DIRECTORY:
            expected[str(path)] = ("skip", "not a storage SOP class")
            continue
        if not ids.get("SOPClassUID") or not ids.get("SOPInstanceUID"):
            expected[str(path)] = ("mismatch", "the data set lacks its SOP UIDs")
            continue
        sop_uid = str(ids.SOPInstanceUID)
        received = part10_prefix(sop_class, sop_uid, ts) + dataset_bytes(raw)
        try:
            header = read_header(BytesIO(received), file_size=len(received))
        except InvalidDicomError as exc:
            expected[str(path)] = ("reject", exc.code)
            continue
        uid = header.sop_instance_uid
        if uid in first:
            same = dataset_bytes(first[uid].read_bytes()) == dataset_bytes(raw)
            expected[str(path)] = ("duplicate" if same else "conflict", uid)
        else:
            first[uid] = path
            expected[str(path)] = ("stored", uid)
    return expected, first


@pytest.mark.slow
def test_store_files_whole_corpus_is_stored_bit_exact(sqlite_archive, dicom_server):
    """Every corpus file over one association per 128 contexts; stored == file's data set."""
    rows = corpus_rows()
    paths = [corpus_path(r) for r in rows]
    expected, first = _expected_outcomes(paths)

    outcomes = store_files(
        "127.0.0.1", dicom_server.port, paths, called_ae=AE_TITLE, calling_ae="CORPUS"
    )

    assert len(outcomes) == len(paths)
    counts: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        kind, detail = expected[outcome.path]
        counts[kind] += 1
        where = f"{Path(outcome.path).relative_to(DICOM_DIR)}: expected {kind} {detail}"
        if kind == "skip":
            assert outcome.status is None, where
        elif kind == "mismatch":
            assert outcome.status == DimseStatus.DATASET_DOES_NOT_MATCH, (where, outcome)
            assert outcome.error_comment.startswith("the data set lacks SOP"), where
        elif kind == "reject":
            assert outcome.status == DimseStatus.CANNOT_UNDERSTAND, (where, outcome)
            assert outcome.error_comment.startswith(f"{detail}:"), (where, outcome.error_comment)
        elif kind == "conflict":
            assert outcome.status == DimseStatus.WARNING, (where, outcome)
            assert "conflict" in outcome.error_comment
        else:
            assert outcome.status == DimseStatus.SUCCESS, (where, outcome)

    # rejects are interleaved with successes on the same associations
    assert counts["reject"] >= 20 and counts["stored"] >= 200, dict(counts)
    totals = sqlite_archive.catalog.totals()
    assert totals["instances"] == len(first) == counts["stored"]
    transfer_syntaxes = set()
    for uid, path in first.items():
        stored = stored_part10(sqlite_archive, uid)
        assert dataset_bytes(stored) == on_the_wire(dataset_bytes(path.read_bytes())), (
            f"{path} not stored bit-exact"
        )
        stored_meta = meta_of(stored)
        assert stored_meta.TransferSyntaxUID == meta_of(path).TransferSyntaxUID
        assert stored_meta.SourceApplicationEntityTitle == "CORPUS"
        transfer_syntaxes.add(str(stored_meta.TransferSyntaxUID))
    # every transfer syntax of the corpus went through the SCP
    ts_of = {str(corpus_path(r)): r["transfer_syntax_uid"] for r in rows}
    sent_ts = {ts_of[o.path] for o in outcomes if o.status is not None}
    assert sent_ts == {ts for ts in ts_of.values() if ts}
    assert transfer_syntaxes <= sent_ts and len(transfer_syntaxes) >= 12


# storescu needs the proposal that matches each file's transfer syntax
# (one transfer syntax alone in a context, so that both SCPs accept the same)
_STORESCU_OPTION = {
    "": ["-xi"],  # files without File Meta: dcmtk reads them as implicit VR
    "1.2.840.10008.1.2": ["-xi"],
    "1.2.840.10008.1.2.1": [],
    "1.2.840.10008.1.2.2": ["-xb"],
    "1.2.840.10008.1.2.1.99": ["-xd"],
    "1.2.840.10008.1.2.5": ["-xr"],
    "1.2.840.10008.1.2.4.50": ["-xy"],
    "1.2.840.10008.1.2.4.51": ["-xx"],
    "1.2.840.10008.1.2.4.70": ["-xs"],
    "1.2.840.10008.1.2.4.80": ["-xt"],
    "1.2.840.10008.1.2.4.81": ["-xu"],
    "1.2.840.10008.1.2.4.90": ["-xv"],
    "1.2.840.10008.1.2.4.91": ["-xw"],
}
# dcmtk 3.6.7 knows no HTJ2K (.4.201/.4.203) nor Deflated Image Frame (.8.1):
# those files are covered by test_store_files_whole_corpus_is_stored_bit_exact.

_SENDING = re.compile(r"^I: Sending file: (.+)$")
_RESPONSE = re.compile(r"^I: Received Store Response \((.+)\)$")


def _storescu_statuses(output: str) -> dict[str, str]:
    """{file: response text} from ``storescu -v`` output."""
    statuses, current = {}, None
    for line in output.splitlines():
        if m := _SENDING.match(line):
            current = m.group(1)
        elif (m := _RESPONSE.match(line)) and current:
            statuses[current] = m.group(1)
            current = None
    return statuses


@pytest.mark.slow
def test_storescu_whole_corpus_stores_what_was_sent(
    sqlite_archive, dicom_server, storescp, tmp_path
):
    """storescu per transfer syntax group; radhub's stored data sets == what storescp +B received."""
    rows = corpus_rows()
    groups: dict[str, list[Path]] = defaultdict(list)
    for row in rows:
        ts = row["transfer_syntax_uid"]
        groups[ts if ts in _STORESCU_OPTION else "1.2.840.10008.1.2.1"].append(corpus_path(row))
    reference = storescp(tmp_path / "wire", "+B", "+xa", "-pm", "+uf")

    statuses: dict[str, str] = {}
    with ThreadPoolExecutor(2) as pool:  # the same storescu command to radhub and to the reference
        for ts, paths in sorted(groups.items()):
            options = ["-v", "-R", "-nh", *_STORESCU_OPTION[ts]]
            files = [str(p) for p in paths]
            to_radhub = pool.submit(
                run_dcmtk, "storescu", *options, "-aet", "CORPUS", "-aec", AE_TITLE,
                "127.0.0.1", str(dicom_server.port), *files, timeout=300,
            )  # fmt: skip
            to_reference = pool.submit(
                run_dcmtk, "storescu", *options, "-aec", "DEST",
                "127.0.0.1", str(reference.port), *files, timeout=300,
            )  # fmt: skip
            statuses.update(_storescu_statuses(to_radhub.result().stdout))
            to_reference.result()

    # what arrived at the reference SCP, by SOP Instance UID
    wire: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for f in reference.files():
        raw = f.read_bytes()
        meta = meta_of(raw)
        wire[str(meta.MediaStorageSOPInstanceUID)].append(
            (str(meta.TransferSyntaxUID), dataset_bytes(raw))
        )
    assert len(wire) > 200

    stored = sqlite_archive.catalog.instances()
    assert len(stored) > 200
    for instance in stored:
        part10 = stored_part10(sqlite_archive, instance.sop_uid)
        candidates = wire.get(instance.sop_uid, [])
        assert (str(meta_of(part10).TransferSyntaxUID), dataset_bytes(part10)) in candidates, (
            f"stored {instance.sop_uid} is not what storescu sent"
        )

    # failures only for objects the ingest refuses
    results: dict[str, int] = defaultdict(int)
    for path, text in statuses.items():
        results[text] += 1
        if text.startswith(("Error", "Refused")):
            assert text in ("Error: CannotUnderstand", "Error: DataSetDoesNotMatchSOPClass"), (
                path,
                text,
            )
    assert len(statuses) >= 300, len(statuses)  # storescu itself skips DICOMDIRs, gzip ...
    assert results["Success"] >= 200, dict(results)
    assert results["Warning: CoercionOfDataElements"] >= 30, dict(
        results
    )  # re-encoded copies of one UID
    assert results["Error: CannotUnderstand"] >= 10, dict(results)


@pytest.fixture
def bad_vr(tmp_path) -> Path:
    """CT_small with Patient Name set and Instance Number (IS) holding the invalid value '1A'."""
    ds = pydicom.dcmread(CT_SMALL)
    ds.PatientName = "Secret^Patient"
    ds.SOPInstanceUID = generate_uid()
    ds[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 2, b"1A", 0, False, True)
    return _write_part10(tmp_path / "bad_vr.dcm", ds)


def test_rejected_object_does_not_disturb_the_association(sqlite_archive, dicom_server, bad_vr):
    BAD_VR = bad_vr
    result = run_dcmtk(
        "storescu",
        "-v",
        "-R",
        "-nh",
        "-aec",
        AE_TITLE,
        "127.0.0.1",
        str(dicom_server.port),
        str(CT_SMALL),
        str(PALETTE),
        str(BAD_VR),
        str(MR_SMALL),
    )
    statuses = _storescu_statuses(result.stdout)
    assert statuses == {
        str(CT_SMALL): "Success",
        str(PALETTE): "Error: CannotUnderstand",
        str(BAD_VR): "Error: CannotUnderstand",
        str(MR_SMALL): "Success",
    }, result.stdout
    assert result.stdout.count("Association Accepted") == 1
    uids = {i.sop_uid for i in sqlite_archive.catalog.instances()}
    assert uids == {
        str(pydicom.dcmread(CT_SMALL).SOPInstanceUID),
        str(pydicom.dcmread(MR_SMALL).SOPInstanceUID),
    }


def test_error_comments_name_the_problem_without_values(dicom_server, bad_vr):
    outcomes = store_files("127.0.0.1", dicom_server.port, [PALETTE, bad_vr], called_ae=AE_TITLE)
    palette, invalid = outcomes
    assert palette.status == DimseStatus.CANNOT_UNDERSTAND
    assert palette.error_comment == "missing_uid: StudyInstanceUID is missing or empty"
    assert invalid.status == DimseStatus.CANNOT_UNDERSTAND
    assert invalid.error_comment == "invalid_value: element (0020,0013) value is invalid"
    for outcome in outcomes:  # no value of the object is echoed
        assert "1A" not in outcome.error_comment and "Secret" not in outcome.error_comment
        assert len(outcome.error_comment) <= 64


def _write_part10(
    path: Path,
    ds: pydicom.Dataset,
    *,
    meta_sop_class: str | None = None,
    meta_sop_instance: str | None = None,
) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = meta_sop_class or ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = meta_sop_instance or ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    validate_file_meta(ds.file_meta, enforce_standard=True)
    ds.preamble = b"\x00" * 128
    ds.save_as(path, enforce_file_format=False)  # keeps the Media Storage UIDs as given
    return path


def _small_ct(**changes: object) -> pydicom.Dataset:
    ds = pydicom.dcmread(CT_SMALL)
    for key, value in changes.items():
        setattr(ds, key, value)
    return ds


def _send_raw(port: int, sop_class: str, sop_instance: str, path: Path) -> pydicom.Dataset:
    """C-STORE the data set of ``path`` unchanged, under the given Affected SOP Class/Instance UIDs."""
    data = path.read_bytes()
    ts = str(meta_of(data).TransferSyntaxUID)
    ae = AE(ae_title="RAWSCU")
    assoc = ae.associate(
        "127.0.0.1", port, contexts=[build_context(sop_class, [ts])], ae_title=AE_TITLE
    )
    assert assoc.is_established
    try:
        return send_encoded(
            assoc, assoc.accepted_contexts[0], sop_class, sop_instance, dataset_bytes(data)
        )
    finally:
        assoc.release()


def test_sop_instance_uid_differing_from_the_request_is_refused(sqlite_archive, dicom_server):
    ds = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
    status = _send_raw(dicom_server.port, ds.SOPClassUID, generate_uid(), CT_SMALL)
    assert status.Status == DimseStatus.DATASET_DOES_NOT_MATCH == 0xA900
    assert status.ErrorComment == "SOPInstanceUID differs from Affected SOP Instance UID"
    assert sqlite_archive.catalog.totals()["instances"] == 0


def test_sop_class_differing_from_the_request_is_refused(sqlite_archive, dicom_server):
    ds = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
    mr_storage = "1.2.840.10008.5.1.4.1.1.4"
    status = _send_raw(dicom_server.port, mr_storage, ds.SOPInstanceUID, CT_SMALL)
    assert status.Status == 0xA900
    assert status.ErrorComment == "SOPClassUID differs from Affected SOP Class UID"
    assert sqlite_archive.catalog.totals()["instances"] == 0


def test_sop_class_foreign_to_the_context_is_answered_not_aborted(sqlite_archive, dicom_server):
    """A C-STORE whose Affected SOP Class is not the context's gets 0x0122; the association goes on.

    dcmtk's dcmsend sends such a request (SOP Class UID "31") after it fails to
    read a damaged file; pynetdicom on its own aborts the association there.
    """
    ds = pydicom.dcmread(CT_SMALL, stop_before_pixels=True)
    data = CT_SMALL.read_bytes()
    ts = str(meta_of(data).TransferSyntaxUID)
    ae = AE(ae_title="RAWSCU")
    assoc = ae.associate("127.0.0.1", dicom_server.port, contexts=[build_context(ds.SOPClassUID, [ts])], ae_title=AE_TITLE)
    assert assoc.is_established
    try:
        cx = assoc.accepted_contexts[0]
        foreign = send_encoded(assoc, cx, "31", generate_uid(), dataset_bytes(data), msg_id=1)
        assert foreign.Status == DimseStatus.SOP_CLASS_NOT_SUPPORTED == 0x0122
        assert "presentation context" in foreign.ErrorComment
        assert assoc.is_established
        good = send_encoded(assoc, cx, ds.SOPClassUID, ds.SOPInstanceUID, dataset_bytes(data), msg_id=2)
        assert good.Status == DimseStatus.SUCCESS
    finally:
        assoc.release()
    assert [i.sop_uid for i in sqlite_archive.catalog.instances()] == [ds.SOPInstanceUID]


def test_file_meta_uid_differing_from_the_data_set_is_sent_under_the_data_set_uid(
    sqlite_archive, dicom_server, tmp_path
):
    ds = _small_ct(SOPInstanceUID=generate_uid())
    path = _write_part10(tmp_path / "meta-differs.dcm", ds, meta_sop_instance=generate_uid())
    (outcome,) = store_files("127.0.0.1", dicom_server.port, [path], called_ae=AE_TITLE)
    assert outcome.status == 0x0000
    assert outcome.sop_instance_uid == ds.SOPInstanceUID
    assert [i.sop_uid for i in sqlite_archive.catalog.instances()] == [ds.SOPInstanceUID]


def test_data_set_without_sop_instance_uid_is_refused(sqlite_archive, dicom_server, tmp_path):
    ds = _small_ct()
    uid = ds.SOPInstanceUID
    del ds.SOPInstanceUID
    path = _write_part10(
        tmp_path / "nouid.dcm", ds, meta_sop_instance=uid, meta_sop_class=ds.SOPClassUID
    )
    (outcome,) = store_files("127.0.0.1", dicom_server.port, [path], called_ae=AE_TITLE)
    assert outcome.status == 0xA900
    assert outcome.error_comment == "the data set lacks SOPInstanceUID (0008,0018)"


def test_duplicate_is_success_and_stored_once(sqlite_archive, dicom_server):
    first, second = store_files(
        "127.0.0.1", dicom_server.port, [CT_SMALL, CT_SMALL], called_ae=AE_TITLE
    )
    assert first.status == second.status == DimseStatus.SUCCESS
    assert second.error_comment == ""
    assert sqlite_archive.catalog.totals()["instances"] == 1


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (ConflictPolicy.KEEP_FIRST, 0xB000),
        (ConflictPolicy.KEEP_BOTH, 0xB000),
        (ConflictPolicy.REJECT, 0x0111),
    ],
)
def test_conflict_status_follows_the_policy(make_archive, policy, status):
    archive = make_archive(f"conflict-{policy.value}", conflict_policy=policy)
    server = start_server(archive)
    try:
        first, conflict = store_files(
            "127.0.0.1", server.port, [MR_SMALL, MR_SMALL_IMPLICIT], called_ae=AE_TITLE
        )
    finally:
        server.stop()
    assert first.status == 0x0000
    assert conflict.status == status
    assert conflict.error_comment.startswith(
        "conflict: another object with this SOP Instance UID is"
    )
    # the first object stays the one served, unchanged
    kept = stored_part10(archive, conflict.sop_instance_uid)
    assert dataset_bytes(kept) == dataset_bytes(MR_SMALL.read_bytes())
    assert len(archive.catalog.conflicts(conflict.sop_instance_uid)) == 1


def test_too_large_object_is_out_of_resources(make_archive):
    archive = make_archive("small", max_object_bytes=10_000)
    server = start_server(archive)
    try:
        (outcome,) = store_files("127.0.0.1", server.port, [CT_SMALL], called_ae=AE_TITLE)
    finally:
        server.stop()
    assert outcome.status == DimseStatus.OUT_OF_RESOURCES == 0xA700
    assert outcome.error_comment.startswith("too_large:")


def test_storage_failure_is_out_of_resources_and_nothing_is_stored(sqlite_archive, dicom_server):
    # a real failure: the blob store's temporary directory is replaced by a file
    tmp_dir = sqlite_archive.settings.data_dir / "blobs" / "tmp"
    shutil.rmtree(tmp_dir)
    tmp_dir.write_bytes(b"not a directory")
    (outcome,) = store_files("127.0.0.1", dicom_server.port, [CT_SMALL], called_ae=AE_TITLE)
    assert outcome.status == 0xA700
    assert outcome.error_comment.startswith("storage failure (")
    assert sqlite_archive.catalog.totals()["instances"] == 0
    # the association and server survive: after repair the same object is stored
    tmp_dir.unlink()
    tmp_dir.mkdir()
    (outcome,) = store_files("127.0.0.1", dicom_server.port, [CT_SMALL], called_ae=AE_TITLE)
    assert outcome.status == 0x0000


def test_retired_storage_sop_class_is_accepted(sqlite_archive, dicom_server):
    path = DICOM_DIR / "pydicom-data" / "color-pl.dcm"
    if not path.exists():
        pytest.skip("color-pl.dcm not in the corpus")
    assert (
        str(meta_of(path).MediaStorageSOPClassUID) == "1.2.840.10008.5.1.4.1.1.6"
    )  # retired US Image
    (outcome,) = store_files("127.0.0.1", dicom_server.port, [path], called_ae=AE_TITLE)
    assert outcome.status == 0x0000, outcome


def test_dimse_latency_is_measured_per_command_and_status(sqlite_archive, dicom_server):
    store_files("127.0.0.1", dicom_server.port, [CT_SMALL, PALETTE], called_ae=AE_TITLE)
    text = sqlite_archive.metrics.render().decode()
    count = "radhub_dimse_request_duration_seconds_count"
    assert f'{count}{{command="C-STORE",status="0000"}} 1.0' in text
    assert f'{count}{{command="C-STORE",status="C000"}} 1.0' in text
