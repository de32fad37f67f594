"""Images from files (NRRD, NIfTI, DICOM file/folder/multi-frame, PNG/PGM) and from the archive by UID."""

from __future__ import annotations

import hashlib
import logging

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image

from radhub.radiomics import image_from_archive, image_id, read_image, volume_from_datasets
from radhub.radiomics.errors import ImageError, ImageNotFoundError
from tests.conftest import shared_data
from tests.radiomics.conftest import pyradiomics_case

CT_GE = "dcm_qa_ct_GE"
SEG_SERIES = ("dcmqi", "segmentations", "23x38x3", "image")


def test_nrrd_matches_pynrrd() -> None:
    path = pyradiomics_case("brain1_image.nrrd")
    img = read_image(path)
    data, header = nrrd.read(str(path))  # independent reader; axes x, y, z
    assert img.GetSize() == data.shape
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), np.transpose(data, (2, 1, 0)))
    np.testing.assert_allclose(img.GetSpacing(), np.linalg.norm(header["space directions"], axis=1))


def test_nifti_written_by_nibabel(tmp_path) -> None:
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # x, y, z for nibabel
    affine = np.diag([0.5, 0.75, 2.0, 1.0])
    nib.save(nib.Nifti1Image(arr, affine), tmp_path / "v.nii.gz")
    img = read_image(tmp_path / "v.nii.gz")
    assert img.GetSize() == (4, 5, 6)
    np.testing.assert_allclose(img.GetSpacing(), (0.5, 0.75, 2.0))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), np.transpose(arr, (2, 1, 0)))


def test_png_needs_spacing(mias_root) -> None:
    with pytest.raises(ImageError, match="no pixel spacing"):
        read_image(mias_root / "mdb001.png")
    img = read_image(mias_root / "mdb001.png", spacing=0.2)
    assert img.GetSize() == (1024, 1024)
    assert img.GetSpacing() == (0.2, 0.2)
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(img), np.asarray(Image.open(mias_root / "mdb001.png"))
    )


def test_pgm_and_rgb(tmp_path) -> None:
    arr = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 3).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.pgm")
    img = read_image(tmp_path / "a.pgm", spacing=(0.1, 0.3))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), arr)
    assert img.GetSpacing() == (0.1, 0.3)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ImageError, match="grey-level"):
        read_image(tmp_path / "rgb.png", spacing=1)


def test_missing_and_unsupported(tmp_path) -> None:
    with pytest.raises(ImageNotFoundError, match="does not exist"):
        read_image(tmp_path / "nope.nrrd")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImageError, match="unsupported image file"):
        read_image(tmp_path / "x.txt")


def test_dicom_folder_geometry() -> None:
    folder = shared_data("dicom", *SEG_SERIES)
    img = read_image(folder)
    datasets = sorted(
        (pydicom.dcmread(f) for f in folder.iterdir()),
        key=lambda d: float(d.ImagePositionPatient[2]),
    )
    assert img.GetSize() == (int(datasets[0].Columns), int(datasets[0].Rows), len(datasets))
    ps = [float(v) for v in datasets[0].PixelSpacing]
    dz = float(datasets[1].ImagePositionPatient[2]) - float(datasets[0].ImagePositionPatient[2])
    np.testing.assert_allclose(img.GetSpacing(), (ps[1], ps[0], dz))
    np.testing.assert_allclose(
        img.GetOrigin(), [float(v) for v in datasets[0].ImagePositionPatient]
    )
    expected = np.stack(
        [
            d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))
            for d in datasets
        ]
    )
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), expected)


def test_multiframe_equals_single_frames() -> None:
    single = read_image(shared_data("dicom", *SEG_SERIES))
    multi = read_image(
        shared_data("dicom", "dcmqi", "segmentations", "23x38x3", "multiframe", "mf.dcm")
    )
    np.testing.assert_array_equal(sitk.GetArrayFromImage(single), sitk.GetArrayFromImage(multi))
    np.testing.assert_allclose(single.GetSpacing(), multi.GetSpacing())
    np.testing.assert_allclose(single.GetOrigin(), multi.GetOrigin())


def test_nonuniform_spacing_and_tilt(caplog) -> None:
    folder = shared_data("dicom", CT_GE)
    with pytest.raises(ImageError, match=r"not uniform \(distances \[1.081, 4.002, 6.999\]"):
        read_image(folder)
    with caplog.at_level(logging.WARNING, logger="radhub.radiomics"):
        img = read_image(folder, on_nonuniform="resample")
    assert "gantry tilt" in caplog.text
    assert img.GetSize()[:2] == (512, 512)
    assert img.GetSpacing()[2] == pytest.approx(4.002, abs=0.01)  # the median gap


def test_single_frame_dicom_is_2d() -> None:
    path = shared_data("dicom", CT_GE, "01.dcm")
    img = read_image(path)
    ds = pydicom.dcmread(path)
    assert img.GetDimension() == 2
    assert img.GetSpacing() == pytest.approx((float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])))


def test_volume_rejects_mixed_sizes() -> None:
    a = pydicom.dcmread(shared_data("dicom", *SEG_SERIES, "IMG0001.dcm"))
    b = pydicom.dcmread(shared_data("dicom", CT_GE, "01.dcm"))
    with pytest.raises(ImageError, match="differ in size"):
        volume_from_datasets([a, b])


def test_image_id_is_content_hash(tmp_path) -> None:
    path = pyradiomics_case("breast1_label.nrrd")
    assert image_id(path) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert image_id("circle:1,2,3") == "circle:1,2,3"


def _ingest(archive, folder) -> str:
    uids = set()
    for f in sorted(folder.iterdir()):
        result = archive.ingestor.ingest_file(f)
        assert result.status.value in ("stored", "duplicate"), result.reason
        uids.add(str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID))
    (uid,) = uids
    return uid


def test_archive_series_by_uid(sqlite_archive) -> None:
    folder = shared_data("dicom", CT_GE)
    uid = _ingest(sqlite_archive, folder)
    with pytest.raises(ImageError, match="not uniform"):
        image_from_archive(sqlite_archive, uid)
    from_archive = image_from_archive(sqlite_archive, uid, on_nonuniform="resample")
    from_files = read_image(folder, on_nonuniform="resample")
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(from_archive), sitk.GetArrayFromImage(from_files)
    )
    assert from_archive.GetSpacing() == from_files.GetSpacing()
    assert from_archive.GetOrigin() == from_files.GetOrigin()
    assert from_archive.GetDirection() == pytest.approx(from_files.GetDirection())
    with pytest.raises(ImageNotFoundError, match="no series"):
        image_from_archive(sqlite_archive, "1.2.3.4")
