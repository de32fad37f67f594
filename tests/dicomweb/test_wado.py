"""WADO-RS: instances (bit-exact and transcoded), metadata, bulk data and frames, errors.

One stored object per transfer syntax of the corpus (single- and
multi-frame); frames are checked against pydicom's own view of the file.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from tests.conftest import dicom_manifest
from tests.dicomweb.conftest import (
    DICOM_JSON,
    corpus_path,
    corpus_rows,
    make_client,
    make_instance,
    open_archive,
    parse_multipart,
    referenced,
    stow_files,
)

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
NATIVE = {EXPLICIT, IMPLICIT, BIG_ENDIAN, DEFLATED}
OHIF_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'

# PS3.18 Table 8.7.3-5, written out independently of radhub's table
MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.8.1": "application/octet-stream",
}


def _image_keys() -> list[tuple[str, bool]]:
    """(transfer syntax, multi-frame?) of the corpus's valid image objects that have a study."""
    keys = {
        (r["transfer_syntax_uid"], int(r["frames"]) > 1)
        for r in dicom_manifest()
        if r["valid"] == "yes" and r["study_instance_uid"] and int(r["frames"] or 0) > 0
    }
    return sorted(keys)


IMAGE_KEYS = _image_keys()
SINGLE_FRAME_SYNTAXES = sorted({ts for ts, multi in IMAGE_KEYS if not multi})


@pytest.fixture(scope="module")
def stored(reference):
    """Representative stored corpus files: per (transfer syntax, multi-frame?) the first one."""
    picks: dict[tuple[str, bool], dict[str, str]] = {}
    others = []
    for row in corpus_rows():
        o = reference[row["path"]]
        if o.status != "stored":
            continue
        key = (row["transfer_syntax_uid"], int(row["frames"] or 0) > 1)
        if int(row["frames"] or 0) > 0 and key not in picks:
            picks[key] = row
        elif row["path"] in ("pydicom/waveform_ecg.dcm", "highdicom/sr_document.dcm"):
            others.append(row)
    return picks, others


@pytest.fixture(scope="module")
def wado(stored, tmp_path_factory):
    picks, others = stored
    archive = open_archive(tmp_path_factory.mktemp("wado") / "data")
    with make_client(archive) as client:
        rows = list(picks.values()) + others
        r = stow_files(client, [corpus_path(row) for row in rows])
        assert r.status_code == 200, r.text
        assert len(referenced(r.json())) == len(rows)
        # a series of three CT slices for series/study retrieval
        r = stow_files(client, [corpus_path({"path": f"dcm_qa_ct_GE/0{i}.dcm"}) for i in (2, 3)])
        assert r.status_code == 200
        yield client
    archive.close()


def url_of(row):
    return f"/dicomweb/studies/{row['study_instance_uid']}/series/{row['series_instance_uid']}/instances/{row['sop_instance_uid']}"


def pick(stored, ts, multiframe=False):
    row = stored[0].get((ts, multiframe))
    if row is None:
        pytest.skip(
            f"no stored {'multi' if multiframe else 'single'}-frame object in {ts} in the corpus"
        )
    return row


def expected_frames(path, numbers):
    """Frames as pydicom sees them (native: little-endian slices; encapsulated: codestreams)."""
    ds = pydicom.dcmread(path)
    ts = ds.file_meta.TransferSyntaxUID
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if ts in NATIVE:
        bits = ds.BitsAllocated
        length = ds.Rows * ds.Columns * ds.get("SamplesPerPixel", 1) * bits // 8
        data = bytes(ds.PixelData)
        if ts == BIG_ENDIAN and bits > 8:
            data = np.frombuffer(data, dtype=f">u{bits // 8}").astype(f"<u{bits // 8}").tobytes()
        return [data[(i - 1) * length : i * length] for i in numbers]
    frames = list(generate_frames(ds.PixelData, number_of_frames=n))
    return [frames[i - 1] for i in numbers]


# ---------------------------------------------------------------------------
# instances
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("ts", SINGLE_FRAME_SYNTAXES)
@pytest.mark.parametrize(
    "accept", [None, DICOM_ANY, 'multipart/related; type="application/dicom"', "*/*"]
)
def test_instance_is_bit_exact_as_stored(wado, stored, ts, accept):
    row = pick(stored, ts)
    headers = {"Accept": accept} if accept else {}
    r = wado.get(url_of(row), headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith('multipart/related; type="application/dicom"')
    [part] = parse_multipart(r.headers["content-type"], r.content)
    assert part.content == corpus_path(row).read_bytes()
    assert part.content_type == f"application/dicom; transfer-syntax={ts}"
    assert part.headers["content-location"].endswith(url_of(row))


def test_instance_as_single_application_dicom(wado, stored):
    row = pick(stored, EXPLICIT)
    r = wado.get(url_of(row), headers={"Accept": "application/dicom"})
    assert r.status_code == 200
    assert r.headers["content-type"] == f"application/dicom; transfer-syntax={EXPLICIT}"
    assert r.content == corpus_path(row).read_bytes()
    assert int(r.headers["content-length"]) == len(r.content)


def test_requesting_the_stored_syntax_returns_stored_bytes(wado, stored):
    row = pick(stored, "1.2.840.10008.1.2.4.50")
    r = wado.get(
        url_of(row),
        headers={
            "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
        },
    )
    assert r.status_code == 200
    [part] = parse_multipart(r.headers["content-type"], r.content)
    assert part.content == corpus_path(row).read_bytes()


@pytest.mark.parametrize(
    ("ts", "target"),
    [
        ("1.2.840.10008.1.2.4.70", EXPLICIT),
        ("1.2.840.10008.1.2.5", EXPLICIT),
        (EXPLICIT, IMPLICIT),
        (IMPLICIT, EXPLICIT),
    ],
)
def test_transcoding_to_native_syntaxes_is_lossless(wado, stored, ts, target):
    row = pick(stored, ts)
    r = wado.get(
        url_of(row),
        headers={
            "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={target}'
        },
    )
    assert r.status_code == 200, r.text
    [part] = parse_multipart(r.headers["content-type"], r.content)
    assert part.content_type == f"application/dicom; transfer-syntax={target}"
    got = pydicom.dcmread(io.BytesIO(part.content))
    original = pydicom.dcmread(corpus_path(row))
    assert got.file_meta.TransferSyntaxUID == target
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert np.array_equal(got.pixel_array, original.pixel_array)


@pytest.mark.parametrize(
    ("ts", "target", "message"),
    [
        (
            EXPLICIT,
            "1.2.840.10008.1.2.4.90",
            "cannot be produced from the stored 1.2.840.10008.1.2.1",
        ),
        (BIG_ENDIAN, EXPLICIT, "cannot be produced from the stored 1.2.840.10008.1.2.2"),
    ],
)
def test_other_transfer_syntaxes_are_406_with_a_message(wado, stored, ts, target, message):
    row = pick(stored, ts)
    r = wado.get(
        url_of(row),
        headers={
            "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={target}'
        },
    )
    assert r.status_code == 406
    assert message in r.json()["detail"]
    assert "transfer-syntax=*" in r.json()["detail"]


def test_unacceptable_media_type_is_406(wado, stored):
    row = pick(stored, EXPLICIT)
    r = wado.get(url_of(row), headers={"Accept": "application/json"})
    assert r.status_code == 406
    assert 'multipart/related; type="application/dicom"' in r.json()["detail"]
    study = row["study_instance_uid"]
    r = wado.get(f"/dicomweb/studies/{study}", headers={"Accept": "application/dicom"})
    assert r.status_code == 406  # a study is always multipart


def test_series_and_study_are_streamed_bit_exact(wado):
    files = {corpus_path({"path": f"dcm_qa_ct_GE/0{i}.dcm"}).read_bytes() for i in (1, 2, 3)}
    row = {"path": "dcm_qa_ct_GE/01.dcm"}
    ds = pydicom.dcmread(corpus_path(row), stop_before_pixels=True)
    for url in (
        f"/dicomweb/studies/{ds.StudyInstanceUID}",
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}",
    ):
        r = wado.get(url, headers={"Accept": DICOM_ANY})
        assert r.status_code == 200
        parts = parse_multipart(r.headers["content-type"], r.content)
        assert {p.content for p in parts} == files
        assert len({p.headers["content-location"] for p in parts}) == 3


# ---------------------------------------------------------------------------
# metadata and bulk data
# ---------------------------------------------------------------------------
def test_metadata_at_every_level_with_absolute_bulk_uris(wado, stored):
    row = pick(stored, EXPLICIT)
    base = f"/dicomweb/studies/{row['study_instance_uid']}"
    inst = url_of(row)
    for url, count in (
        (f"{inst}/metadata", 1),
        (f"{base}/series/{row['series_instance_uid']}/metadata", None),
        (f"{base}/metadata", None),
    ):
        r = wado.get(url, headers={"Accept": DICOM_JSON})
        assert r.status_code == 200
        assert r.headers["content-type"] == DICOM_JSON
        body = r.json()
        assert isinstance(body, list) and (count is None or len(body) == count)
    [meta] = wado.get(f"{inst}/metadata").json()
    assert meta["00080018"]["Value"] == [row["sop_instance_uid"]]
    assert meta["00083002"]["Value"] == [EXPLICIT]
    assert meta["7FE00010"]["BulkDataURI"] == f"http://testserver{inst}/bulk/7FE00010"
    assert "bulk:" not in r.text


def test_bulk_pixel_data_native_and_encapsulated(wado, stored):
    row = pick(stored, EXPLICIT)
    [meta] = wado.get(f"{url_of(row)}/metadata").json()
    r = wado.get(
        meta["7FE00010"]["BulkDataURI"].replace("http://testserver", ""),
        headers={"Accept": OHIF_ACCEPT},
    )
    assert r.status_code == 200
    [part] = parse_multipart(r.headers["content-type"], r.content)
    assert part.content == bytes(pydicom.dcmread(corpus_path(row)).PixelData)
    assert part.content_type == f"application/octet-stream; transfer-syntax={EXPLICIT}"

    row = pick(stored, "1.2.840.10008.1.2.4.50", multiframe=True)
    [meta] = wado.get(f"{url_of(row)}/metadata").json()
    r = wado.get(meta["7FE00010"]["BulkDataURI"].replace("http://testserver", ""))
    parts = parse_multipart(r.headers["content-type"], r.content)
    n = int(row["frames"])
    assert [p.content for p in parts] == expected_frames(corpus_path(row), list(range(1, n + 1)))
    assert {p.content_type for p in parts} == {"image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50"}


def test_bulk_data_nested_in_a_sequence(wado, stored):
    ecg = next((r for r in stored[1] if r["path"] == "pydicom/waveform_ecg.dcm"), None)
    if ecg is None:
        pytest.skip("waveform_ecg.dcm is not stored in this corpus")
    [meta] = wado.get(f"{url_of(ecg)}/metadata").json()
    uri = meta["54000100"]["Value"][0]["54001010"]["BulkDataURI"]
    assert uri.endswith("/bulk/54000100/0/54001010")
    r = wado.get(uri.replace("http://testserver", ""))
    assert r.status_code == 200
    [part] = parse_multipart(r.headers["content-type"], r.content)
    ds = pydicom.dcmread(corpus_path(ecg))
    assert part.content == bytes(ds.WaveformSequence[0].WaveformData)


@pytest.mark.parametrize(
    ("suffix", "status", "message"),
    [
        ("/bulk/00100010", 400, "has VR PN"),
        ("/bulk/00991234", 404, "has no element 00991234"),
        ("/bulk/7FE0", 400, "is not an 8-digit hex tag"),
        ("/bulk/54000100/9/54001010", 404, "has no element"),
        ("/bulk/54000100/x/54001010", 400, "is not a number"),
        ("/bulk/54000100/0", 400, "must be <tag> or"),
    ],
)
def test_bulk_data_errors(wado, stored, suffix, status, message):
    ecg = next((r for r in stored[1] if r["path"] == "pydicom/waveform_ecg.dcm"), None)
    if ecg is None:
        pytest.skip("waveform_ecg.dcm is not stored in this corpus")
    r = wado.get(url_of(ecg) + suffix)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


# ---------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("ts", "multiframe"), IMAGE_KEYS)
def test_frames_as_stored_with_their_media_type(wado, stored, ts, multiframe):
    row = pick(stored, ts, multiframe)
    n = int(row["frames"])
    numbers = [1] if n == 1 else [n, 1, 2]
    r = wado.get(
        f"{url_of(row)}/frames/{','.join(map(str, numbers))}", headers={"Accept": OHIF_ACCEPT}
    )
    assert r.status_code == 200, r.text
    parts = parse_multipart(r.headers["content-type"], r.content)
    media = MEDIA.get(ts, "application/octet-stream")
    part_ts = EXPLICIT if ts in NATIVE else ts
    assert [p.content_type for p in parts] == [f"{media}; transfer-syntax={part_ts}"] * len(numbers)
    assert [p.headers["content-location"].rsplit("/", 1)[1] for p in parts] == [
        str(i) for i in numbers
    ]
    ds = pydicom.dcmread(corpus_path(row), stop_before_pixels=True)
    if ds.get("BitsAllocated", 8) >= 8:
        assert [p.content for p in parts] == expected_frames(corpus_path(row), numbers)


@pytest.mark.parametrize(
    ("ts", "accept", "ok"),
    [
        ("1.2.840.10008.1.2.4.50", 'multipart/related; type="image/jpeg"', True),
        ("1.2.840.10008.1.2.4.50", 'multipart/related; type="image/*"', True),
        (
            "1.2.840.10008.1.2.4.50",
            'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50',
            True,
        ),
        ("1.2.840.10008.1.2.4.50", 'multipart/related; type="application/octet-stream"', False),
        ("1.2.840.10008.1.2.4.50", 'multipart/related; type="image/jp2"', False),
        ("1.2.840.10008.1.2.5", 'multipart/related; type="image/x-dicom-rle"', True),
        (EXPLICIT, 'multipart/related; type="application/octet-stream"', True),
        (
            IMPLICIT,
            f'multipart/related; type="application/octet-stream"; transfer-syntax={EXPLICIT}',
            True,
        ),
        (EXPLICIT, 'multipart/related; type="image/jpeg"', False),
        ("1.2.840.10008.1.2.8.1", 'multipart/related; type="application/octet-stream"', False),
        (
            "1.2.840.10008.1.2.4.90",
            'multipart/related; type="image/jpeg", multipart/related; type="image/jp2"',
            True,
        ),
    ],
)
def test_frame_accept_negotiation(wado, stored, ts, accept, ok):
    row = pick(stored, ts) if (ts, False) in stored[0] else pick(stored, ts, True)
    r = wado.get(f"{url_of(row)}/frames/1", headers={"Accept": accept})
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 406
        assert "transfer-syntax=*" in r.json()["detail"]


@pytest.mark.parametrize(
    ("frames", "status", "message"),
    [
        ("0", 400, "starting at 1"),
        ("1,a", 400, "comma-separated frame numbers"),
        ("99", 404, "frame 99 does not exist"),
    ],
)
def test_frame_errors(wado, stored, frames, status, message):
    row = pick(stored, EXPLICIT)
    r = wado.get(f"{url_of(row)}/frames/{frames}")
    assert r.status_code == status
    assert message in r.json()["detail"]


def test_frames_of_an_object_without_pixels_is_404(wado, stored):
    sr = next((r for r in stored[1] if r["path"] == "highdicom/sr_document.dcm"), None)
    if sr is None:
        pytest.skip("sr_document.dcm is not stored in this corpus")
    r = wado.get(f"{url_of(sr)}/frames/1")
    assert r.status_code == 404
    assert "has no pixel data" in r.json()["detail"]


def test_frames_with_comma_encoded(wado, stored):
    row = pick(stored, EXPLICIT, True)
    r = wado.get(f"{url_of(row)}/frames/1%2C2")
    assert r.status_code == 200
    assert len(parse_multipart(r.headers["content-type"], r.content)) == 2


# ---------------------------------------------------------------------------
# unknown and invalid UIDs
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "suffix", ["", "/metadata", "/frames/1", "/rendered", "/bulk/7FE00010", "/thumbnail"]
)
def test_unknown_instance_is_404_with_a_message(wado, stored, suffix):
    row = pick(stored, EXPLICIT)
    r = wado.get(
        f"/dicomweb/studies/{row['study_instance_uid']}/series/{row['series_instance_uid']}/instances/1.2.3.4{suffix}"
    )
    assert r.status_code == 404
    assert "instance 1.2.3.4 of series" in r.json()["detail"]


def test_unknown_study_and_series_are_404(wado):
    r = wado.get("/dicomweb/studies/1.2.3")
    assert r.status_code == 404 and r.json()["detail"] == "study 1.2.3 is not in the archive"
    r = wado.get("/dicomweb/studies/1.2.3/series/4.5/metadata")
    assert r.status_code == 404 and "series 4.5 of study 1.2.3" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/dicomweb/studies/..%2F..%2F..%2Fetc%2Fpasswd",
            "StudyInstanceUID '..' in the URL is not a valid UID",
        ),
        (
            "/dicomweb/studies/1.2.3/series/..%2F..",
            "SeriesInstanceUID '..' in the URL is not a valid UID",
        ),
        ("/dicomweb/studies/1.2.3/series/4.5/instances/abc/metadata", "SOPInstanceUID 'abc'"),
        ("/dicomweb/studies/1." + "1" * 80, "a UID has at most 64"),
        ("/dicomweb/studies/1.2.3/series/x/instances", "SeriesInstanceUID 'x'"),
        ("/dicomweb/studies/1.2.3%5C4.5", "is not a valid UID"),
    ],
)
def test_invalid_uids_in_urls_are_400(wado, path, message):
    r = wado.get(path)
    assert r.status_code == 400, (path, r.text)
    assert message in r.json()["detail"]


def test_trailing_slash_redirects(wado, stored):
    row = pick(stored, EXPLICIT)
    r = wado.get(f"{url_of(row)}/metadata/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"].endswith(f"{url_of(row)}/metadata")
    assert wado.get("/dicomweb/studies/?limit=1").status_code == 200


def test_unknown_resource_and_wrong_method(wado):
    r = wado.get("/dicomweb/nothing-here")
    assert r.status_code == 404 and "no DICOMweb resource" in r.json()["detail"]
    r = wado.delete("/dicomweb/studies/1.2.3")
    assert r.status_code == 405 and "DELETE is not supported" in r.json()["detail"]


def test_instances_are_never_silently_mixed_between_studies(wado):
    data = make_instance()
    ds = pydicom.dcmread(io.BytesIO(data))
    boundary = uuid.uuid4().hex
    from tests.dicomweb.conftest import multipart_body, stow_headers

    assert (
        wado.post(
            "/dicomweb/studies",
            content=multipart_body([data], boundary),
            headers=stow_headers(boundary),
        ).status_code
        == 200
    )
    r = wado.get(
        f"/dicomweb/studies/1.2.3/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    )
    assert r.status_code == 404
