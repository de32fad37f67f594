"""The send page (/send) in Chromium: a site's technologist uploads through tus, resumes, reads the outcome.

What is checked is what the archive ends up with and what went over the
wire: the stored instances are fetched back over WADO-RS and compared with
the source files byte for byte, and every tus request the page made is
recorded, so that a resumed upload can be held to "starts at the server's
offset, never sends an acknowledged range again".
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from tests.conftest import shared_data
from tests.web.conftest import Site, make_site, shot

CHUNK = 128 * 1024  # small chunks: a 0.5 MB CT slice is sent in 5 requests (a POST and 4 PATCHes)
UPLOAD_URL = re.compile(r"/upload/[0-9a-f]{32}$")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = make_site(tmp_path_factory.mktemp("send"), {})
    yield s
    s.server.stop()


@pytest.fixture(scope="module")
def pg_site(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Site]:
    s = make_site(
        tmp_path_factory.mktemp("send-pg"), {}, database_url=postgres_server.create_database()
    )
    yield s
    s.server.stop()


def ct_files(n: int | None = None) -> list[Path]:
    files = sorted(shared_data("dicom", "dcm_qa_ct_GE").glob("*.dcm"))
    assert len(files) == 28
    return files[:n] if n else files


def synthetic(folder: Path, n: int) -> list[Path]:
    """``n`` small CT objects of one new study (no institution, no age: they are flagged)."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(n):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.Modality, ds.InstanceNumber = (
            "Send^Test",
            "SEND1",
            "CT",
            i + 1,
        )
        ds.Rows = ds.Columns = 16
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = bytes(range(256)) * 2
        path = folder / f"syn{i:02d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_bytes(page: Any, site: Site, path: Path) -> bytes:
    """The archive's copy of the object in ``path`` (WADO-RS, with the page's session)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    url = (
        f"{site.url}/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    r = page.request.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert r.status == 200, (r.status, r.text()[:200])
    return r.body()


def count(page: Any, status: str) -> int:
    return int(page.inner_text(f"#summary [data-count={status}]"))


def wait_done(page: Any) -> None:
    page.wait_for_selector("#send[data-state=done]", timeout=30_000)


def drop_files(page: Any, files: dict[str, bytes]) -> None:
    """A synthetic drop of ``files`` (name: bytes) on the drop zone, as a DataTransfer of File objects."""
    payload = [{"name": n, "b64": base64.b64encode(b).decode()} for n, b in files.items()]
    page.evaluate(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: "" }));
            }
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        payload,
    )


@dataclass
class Traffic:
    """The tus requests a browser context made, in order, each tagged with the phase it belongs to."""

    phase: str = "first"
    posts: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (phase, filename, Location) of a 201
    patches: list[tuple[str, str, int]] = field(default_factory=list)  # (phase, url, Upload-Offset)
    acked: list[tuple[str, str, int, int]] = field(
        default_factory=list
    )  # (phase, url, from, to) of a 204
    heads: list[tuple[str, str, int]] = field(default_factory=list)  # (phase, url, offset answered)

    def watch(self, context: Any) -> None:
        context.on("request", self._request)
        context.on("response", self._response)

    def _request(self, request: Any) -> None:
        if request.method == "PATCH" and UPLOAD_URL.search(request.url):
            self.patches.append((self.phase, request.url, int(request.headers["upload-offset"])))

    def _response(self, response: Any) -> None:
        request = response.request
        if request.method == "POST" and request.url.endswith("/upload") and response.status == 201:
            meta = dict(p.split(" ") for p in request.headers["upload-metadata"].split(","))
            url = response.headers["location"]
            self.posts.append((self.phase, base64.b64decode(meta["filename"]).decode(), url))
            if (
                "upload-offset" in response.headers
            ):  # creation-with-upload: the first chunk came with the POST
                self.acked.append((self.phase, url, 0, int(response.headers["upload-offset"])))
        elif (
            request.method == "PATCH" and UPLOAD_URL.search(request.url) and response.status == 204
        ):
            start = int(request.headers["upload-offset"])
            self.acked.append(
                (self.phase, request.url, start, int(response.headers["upload-offset"]))
            )
        elif request.method == "HEAD" and UPLOAD_URL.search(request.url) and response.status == 200:
            self.heads.append((self.phase, request.url, int(response.headers["upload-offset"])))


def upload_and_check(page: Any, site: Site, files: list[Path]) -> None:
    """Choose ``files`` on the page, wait for the outcome; every one is stored bit-exact."""
    page.set_input_files("#files", [str(f) for f in files])
    wait_done(page)
    for f in files:
        assert sha256(stored_bytes(page, site, f)) == sha256(f.read_bytes()), f.name


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def test_interrupted_send_resumes_after_reload_without_resending(browser: Any, site: Site) -> None:
    files = ct_files()
    sizes = {f.name: f.stat().st_size for f in files}
    page = site.login(browser, "tech_a", next="/send")
    traffic = Traffic()
    traffic.watch(page.context)
    page.goto(f"{site.url}/send?chunk={CHUNK}&parallel=2")
    shot(page, "send-01-empty")

    # the 5th PATCH is cut (a network blip: tus-js-client retries from the server's offset);
    # after the 30th every PATCH is cut, until the page is reloaded
    cut = {"patches": 0}

    def network(route: Any, request: Any) -> None:
        if request.method == "PATCH":
            cut["patches"] += 1
            if cut["patches"] == 5 or cut["patches"] > 30:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route(UPLOAD_URL, network)
    page.set_input_files("#files", [str(f) for f in files])
    for _ in range(600):
        if cut["patches"] > 32:
            break
        page.wait_for_timeout(50)
    assert cut["patches"] > 32, "the page stopped sending before the connection was cut"
    shot(page, "send-02-interrupted")
    page.unroute(UPLOAD_URL)
    traffic.phase = "after reload"
    page.reload()
    page.wait_for_selector("#resume-note:not([hidden])")
    assert int(page.get_attribute("#resume-note", "data-count")) >= 2
    shot(page, "send-03-reloaded")

    page.set_input_files("#files", [str(f) for f in files])
    wait_done(page)
    shot(page, "send-04-resumed-done")
    assert re.search(r"MB sent in [0-9.]+ s \([0-9.]+ MB/s\)", page.inner_text("#overall-text"))

    # (a) everything is stored, bit-exact
    assert (
        count(page, "stored") == 28
        and count(page, "duplicate") == 0
        and count(page, "rejected") == 0
    )
    for f in files:
        assert sha256(stored_bytes(page, site, f)) == sha256(f.read_bytes()), f.name

    # the blip was retried: a HEAD, then the PATCH again at the offset the server answered
    assert any(p == "first" for p, _, _ in traffic.heads)

    # (b) after the reload no acknowledged range was sent again and every resumed upload started at the server's offset
    created_before = {name: url for phase, name, url in traffic.posts if phase == "first"}
    created_after = {name for phase, name, _ in traffic.posts if phase == "after reload"}
    assert created_before and not (created_after & set(created_before)), (
        "a started upload was created anew"
    )
    assert created_after == set(sizes) - set(created_before)
    acked_end: dict[str, int] = {}
    for phase, url, start, end in traffic.acked:
        if phase == "first":
            assert start == acked_end.get(url, 0)
            acked_end[url] = end
    resumed_midway = 0
    for name, url in created_before.items():
        heads = [off for phase, u, off in traffic.heads if phase == "after reload" and u == url]
        patches = [off for phase, u, off in traffic.patches if phase == "after reload" and u == url]
        assert heads, f"{name}: not resumed through a HEAD"
        assert heads[0] >= acked_end.get(url, 0)
        if patches:
            assert patches[0] == heads[0], (
                f"{name}: resumed at {patches[0]}, the server had {heads[0]}"
            )
            assert patches == sorted(set(patches)), (
                f"{name}: a chunk was sent twice after the reload"
            )
            assert all(off >= acked_end.get(url, 0) for off in patches)
            resumed_midway += 0 < heads[0] < sizes[name]
        else:
            assert heads[0] == sizes[name], f"{name}: unfinished but nothing sent after the reload"
    assert resumed_midway >= 1, "no upload was cut in the middle"
    assert not page.is_visible("#resume-note")


def test_same_files_again_are_duplicates_and_a_non_dicom_file_is_rejected_in_words(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    files = synthetic(tmp_path / "syn", 3)
    page = site.login(browser, "tech_a", next="/send")
    dropped = {f.name: f.read_bytes() for f in files} | {
        "notes.txt": b"referral letter, not an image\n"
    }
    drop_files(page, dropped)
    wait_done(page)
    shot(page, "send-05-stored-and-rejected")
    assert (count(page, "stored"), count(page, "duplicate"), count(page, "rejected")) == (3, 0, 1)
    rejected = page.locator("#uploads tr[data-path='notes.txt'] td.result")
    assert "Rejected: not a DICOM file" in rejected.inner_text()
    assert "not a DICOM file" in page.inner_text("#refused")
    # the ingest checks (A8) per instance: the synthetic objects have no institution and no age
    row = page.locator("#uploads tr[data-path='syn00.dcm']")
    assert row.locator("[data-check=missing_institution]").count() == 1
    assert row.locator("[data-check=missing_patient_age]").count() == 1
    assert "no institution name: 3" in page.inner_text("#flag-counts")
    for f in files:
        assert stored_bytes(page, site, f) == f.read_bytes()

    drop_files(page, {f.name: f.read_bytes() for f in files})
    wait_done(page)
    shot(page, "send-06-duplicates")
    assert (count(page, "stored"), count(page, "duplicate"), count(page, "rejected")) == (3, 3, 1)
    outcomes = page.eval_on_selector_all(
        "#uploads tr[data-path='syn01.dcm']", "rows => rows.map(r => r.dataset.outcome)"
    )
    assert outcomes == ["stored", "duplicate"]


def test_expired_session_goes_to_log_in_and_back(browser: Any, site: Site, tmp_path: Path) -> None:
    page = site.login(browser, "tech_a", next="/send")
    page.context.clear_cookies()  # the session is gone (expired, or logged out elsewhere)
    page.set_input_files("#files", [str(p) for p in synthetic(tmp_path / "syn", 1)])
    page.wait_for_url(re.compile(r"/login\?next=%2Fsend&expired=1$"))
    assert "Your session has ended" in page.inner_text("main")
    shot(page, "send-07-session-expired")


def test_folder_and_zip_on_postgresql(browser: Any, pg_site: Site, tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    ct = ct_files(6)
    for i, f in enumerate(ct):
        target = folder / ("series-a" if i < 3 else "series-b") / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    (folder / "DICOMDIR").write_bytes(b"not sent: an index")
    zipped = synthetic(tmp_path / "zipped", 4)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for f in zipped:
            z.write(f, f"study/{f.name}")
        z.writestr("study/readme.txt", "not dicom")
    (tmp_path / "study.zip").write_bytes(buffer.getvalue())

    page = pg_site.login(browser, "tech_a", next="/send")
    page.set_input_files("#folder", str(folder))
    wait_done(page)
    assert (
        page.locator("#uploads tr[data-path='exam/series-b/04.dcm']").get_attribute("data-outcome")
        == "stored"
    )
    assert count(page, "skipped") == 1  # the DICOMDIR
    page.set_input_files("#files", str(tmp_path / "study.zip"))
    wait_done(page)
    shot(page, "send-08-folder-and-zip-postgresql")
    zip_row = page.locator("#uploads tr[data-path='study.zip']")
    assert "zip: 4 stored, 1 rejected" in zip_row.inner_text()
    assert "study/readme.txt" in page.inner_text("#refused")
    assert (count(page, "stored"), count(page, "rejected")) == (10, 1)
    for f in ct + zipped:
        assert stored_bytes(page, pg_site, f) == f.read_bytes(), f.name


def test_a_reader_is_told_that_the_account_may_not_send(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    page = site.login(browser, "reader_a", next="/send")
    page.set_input_files("#files", [str(p) for p in synthetic(tmp_path / "syn", 1)])
    wait_done(page)
    assert "Not sent: your account may not send studies" in page.inner_text("#uploads")
    assert count(page, "failed") == 1 and count(page, "stored") == 0
