"""OHIF v3 in Chromium, reading radhub's DICOMweb with the user's session: pixels drawn, scrolled, windowed, MPR.

"Drawn" is measured on the screenshot of OHIF's viewport element: a
blank (one-colour) viewport has almost no variance; an image has plenty.
Scrolling to another slice and a window/level drag must each change it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DICOM_DIR
from tests.web.conftest import Site, make_site, shot

VIEWPORT = "[data-viewport-uid] canvas.cornerstone-canvas"


def generated_ct_volume(folder: Path, slices: int = 72, size: int = 128) -> list[Path]:
    """A CT volume of ``slices`` axial slices: a water cylinder with a bone ring and a few spheres (an MPR shows them)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    yy, xx = np.mgrid[0:size, 0:size] - size / 2
    r = np.hypot(xx, yy)
    paths = []
    for k in range(slices):
        z = k - slices / 2
        img = np.full((size, size), -1000, np.int16)
        img[r < size * 0.42] = 40
        img[(r >= size * 0.36) & (r < size * 0.42)] = 900
        for cx, cy, cz, rad in ((-20, -10, -15, 10), (18, 12, 8, 14), (0, 25, 20, 6)):
            d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2 + (z - cz) ** 2)
            img[d < rad] = 300
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = "PHANTOM^VOLUME", "PH-0064", "O", "19700101"
        ds.StudyDate, ds.StudyTime, ds.Modality, ds.InstitutionName = "20260101", "120000", "CT", "radhub tests"
        ds.KVP, ds.Exposure = 120, 200
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.AccessionNumber = "1", 1, k + 1, "VOL64"
        ds.StudyDescription, ds.SeriesDescription = "Generated phantom", "Axial 2.5 mm"
        ds.ImagePositionPatient = [-size / 2, -size / 2, float(k) * 2.5]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness, ds.SliceLocation = [1.0, 1.0], 2.5, float(k) * 2.5
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = 0, 1, 40, 400
        ds.PixelData = img.tobytes()
        ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
        paths.append(folder / f"{k:03d}.dcm")
    assert pydicom.dcmread(paths[0]).pixel_array.shape == (size, size)
    return paths


def mammogram(folder: Path, png: Path) -> list[Path]:
    """A Digital Mammography (For Presentation) object of a mini-MIAS mammogram (200 um pixels, 8 bit)."""
    from PIL import Image
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    mg = "1.2.840.10008.5.1.4.1.1.1.2"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = mg, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / (png.stem + ".dcm")
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = mg, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientSex, ds.StudyDate = "MIAS^" + png.stem.upper(), png.stem, "F", "19950101"
    ds.Modality, ds.PresentationIntentType, ds.ImageLaterality, ds.ViewPosition = "MG", "FOR PRESENTATION", "L", "MLO"
    ds.SeriesNumber, ds.InstanceNumber, ds.StudyDescription = 1, 1, "mini-MIAS mammogram"
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelSpacing = ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.WindowCenter, ds.WindowWidth = 128, 256
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return [path]


def generated_raw_data(folder: Path) -> list[Path]:
    """A study of one Raw Data object: nothing a viewer can display."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    raw = "1.2.840.10008.5.1.4.1.1.66"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = raw, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = folder / "raw.dcm"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = raw, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "RAW^ONLY", "RAW-1", "20260102", "OT"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.save_as(path, enforce_file_format=True)
    return [path]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing from the shared corpus")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    tmp = tmp_path_factory.mktemp("viewer")
    studies = {
        "ct": sorted(_need(DICOM_DIR / "dcm_qa_ct_GE").glob("*.dcm")),
        # JPEG 2000 lossless, 10 frames (MR)
        "j2k": [_need(DICOM_DIR / "pydicom-data" / "emri_small_jpeg_2k_lossless.dcm")],
        # ultrasound cine, 30 frames, JPEG baseline YBR
        "us": [_need(DICOM_DIR / "pydicom" / "examples_ybr_color.dcm")],
        "volume": generated_ct_volume(tmp / "volume"),
        "raw": generated_raw_data(tmp / "raw"),
        "mg": mammogram(tmp / "mg", _need(DICOM_DIR.parent / "mias" / "mdb001.png")),
        # one MR image in nine transfer syntaxes (explicit/implicit/big endian, RLE, JPEG lossless, JPEG-LS, JPEG 2000)
        "ts": sorted(_need(DICOM_DIR / "dcm_qa_ts").glob("*.dcm")),
        # a three-slice CT and a DICOM SEG of it (dcmqi)
        "seg": sorted(_need(DICOM_DIR / "dcmqi" / "segmentations" / "ct-3slice").glob("*.dcm"))
        + [_need(DICOM_DIR / "dcmqi" / "segmentations" / "partial_overlaps.dcm")],
        # CT_small and a TID 1500 measurement report on it (highdicom)
        "sr": [_need(DICOM_DIR / "pydicom" / "CT_small.dcm"), _need(DICOM_DIR / "highdicom" / "sr_document.dcm")],
    }
    s = make_site(tmp, studies)
    yield s
    s.server.stop()


def _viewport_image(page) -> np.ndarray:
    """The grey levels of the viewport's middle (its corners hold OHIF's text overlays, not pixels)."""
    return _middle(page.locator(VIEWPORT).first.screenshot())


def _middle(png: bytes) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    h, w = img.shape
    return img[int(h * 0.15) : int(h * 0.85), int(w * 0.15) : int(w * 0.85)]


def _wait_drawn(page, *, timeout: float = 60.0) -> np.ndarray:
    """The viewport's pixels once an image is drawn (not one colour)."""
    import time

    page.locator(VIEWPORT).first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    while True:
        img = _viewport_image(page)
        if img.std() > 8:
            return img
        if time.monotonic() > deadline:
            raise AssertionError(f"the viewport stayed blank (std {img.std():.1f})")
        page.wait_for_timeout(500)


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b)))


def _open(site: Site, browser, uid: str, *, user: str = "reader_a", extra: str = "", name: str = ""):
    """OHIF at the study; the page and a live list of "STATUS URL" of every DICOMweb answer that failed.

    ``page.dicomweb`` holds every DICOMweb answer, failed or not.
    """
    page = site.login(browser, user)
    failed: list[str] = []
    answers: list[tuple[int, str]] = []

    def seen(r) -> None:
        if "/dicomweb" in r.url:
            answers.append((r.status, r.url))
            if r.status >= 400:
                failed.append(f"{r.status} {r.url}")

    page.on("response", seen)
    page.dicomweb = answers
    page.goto(f"{site.url}/ohif/viewer?StudyInstanceUIDs={uid}{extra}")
    return page, failed


def _scroll_and_window(page, name: str) -> None:
    first = _wait_drawn(page)
    shot(page, f"{name}-1-drawn")
    box = page.locator(VIEWPORT).first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    for _ in range(5):
        page.mouse.wheel(0, 120)
        page.wait_for_timeout(150)
    page.wait_for_timeout(800)
    scrolled = _viewport_image(page)
    assert _changed(first, scrolled) > 0.5, "scrolling to another slice did not change the image"
    shot(page, f"{name}-2-scrolled")
    page.mouse.down()
    page.mouse.move(cx + 150, cy + 90, steps=10)
    page.mouse.up()
    page.wait_for_timeout(800)
    windowed = _viewport_image(page)
    assert _changed(scrolled, windowed) > 0.5, "a window/level drag did not change the image"
    shot(page, f"{name}-3-windowed")


def test_the_study_list_lists_what_the_viewer_tests_open(site: Site, browser) -> None:
    page = site.login(browser, "reader_a")
    shown = page.locator("#studies tbody tr[data-study]").evaluate_all("rows => rows.map(r => r.dataset.study)")
    assert set(shown) == set(site.studies.values())
    shot(page, "09-study-list")
    page.context.close()


def test_ohif_draws_a_ct_stack_scrolls_and_windows(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["ct"])
    _scroll_and_window(page, "10-ohif-ct")
    assert not failed, failed
    page.context.close()


def test_ohif_draws_a_jpeg_2000_study(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["j2k"])
    _scroll_and_window(page, "11-ohif-j2k")
    assert not failed, failed
    page.context.close()


def test_ohif_draws_a_multiframe_ultrasound(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["us"])
    _scroll_and_window(page, "12-ohif-us-multiframe")
    assert not failed, failed
    page.context.close()


def test_ohif_decodes_every_transfer_syntax_to_the_same_pixels(site: Site, browser) -> None:
    """The same image in nine lossless transfer syntaxes: every slice drawn, and drawn alike."""
    import pydicom

    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for p in (DICOM_DIR / "dcm_qa_ts").glob("*.dcm")}
    assert {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.70"} <= syntaxes
    page, failed = _open(site, browser, site.studies["ts"])
    first = _wait_drawn(page)
    box = page.locator(VIEWPORT).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    seen = [first]
    for _ in range(8):
        page.keyboard.press("ArrowDown")  # OHIF's next-image hotkey
        page.wait_for_timeout(700)
        seen.append(_wait_drawn(page))
    page.get_by_text("(9/9)").wait_for()  # OHIF's overlay: at the last of the nine
    shot(page, "16-ohif-transfer-syntaxes")
    differences = [_changed(seen[0], img) for img in seen[1:]]
    assert max(differences) < 2.0, differences
    frames = [u for status, u in page.dicomweb if "/frames/" in u and status == 200]
    assert len(frames) >= 9
    assert not failed, failed
    page.context.close()


def test_ohif_draws_a_mammogram_and_windows_it(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["mg"])
    first = _wait_drawn(page)
    shot(page, "19-ohif-mg")
    box = page.locator(VIEWPORT).first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 120, steps=10)
    page.mouse.up()
    page.wait_for_timeout(800)
    assert _changed(first, _viewport_image(page)) > 0.5
    assert not failed, failed
    page.context.close()


def test_ohif_mpr_of_a_generated_ct_volume(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["volume"], extra="&hangingProtocolId=mpr")
    page.wait_for_function(f"document.querySelectorAll('{VIEWPORT}').length >= 3", timeout=60_000)
    import time

    deadline = time.monotonic() + 90
    from PIL import Image

    while True:  # all three planes drawn (axial, sagittal, coronal)
        canvases = page.locator(VIEWPORT)
        stds = [
            float(_middle(canvases.nth(i).screenshot()).std())
            for i in range(3)
        ]
        if min(stds) > 8:
            break
        assert time.monotonic() < deadline, f"an MPR plane stayed blank: {stds}"
        page.wait_for_timeout(1000)
    page.wait_for_load_state("networkidle")  # the volume loads slice by slice: the shot shows it whole
    page.wait_for_timeout(1000)
    shot(page, "13-ohif-mpr")
    assert not failed, failed
    page.context.close()


def test_another_site_sees_no_image_in_the_viewer(site: Site, browser) -> None:
    uid = site.studies["ct"]
    page, failed = _open(site, browser, uid, user="reader_b")
    # OHIF asks radhub for the study; radhub answers as if it did not exist, and OHIF says so
    page.get_by_text("not available").wait_for(timeout=30_000)
    assert page.locator(VIEWPORT).count() == 0
    assert page.dicomweb, "OHIF asked radhub nothing"
    # what radhub answered: searches, with nothing of site A's in them; everything else 404
    for status, url in page.dicomweb:
        if "/metadata" in url or "/frames/" in url or "/rendered" in url or "/thumbnail" in url:
            assert status == 404, (status, url)
        elif status == 200:
            again = page.request.get(url)
            assert again.status == 204 or again.json() == [] or uid not in again.text(), url
    qido = page.request.get(f"{site.url}/dicomweb/studies?StudyInstanceUID={uid}")
    assert qido.status == 204 or qido.json() == []
    shot(page, "14-ohif-other-site")
    page.context.close()


def test_a_study_with_nothing_to_display_says_so(site: Site, browser) -> None:
    uid = site.studies["raw"]
    page, failed = _open(site, browser, uid)
    message = page.locator("#radhub-nothing-to-display")
    message.wait_for(timeout=30_000)
    assert "no image the viewer can display" in message.inner_text()
    assert "1 Raw Data" in message.inner_text()
    assert message.locator("a").get_attribute("href") == f"/studies/{uid}"
    shot(page, "15-ohif-nothing-to-display")
    assert not failed, failed
    page.context.close()
    # a study with images gets no such message
    page, _ = _open(site, browser, site.studies["ct"])
    _wait_drawn(page)
    page.wait_for_timeout(1500)
    assert page.locator("#radhub-nothing-to-display").count() == 0
    page.context.close()


def _colour_fraction(page) -> float:
    from PIL import Image

    png = page.locator(VIEWPORT).first.screenshot()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float((spread > 40).mean())


def test_ohif_overlays_a_dicom_seg_on_its_ct(site: Site, browser) -> None:
    page, failed = _open(site, browser, site.studies["seg"])
    page.locator(VIEWPORT).first.wait_for()
    page.wait_for_load_state("networkidle")
    before = _colour_fraction(page)  # grey CT (and OHIF's few coloured markers)
    shot(page, "17-ohif-seg-1-ct")
    page.get_by_text("Segmentation", exact=True).first.dblclick()
    deadline = __import__("time").monotonic() + 60
    while _colour_fraction(page) < before + 0.02:
        yes = page.get_by_role("button", name=re.compile("^(Yes|Load)", re.I))
        if yes.count():
            yes.first.click()
        if __import__("time").monotonic() > deadline:
            shot(page, "17-ohif-seg-failed")
            raise AssertionError(f"the segmentation was not drawn over the CT; DICOMweb failures: {failed}")
        page.wait_for_timeout(500)
    shot(page, "17-ohif-seg-2-overlay")
    assert not failed, failed
    page.context.close()


def test_ohif_shows_a_structured_report(site: Site, browser) -> None:
    """A TID 1500 measurement report (highdicom's example) on CT_small: OHIF lists it and opens it."""
    page, failed = _open(site, browser, site.studies["sr"])
    _wait_drawn(page)
    sr = page.get_by_text("SR", exact=True).first
    sr.wait_for()
    shot(page, "18-ohif-sr-1-listed")
    count = "[...document.querySelectorAll('*')].filter(e => e.childElementCount === 0 && e.textContent.trim() === 'SR').length"
    before = page.evaluate(count)
    sr.dblclick()
    # the viewport becomes OHIF's SR viewport: its "SR" badge joins the study browser's entry
    page.wait_for_function(f"{count} > {before}")
    _wait_drawn(page)  # over the image the report refers to
    shot(page, "18-ohif-sr-2-opened")
    sr_requests = [u for status, u in page.dicomweb if status == 200 and "/metadata" in u]
    assert sr_requests
    assert not failed, failed
    page.context.close()


def test_an_expired_session_in_the_viewer_goes_to_login_and_back(site: Site, browser) -> None:
    uid = site.studies["mg"]
    page, _ = _open(site, browser, uid)
    _wait_drawn(page)
    page.context.clear_cookies()  # the session has ended
    page.reload()
    page.wait_for_url(re.compile(r"/login\?"), timeout=30_000)
    from urllib.parse import unquote

    assert "/ohif/viewer?StudyInstanceUIDs=" in unquote(page.url)  # where to come back to
    assert "session has ended" in page.locator("section.login").inner_text()
    page.fill("#username", "reader_a")
    page.fill("#password", site.passwords["reader_a"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ohif/viewer\?StudyInstanceUIDs=" + re.escape(uid)))
    _wait_drawn(page)
    page.context.close()
