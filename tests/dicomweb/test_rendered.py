"""WADO-RS rendered images and thumbnails over the corpus.

Every decodable image of the corpus (manifest ``decodable=yes``) is
archived and rendered to PNG and JPEG over HTTP:
* files the ingest pipeline stores are sent as they are;
* re-encodings of an already stored SOP Instance (conflicts) go to a fresh
  archive per "generation", so each is stored as it is too;
* codec test files the pipeline refuses for lack of identification
  (no Study/Series/SOP Instance UID, no File Meta) are completed with new
  UIDs by pydicom; their pixel data is unchanged.
Undecodable stored objects must answer what the rendering library says: a
422 with its message.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from tests.conftest import dicom_manifest
from tests.dicomweb.conftest import (
    DICOM_JSON,
    corpus_path,
    make_client,
    multipart_body,
    open_archive,
    referenced,
    stow_headers,
)

try:  # the rendering library is developed alongside; skip only if it is absent
    from radhub.dicom import RenderError
    from radhub.retrieve import render

    HAVE_RENDER = True
except ImportError:  # pragma: no cover
    HAVE_RENDER = False

pytestmark = pytest.mark.skipif(
    not HAVE_RENDER, reason="radhub.retrieve.render is not available yet"
)

NOT_ARCHIVABLE = {
    "malformed/bad_sequence.dcm"
}  # rejected as invalid_value: not reachable over HTTP
DECODABLE = [
    r for r in dicom_manifest() if r["decodable"] == "yes" and r["path"] not in NOT_ARCHIVABLE
]
UNDECODABLE = [r for r in dicom_manifest() if r["decodable"] == "no"]


def completed(path) -> bytes:
    """The object with missing identifying UIDs added (pixel data unchanged)."""
    ds = pydicom.dcmread(path, force=True)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not ds.get(keyword):
            setattr(ds, keyword, generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@dataclass
class Generation:
    archive: Any
    client: Any
    sops: set[str] = field(default_factory=set)
    pending: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def targets(reference, tmp_path_factory):
    """path -> (client, instance URL) for every decodable image, archived as described above."""
    generations: list[Generation] = []

    def generation_for(sop: str) -> Generation:
        for g in generations:
            if sop not in g.sops:
                return g
        archive = open_archive(tmp_path_factory.mktemp(f"render{len(generations)}") / "data")
        g = Generation(archive, make_client(archive).__enter__())
        generations.append(g)
        return g

    for row in DECODABLE + UNDECODABLE:
        o = reference[row["path"]]
        if row["path"] in NOT_ARCHIVABLE:
            continue
        if o.status in ("stored", "conflict"):
            data = corpus_path(row).read_bytes()
            sop = o.sop_uid
        elif row["decodable"] == "yes" and o.code in ("missing_uid", "not_dicom"):
            data = completed(corpus_path(row))
            sop = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)
        else:
            continue
        g = generation_for(sop)
        g.sops.add(sop)
        g.pending.append((row["path"], data))

    out = {}
    for g in generations:
        for i in range(0, len(g.pending), 16):
            batch = g.pending[i : i + 16]
            boundary = "render-batch"
            r = g.client.post(
                "/dicomweb/studies",
                content=multipart_body([d for _, d in batch], boundary),
                headers=stow_headers(boundary),
            )
            assert r.status_code == 200, r.text
            for (path, _), item in zip(batch, referenced(r.json())):
                out[path] = (
                    g.client,
                    item["00081190"]["Value"][0].replace("http://testserver", ""),
                )
    yield out
    for g in generations:
        g.client.__exit__(None, None, None)
        g.archive.close()


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    """path -> (client, instance URL) for a CT slice and a 10-frame MR (fast tests)."""
    archive = open_archive(tmp_path_factory.mktemp("render-few") / "data")
    paths = ["dcm_qa_ct_GE/01.dcm", "pydicom-data/emri_small.dcm"]
    with make_client(archive) as client:
        boundary = "few"
        data = [corpus_path({"path": p}).read_bytes() for p in paths]
        r = client.post(
            "/dicomweb/studies",
            content=multipart_body(data, boundary),
            headers=stow_headers(boundary),
        )
        assert r.status_code == 200, r.text
        urls = [
            i["00081190"]["Value"][0].replace("http://testserver", "") for i in referenced(r.json())
        ]
        yield {p: (client, u) for p, u in zip(paths, urls)}
    archive.close()


def open_image(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    img.load()
    return img


@pytest.mark.slow
@pytest.mark.parametrize("row", DECODABLE, ids=[r["path"] for r in DECODABLE])
def test_every_decodable_image_renders_to_png_and_jpeg(targets, row):
    client, url = targets[row["path"]]
    for media, fmt in (("image/png", "PNG"), ("image/jpeg", "JPEG")):
        r = client.get(f"{url}/rendered", headers={"Accept": media})
        assert r.status_code == 200, (row["path"], r.text)
        assert r.headers["content-type"] == media
        img = open_image(r.content)
        assert img.format == fmt
        assert img.size == (int(row["columns"]), int(row["rows"]))


@pytest.mark.slow
def test_undecodable_images_answer_what_the_renderer_says(targets):
    """Stored objects whose pixel data cannot be decoded get a 422 with the renderer's message."""
    stored = [row for row in UNDECODABLE if row["path"] in targets]
    assert (
        len(stored) >= 3
    )  # JPEG-lossy.dcm, the 1-bit RLE/deflate SEGs, the J2K with a stray delimiter
    for row in stored:
        client, url = targets[row["path"]]
        r = client.get(f"{url}/rendered", headers={"Accept": "image/png"})
        try:
            expected = render(corpus_path(row), media_type="image/png")
        except RenderError as exc:
            assert r.status_code == 422, (row["path"], r.text)
            assert "cannot be rendered" in r.json()["detail"]
            assert str(exc) in r.json()["detail"]
        else:
            assert r.status_code == 200, row["path"]
            assert r.content == expected


def ct(few):
    return few["dcm_qa_ct_GE/01.dcm"]


def test_default_media_type_is_jpeg_and_accept_query_parameter_wins(few):
    client, url = ct(few)
    assert client.get(f"{url}/rendered").headers["content-type"] == "image/jpeg"
    assert (
        client.get(f"{url}/rendered", headers={"Accept": "image/*"}).headers["content-type"]
        == "image/jpeg"
    )
    r = client.get(f"{url}/rendered?accept=image/png", headers={"Accept": "image/jpeg"})
    assert r.headers["content-type"] == "image/png"
    r = client.get(f"{url}/rendered", headers={"Accept": "image/gif"})
    assert r.status_code == 406
    assert "image/jpeg or image/png" in r.json()["detail"]


def test_window_viewport_and_quality_reach_the_renderer(few):
    client, url = ct(few)
    path = corpus_path({"path": "dcm_qa_ct_GE/01.dcm"})
    r = client.get(
        f"{url}/rendered?window=40,400&viewport=128,128", headers={"Accept": "image/png"}
    )
    assert r.status_code == 200
    assert r.content == render(path, media_type="image/png", window=(40, 400), viewport=(128, 128))
    assert max(open_image(r.content).size) <= 128
    r = client.get(f"{url}/rendered?window=40,400,sigmoid", headers={"Accept": "image/png"})
    assert r.content == render(
        path, media_type="image/png", window=(40, 400), voi_function="SIGMOID"
    )
    low = client.get(f"{url}/rendered?quality=5").content
    high = client.get(f"{url}/rendered?quality=95").content
    assert len(low) < len(high)


def test_frame_level_rendering(few):
    key = "pydicom-data/emri_small.dcm"
    client, url = few[key]
    path = corpus_path({"path": key})
    r = client.get(f"{url}/frames/3/rendered", headers={"Accept": "image/png"})
    assert r.status_code == 200
    assert r.content == render(path, frame=3, media_type="image/png")
    assert (
        r.content != client.get(f"{url}/frames/1/rendered", headers={"Accept": "image/png"}).content
    )
    r = client.get(f"{url}/frames/11/rendered")
    assert r.status_code == 404 and "frame 11 does not exist" in r.json()["detail"]
    r = client.get(f"{url}/frames/1,2/rendered")
    assert r.status_code == 400 and "one frame number" in r.json()["detail"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("window=40", "window must be center,width[,function]"),
        ("window=a,b", "must be numbers"),
        ("window=40,0", "width must be greater than 0"),
        ("window=40,400,cubic", "is not one of linear, linear-exact, sigmoid"),
        ("viewport=0,10", "must be 1-8192 pixels"),
        ("viewport=1,2,3,4,5,6", "cropping with sx,sy,sw,sh is not supported"),
        ("quality=0", "quality must be an integer 1-100"),
        ("quality=x", "quality must be an integer 1-100"),
    ],
)
def test_bad_rendering_parameters_are_400(few, query, message):
    client, url = ct(few)
    r = client.get(f"{url}/rendered?{query}")
    assert r.status_code == 400
    assert message in r.json()["detail"]


def test_thumbnails_at_every_level(few):
    client, url = ct(few)
    study_url = url.split("/series/")[0]
    series_url = url.split("/instances/")[0]
    for u in (f"{url}/thumbnail", f"{series_url}/thumbnail", f"{study_url}/thumbnail"):
        r = client.get(u)
        assert r.status_code == 200, (u, r.text)
        assert max(open_image(r.content).size) <= 128
    r = client.get(f"{url}/thumbnail?viewport=32,32", headers={"Accept": "image/png"})
    assert max(open_image(r.content).size) <= 32


def test_objects_without_pixels_have_no_rendering(few):
    client = ct(few)[0]
    ds = pydicom.dcmread(corpus_path({"path": "highdicom/sr_document.dcm"}))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (
        generate_uid() for _ in range(3)
    )
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    boundary = "sr"
    r = client.post(
        "/dicomweb/studies",
        content=multipart_body([buf.getvalue()], boundary),
        headers=stow_headers(boundary),
    )
    assert r.status_code == 200, r.text
    series = f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    url = f"{series}/instances/{ds.SOPInstanceUID}"
    r = client.get(f"{url}/rendered")
    assert r.status_code == 406 and "has no pixel data" in r.json()["detail"]
    for u in (f"{series}/thumbnail", f"/dicomweb/studies/{ds.StudyInstanceUID}/thumbnail"):
        r = client.get(u)
        assert r.status_code == 406 and "no image instances" in r.json()["detail"]
    assert client.get(f"{url}/metadata", headers={"Accept": DICOM_JSON}).status_code == 200


def test_rendering_runs_in_a_worker_process_and_equals_in_process(few, monkeypatch):
    """With parser processes, /rendered renders in one of them; the bytes are those of an in-process render."""
    import os

    from radhub.retrieve import render

    client, url = few["dcm_qa_ct_GE/01.dcm"]
    archive = client.app.state.archive
    pool = archive.ingestor.parser
    assert pool.workers > 0
    pids: list[int] = []
    real_call = pool.call

    def spying_call(fn, /, **kwargs):
        pids.append(real_call(os.getpid))
        return real_call(fn, **kwargs)

    monkeypatch.setattr(pool, "call", spying_call)
    r = client.get(f"{url}/rendered", params={"window": "40,400", "viewport": "128,128"}, headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert pids and os.getpid() not in pids
    inst = archive.catalog.instances(sop_uid=url.rsplit("/", 1)[-1])[0]
    expected = render(str(archive.store.path(inst.blob_sha256)), media_type="image/png", window=(40, 400), viewport=(128, 128))
    assert r.content == expected
    # a frame past the end is still a 404, a bad window still a 400
    assert client.get(f"{url}/frames/2/rendered").status_code == 404
    assert client.get(f"{url}/rendered", params={"window": "40,-1"}).status_code == 400


def test_rendering_survives_a_dead_worker(few, monkeypatch):
    """A worker process that dies costs one in-process render, not an error."""
    import signal

    client, url = few["pydicom-data/emri_small.dcm"]
    pool = client.app.state.archive.ingestor.parser
    for pid in pool._executor().pids:
        os.kill(pid, signal.SIGKILL)
    r = client.get(f"{url}/frames/3/rendered", headers={"Accept": "image/png"})
    assert r.status_code == 200, r.text
    assert open_image(r.content).size == (64, 64)
    assert client.get(f"{url}/frames/4/rendered", headers={"Accept": "image/png"}).status_code == 200
