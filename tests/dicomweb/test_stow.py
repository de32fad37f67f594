"""STOW-RS: the corpus through the one ingest path, per-part outcomes, bad input."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from tests.conftest import shared_data
from tests.dicomweb.conftest import (
    DICOM_JSON,
    REASON,
    corpus_path,
    corpus_rows,
    failed,
    load_corpus,
    make_client,
    make_instance,
    multipart_body,
    open_archive,
    parse_multipart,
    referenced,
    stow_files,
    stow_headers,
    uids_of,
    value,
)

FAILURE_BY_CODE = {
    "too_large": 0xA700,
    "missing_uid": 0xA900,
    "invalid_uid": 0xA900,
    "conflict": 0x0111,
}
CANNOT_UNDERSTAND = 0xC000
DUPLICATE_WARNING = 0xB007


def post(client, parts, url="/dicomweb/studies", part_type="application/dicom"):
    boundary = uuid.uuid4().hex
    return client.post(
        url, content=multipart_body(parts, boundary, part_type), headers=stow_headers(boundary)
    )


def instance_path(item):
    url = value(item, "00081190")
    return "/dicomweb" + url.split("/dicomweb", 1)[1]


def get_instance(client, url_path, ts="*"):
    r = client.get(
        url_path,
        headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={ts}'},
    )
    assert r.status_code == 200, r.text
    return parse_multipart(r.headers["content-type"], r.content)


def expected_failure(outcome):
    code = outcome.code or "conflict"
    return FAILURE_BY_CODE.get(code, CANNOT_UNDERSTAND)


def check_batch(paths, response, reference, *, second_receipt=False):
    """Every part's outcome is what the ingest pipeline decided; one bad part never hides another."""
    expected_ok, expected_failed = [], []
    for p in paths:
        o = reference[p]
        status = o.status
        if second_receipt and status == "stored":
            status = "duplicate"
        (expected_ok if status in ("stored", "duplicate") else expected_failed).append((o, status))
    body = response.json()
    assert response.headers["content-type"] == DICOM_JSON
    ok, bad = referenced(body), failed(body)
    assert [value(i, "00081155") for i in ok] == [o.sop_uid for o, _ in expected_ok], paths
    assert [value(i, "00081150") for i in ok] == [o.sop_class_uid for o, _ in expected_ok]
    for item, (o, status) in zip(ok, expected_ok):
        assert value(item, "00081196") == (DUPLICATE_WARNING if status == "duplicate" else None)
        assert (
            instance_path(item)
            == f"/dicomweb/studies/{o.study_uid}/series/{o.series_uid}/instances/{o.sop_uid}"
        )
    assert len(bad) == len(expected_failed), (paths, body)
    for item, (o, _status) in zip(bad, expected_failed):
        assert value(item, "00081197") == expected_failure(o), (o, item)
        assert value(item, REASON).startswith(o.code or "conflict"), item
        assert value(item, "00090010") == "RADHUB"  # the private creator reserving (0009,10xx)
        assert value(item, "00081155") == o.sop_uid
    if not expected_ok:
        assert response.status_code == 409
    elif expected_failed or any(s == "duplicate" for _, s in expected_ok):
        assert response.status_code == 202
    else:
        assert response.status_code == 200


@pytest.mark.slow
def test_corpus_through_stow_matches_ingest_and_retrieves_bit_exact(sqlite_archive, reference):
    rows = corpus_rows()
    with make_client(sqlite_archive) as client:
        # several files per request, in manifest order
        for paths, r in load_corpus(client, batch=12):
            check_batch(paths, r, reference)
        counts = Counter(o.status for o in reference.values())
        assert sqlite_archive.catalog.totals()["instances"] == counts["stored"]

        # every stored instance comes back bit-exact (the first file received with its UID)
        for row in rows:
            o = reference[row["path"]]
            if o.status != "stored":
                continue
            [part] = get_instance(
                client,
                f"/dicomweb/studies/{o.study_uid}/series/{o.series_uid}/instances/{o.sop_uid}",
            )
            assert part.content == corpus_path(row).read_bytes(), row["path"]
            assert part.content_type.startswith("application/dicom")

        # one file per request: a second receipt of everything
        for row in rows:
            r = stow_files(client, [corpus_path(row)])
            check_batch([row["path"]], r, reference, second_receipt=True)
        assert sqlite_archive.catalog.totals()["instances"] == counts["stored"]


def test_one_object_per_request_and_retrieve_url(client):
    path = shared_data("dicom", "pydicom", "CT_small.dcm")
    r = stow_files(client, [path])
    assert r.status_code == 200, r.text
    [item] = referenced(r.json())
    study, _series, _sop = uids_of(path.read_bytes())
    assert value(r.json(), "00081190") == f"http://testserver/dicomweb/studies/{study}"
    assert value(item, "00081196") is None
    [part] = get_instance(client, instance_path(item))
    assert part.content == path.read_bytes()


def test_single_application_dicom_body_is_accepted(client):
    data = make_instance()
    r = client.post(
        "/dicomweb/studies", content=data, headers={"Content-Type": "application/dicom"}
    )
    assert r.status_code == 200, r.text
    assert value(referenced(r.json())[0], "00081155") == uids_of(data)[2]


def test_a_bad_part_never_disturbs_the_others(client):
    good1, good2 = make_instance(), make_instance()
    ct = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
    truncated = ct[: len(ct) // 2]
    malformed = shared_data("dicom", "malformed", "no_meta.dcm").read_bytes()
    boundary = uuid.uuid4().hex
    body = multipart_body([good1, truncated, b"this is not DICOM", malformed], boundary)
    # a part that is not application/dicom, between good ones
    body = body[: -len(f"\r\n--{boundary}--")] + (
        f"\r\n--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}".encode()
        + f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + good2
        + f"\r\n--{boundary}--".encode()
    )
    r = client.post("/dicomweb/studies", content=body, headers=stow_headers(boundary))
    assert r.status_code == 202, r.text
    assert [value(i, "00081155") for i in referenced(r.json())] == [
        uids_of(good1)[2],
        uids_of(good2)[2],
    ]
    bad = failed(r.json())
    reasons = [value(i, REASON) for i in bad]
    assert [value(i, "00081197") for i in bad] == [CANNOT_UNDERSTAND] * 4
    assert reasons[0].startswith("truncated:")
    assert reasons[1].startswith("not_dicom:") and "DICM" in reasons[1]
    assert reasons[2].startswith("not_dicom:")
    assert (
        reasons[3]
        == "part 5: the part's Content-Type is application/json; only application/dicom parts (DICOM Part 10 objects) can be stored"
    )
    for item in referenced(r.json()):
        get_instance(client, instance_path(item))
    assert client.app.state.archive.catalog.totals()["instances"] == 2


def test_duplicate_is_a_warning_and_conflict_a_failure(client):
    sop = uuid.uuid4().int
    first = make_instance(SOPInstanceUID=f"2.25.{sop}")
    again = first
    different = make_instance(SOPInstanceUID=f"2.25.{sop}", PatientID="OTHER")
    r = post(client, [first])
    assert r.status_code == 200
    r = post(client, [again])
    assert r.status_code == 202
    [item] = referenced(r.json())
    assert value(item, "00081196") == DUPLICATE_WARNING
    assert value(item, REASON).startswith("duplicate:")
    r = post(client, [different])
    assert r.status_code == 409
    [item] = failed(r.json())
    assert value(item, "00081197") == 0x0111
    assert value(item, "00081155") == f"2.25.{sop}"
    assert "already stored with different bytes" in value(item, REASON)
    # the stored instance is unchanged
    study, series, _ = uids_of(first)
    [part] = get_instance(client, f"/dicomweb/studies/{study}/series/{series}/instances/2.25.{sop}")
    assert part.content == first


def test_all_parts_failing_is_409(client):
    r = post(client, [b"nope", b"also not DICOM"])
    assert r.status_code == 409
    assert len(failed(r.json())) == 2
    assert "00081199" not in r.json()


def test_study_in_url_rejects_instances_of_other_studies(client):
    study = f"2.25.{uuid.uuid4().int}"
    mine = make_instance(StudyInstanceUID=study)
    other = make_instance()
    r = post(client, [mine, other], url=f"/dicomweb/studies/{study}")
    assert r.status_code == 202, r.text
    assert value(r.json(), "00081190") == f"http://testserver/dicomweb/studies/{study}"
    [ok] = referenced(r.json())
    assert value(ok, "00081155") == uids_of(mine)[2]
    [bad] = failed(r.json())
    assert value(bad, "00081197") == 0xA900
    assert value(bad, "00081155") == uids_of(other)[2]
    assert "not to the study" in value(bad, REASON)
    assert client.app.state.archive.catalog.instances(sop_uid=uids_of(other)[2]) == []
    # only mismatches: 409
    r = post(client, [make_instance()], url=f"/dicomweb/studies/{study}")
    assert r.status_code == 409
    # invalid objects sent to a study URL are still judged by the ingest pipeline
    r = post(client, [b"garbage"], url=f"/dicomweb/studies/{study}")
    assert r.status_code == 409
    assert value(failed(r.json())[0], REASON).startswith("not_dicom:")


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "Content-Type application/json is not supported"),
        (
            'multipart/related; type="application/dicom+json"; boundary=x',
            'type="application/dicom+json" is not supported',
        ),
        ('multipart/related; type="application/octet-stream"; boundary=x', "is not supported"),
        ("text/plain", "Content-Type text/plain is not supported"),
        (None, "Content-Type is required"),
        ("garbage", "is not a media type"),
    ],
)
def test_wrong_content_type_is_415(client, content_type, message):
    headers = {"Content-Type": content_type} if content_type else {}
    r = client.post("/dicomweb/studies", content=make_instance(), headers=headers)
    assert r.status_code == 415
    assert message in r.json()["detail"]
    assert client.app.state.archive.catalog.totals()["instances"] == 0


def test_compressed_request_body_is_415(client):
    r = client.post(
        "/dicomweb/studies",
        content=make_instance(),
        headers={"Content-Type": "application/dicom", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 415
    assert "Content-Encoding" in r.json()["detail"]


def test_xml_response_is_not_acceptable(client):
    boundary = "b"
    r = client.post(
        "/dicomweb/studies",
        content=multipart_body([make_instance()], boundary),
        headers={**stow_headers(boundary), "Accept": "application/dicom+xml"},
    )
    assert r.status_code == 406
    assert "application/dicom+json only" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (
            b"no delimiter here",
            {"Content-Type": 'multipart/related; type="application/dicom"; boundary=zz'},
            "no multipart boundary found",
        ),
        (
            b"--zz\r\n\r\nDATA",
            {"Content-Type": 'multipart/related; type="application/dicom"; boundary=zz'},
            "closing multipart boundary is missing",
        ),
        (
            b"--zz--",
            {"Content-Type": 'multipart/related; type="application/dicom"; boundary=zz'},
            "contains no parts",
        ),
        (
            b"--zz\r\n\r\nx\r\n--zz--",
            {"Content-Type": 'multipart/related; type="application/dicom"'},
            "no boundary parameter",
        ),
        (
            b"--zz\r\nbroken header\r\n\r\nx\r\n--zz--",
            {"Content-Type": 'multipart/related; type="application/dicom"; boundary=zz'},
            "malformed header line",
        ),
    ],
)
def test_malformed_multipart_is_400(client, body, headers, message):
    r = client.post("/dicomweb/studies", content=body, headers=headers)
    assert r.status_code == 400
    assert message in r.json()["detail"]


def test_body_cut_inside_a_later_part_keeps_the_complete_ones(client):
    good = make_instance()
    nxt = make_instance()
    boundary = "cut"
    body = multipart_body([good, nxt], boundary)
    body = body[: body.index(nxt) + len(nxt) // 2]
    r = client.post("/dicomweb/studies", content=body, headers=stow_headers(boundary))
    assert r.status_code == 202
    assert [value(i, "00081155") for i in referenced(r.json())] == [uids_of(good)[2]]
    [bad] = failed(r.json())
    assert "closing multipart boundary is missing" in value(bad, REASON)
    assert client.app.state.archive.catalog.instances(sop_uid=uids_of(nxt)[2]) == []


@pytest.fixture
def small_limit_client(tmp_path):
    archive = open_archive(tmp_path / "data", max_request_bytes=200_000)
    with make_client(archive) as c:
        yield c
    archive.close()


def test_oversized_request_by_content_length_is_413(small_limit_client):
    big = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
    r = post(small_limit_client, [big])
    assert r.status_code == 413
    assert "exceeds max_request_bytes=200000" in r.json()["detail"]
    assert small_limit_client.app.state.archive.catalog.totals()["instances"] == 0


def test_oversized_chunked_request_is_counted_while_streaming(small_limit_client):
    big = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
    boundary = "chunked"
    body = multipart_body([big], boundary)

    def gen():
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    r = small_limit_client.post("/dicomweb/studies", content=gen(), headers=stow_headers(boundary))
    assert r.status_code == 413
    assert "max_request_bytes" in r.json()["detail"]
    assert small_limit_client.app.state.archive.catalog.totals()["instances"] == 0
    # below the limit everything works
    r = post(small_limit_client, [make_instance()])
    assert r.status_code == 200


def test_object_over_max_object_bytes_fails_with_out_of_resources(tmp_path):
    archive = open_archive(tmp_path / "data", max_object_bytes=50_000)
    try:
        with make_client(archive) as c:
            big = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
            small = make_instance()
            r = post(c, [big, small])
            assert r.status_code == 202
            [bad] = failed(r.json())
            assert value(bad, "00081197") == 0xA700
            assert value(bad, REASON).startswith("too_large:")
            assert len(referenced(r.json())) == 1
    finally:
        archive.close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dicomweb/studies/..%2F..%2Fetc", "is not a valid UID"),
        ("/dicomweb/studies/abc", "is not a valid UID"),
        ("/dicomweb/studies/1." + "2" * 70, "a UID has at most 64"),
        ("/dicomweb/studies/1.02.3", "is not a valid UID"),
    ],
)
def test_invalid_study_uid_in_url_is_400(client, path, message):
    r = client.post(path, content=make_instance(), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 400
    assert message in r.json()["detail"]
