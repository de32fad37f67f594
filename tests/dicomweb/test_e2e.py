"""End to end against a real ``radhub serve``: dicomweb-client, curl (the documented examples), radhub import --url."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from requests.exceptions import HTTPError

from tests.conftest import REPO, RadhubProcess, shared_data
from tests.dicomweb.conftest import (
    make_instance,
    multipart_body,
    parse_multipart,
    stow_headers,
    uids_of,
)

pytestmark = pytest.mark.slow

DOCS = REPO / "docs" / "dicomweb.md"
CT_SMALL = "pydicom/CT_small.dcm"
FILES = [
    CT_SMALL,
    "dcm_qa_ct_GE/01.dcm",
    "dcm_qa_ct_GE/02.dcm",
    "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
]


@pytest.fixture(scope="module")
def server(module_radhub_server):
    return module_radhub_server


@pytest.fixture(scope="module")
def client(server):
    return DICOMwebClient(url=server.dicomweb)


@pytest.fixture(scope="module")
def stored(client):
    datasets = [pydicom.dcmread(shared_data("dicom", *p.split("/"))) for p in FILES]
    response = client.store_instances(datasets)
    assert len(response.ReferencedSOPSequence) == len(FILES)
    return datasets


def test_store_and_search_with_dicomweb_client(client, stored):
    ct = stored[1]
    studies = client.search_for_studies(search_filters={"StudyInstanceUID": ct.StudyInstanceUID})
    assert [s["0020000D"]["Value"][0] for s in studies] == [ct.StudyInstanceUID]
    series = client.search_for_series(ct.StudyInstanceUID)
    assert [s["0020000E"]["Value"][0] for s in series] == [ct.SeriesInstanceUID]
    instances = client.search_for_instances(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert sorted(i["00080018"]["Value"][0] for i in instances) == sorted(
        d.SOPInstanceUID for d in stored[1:3]
    )
    everything = client.search_for_instances(get_remaining=True, limit=2)
    assert {i["00080018"]["Value"][0] for i in everything} >= {d.SOPInstanceUID for d in stored}
    found = client.search_for_studies(
        search_filters={"PatientName": "Compressed*"}, fields=["InstitutionName"]
    )
    assert found and all("00080080" in s for s in found)


def test_retrieve_with_dicomweb_client(client, stored):
    for path, ds in zip(FILES, stored):
        got = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        buf = io.BytesIO()
        got.save_as(buf, enforce_file_format=False)
        assert got.SOPInstanceUID == ds.SOPInstanceUID
        assert got.PixelData == ds.PixelData, path
    metadata = client.retrieve_study_metadata(stored[1].StudyInstanceUID)
    assert sorted(m["00080018"]["Value"][0] for m in metadata) == sorted(
        d.SOPInstanceUID for d in stored[1:3]
    )
    # dicomweb-client sends "Host: 127.0.0.1" without the port, so the absolute URLs built from
    # the Host header (RFC 9110 7.2) lack it; the path is what radhub controls
    uri = metadata[0]["7FE00010"]["BulkDataURI"]
    assert (
        uri.startswith("http://127.0.0.1")
        and "/dicomweb/studies/" in uri
        and uri.endswith("/bulk/7FE00010")
    )
    r = httpx.get(f"{client.base_url}{uri.split('/dicomweb', 1)[1]}")
    assert r.status_code == 200


def test_frames_and_rendered_with_dicomweb_client(client, stored):
    ct = stored[1]
    [frame] = client.retrieve_instance_frames(
        ct.StudyInstanceUID,
        ct.SeriesInstanceUID,
        ct.SOPInstanceUID,
        frame_numbers=[1],
        media_types=("application/octet-stream",),
    )
    assert frame == ct.PixelData
    j2k = stored[3]
    frames = client.retrieve_instance_frames(
        j2k.StudyInstanceUID, j2k.SeriesInstanceUID, j2k.SOPInstanceUID, frame_numbers=[1, 10]
    )
    expected = list(pydicom.encaps.generate_frames(j2k.PixelData, number_of_frames=10))
    assert frames == [expected[0], expected[9]]
    png = client.retrieve_instance_rendered(
        ct.StudyInstanceUID,
        ct.SeriesInstanceUID,
        ct.SOPInstanceUID,
        media_types=("image/png",),
        params={"window": "40,400"},
    )
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_study_mismatch_is_a_409_for_dicomweb_client(client):
    with pytest.raises(HTTPError) as info:
        client.store_instances(
            [pydicom.dcmread(io.BytesIO(make_instance()))], study_instance_uid="1.2.3.4"
        )
    assert info.value.response.status_code == 409
    [item] = info.value.response.json()["00081198"]["Value"]
    assert item["00081197"]["Value"] == [0xA900]


def test_documented_curl_examples_work(server, stored, tmp_path):
    text = DOCS.read_text(encoding="utf-8")
    script = re.search(r"```sh\n(.*?)```", text, re.DOTALL).group(1)
    assert "RADHUB=http://127.0.0.1:8042/dicomweb" in script
    script = script.replace("RADHUB=http://127.0.0.1:8042/dicomweb", f"RADHUB={server.dicomweb}")
    ct_small = shared_data("dicom", *CT_SMALL.split("/"))
    (tmp_path / "CT_small.dcm").symlink_to(ct_small)
    extra = make_instance()
    (tmp_path / "body.multipart").write_bytes(
        b"--RADHUB\r\nContent-Type: application/dicom\r\n\r\n" + extra + b"\r\n--RADHUB--\r\n"
    )
    study, series, sop = uids_of(ct_small.read_bytes())
    env = {**os.environ, "STUDY": study, "SERIES": series, "SOP": sop}
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "instance.dcm").read_bytes() == ct_small.read_bytes()
    multipart = (tmp_path / "instance.multipart").read_bytes()
    boundary = re.match(rb"--([^\r]+)\r\n", multipart).group(1).decode()
    [part] = parse_multipart(f"multipart/related; boundary={boundary}", multipart)
    assert part.content == ct_small.read_bytes()
    assert Image.open(tmp_path / "slice.png").format == "PNG"
    assert (tmp_path / "frames.multipart").stat().st_size > 0
    # the multipart example stored its object
    r = httpx.get(f"{server.dicomweb}/instances", params={"SOPInstanceUID": uids_of(extra)[2]})
    assert len(r.json()) == 1


def test_documented_dicomweb_client_example_works(server, stored, tmp_path, monkeypatch):
    text = DOCS.read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)
    code = code.replace("http://127.0.0.1:8042/dicomweb", server.dicomweb)
    (tmp_path / "CT_small.dcm").symlink_to(shared_data("dicom", *CT_SMALL.split("/")))
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}
    exec(compile(code, str(DOCS), "exec"), names)  # noqa: S102 - our own documentation
    assert names["ds"].SOPInstanceUID == names["sop"]
    assert Image.open(io.BytesIO(names["png"])).format == "PNG"
    assert len(names["frames"]) == 1


def test_import_cli_prints_stow_failure_reasons(server, tmp_path):
    bad = shared_data("dicom", "malformed", "no_meta.dcm")
    good = tmp_path / "good.dcm"
    good.write_bytes(make_instance())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "radhub.cli",
            "import",
            "--url",
            server.base_url,
            "--json",
            str(bad),
            str(good),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = json.loads(done.stdout)
    assert summary["stored"] == 1
    [rejected] = summary["rejected"]
    assert rejected["reason"].startswith("failure 49152: not_dicom: ")


def test_request_limit_counts_while_streaming(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    limited = RadhubProcess(data, env={"RADHUB_MAX_REQUEST_BYTES": "400000"})
    try:
        small = make_instance()
        big = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
        boundary = uuid.uuid4().hex
        body = multipart_body([small, big], boundary)

        def chunks():  # no Content-Length: the server must count
            for i in range(0, len(body), 16384):
                yield body[i : i + 16384]

        with httpx.Client(timeout=60) as h:
            r = h.post(
                f"{limited.dicomweb}/studies", content=chunks(), headers=stow_headers(boundary)
            )
            assert r.status_code == 413
            assert (
                "the 1 object(s) received before the limit was reached are stored"
                in r.json()["detail"]
            )
            found = h.get(
                f"{limited.dicomweb}/instances", params={"SOPInstanceUID": uids_of(small)[2]}
            ).json()
            assert len(found) == 1
            found = h.get(
                f"{limited.dicomweb}/instances", params={"SOPInstanceUID": uids_of(big)[2]}
            ).json()
            assert found == []
            r = h.post(f"{limited.dicomweb}/studies", content=body, headers=stow_headers(boundary))
            assert r.status_code == 413 and "exceeds max_request_bytes=400000" in r.json()["detail"]
    finally:
        limited.stop()


def test_path_like_uids_reach_radhub_as_400(server):
    r = httpx.get(f"{server.dicomweb}/studies/..%2F..%2Fetc%2Fpasswd/series")
    assert r.status_code == 400
    assert "is not a valid UID" in r.json()["detail"]


def test_large_study_streams(server, tmp_path):
    """A study of 40 objects (~20 MB) goes in with one STOW request and comes back bit-exact."""
    study = pydicom.uid.generate_uid()
    objects = [make_instance(StudyInstanceUID=study) for _ in range(40)]
    big = shared_data("dicom", "dcm_qa_ct_GE", "01.dcm").read_bytes()
    ds = pydicom.dcmread(io.BytesIO(big))
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    for _ in range(40):
        ds.StudyInstanceUID = study
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        objects.append(buf.getvalue())
    boundary = uuid.uuid4().hex
    with httpx.Client(timeout=120) as h:
        r = h.post(
            f"{server.dicomweb}/studies/{study}",
            content=multipart_body(objects, boundary),
            headers=stow_headers(boundary),
        )
        assert r.status_code == 200, r.text
        with h.stream(
            "GET",
            f"{server.dicomweb}/studies/{study}",
            headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        ) as resp:
            assert resp.status_code == 200
            content = resp.read()
            parts = parse_multipart(resp.headers["content-type"], content)
    assert sorted(p.content for p in parts) == sorted(objects)
