"""ROIs: shapes on 2D/3D images, label files, DICOM SEG, and the errors for bad masks."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radhub.radiomics import (
    check_mask,
    circle_mask,
    mask_from_seg,
    parse_shape,
    polygon_mask,
    read_image,
    read_mask,
    sphere_mask,
)
from radhub.radiomics.errors import (
    EmptyMaskError,
    MaskMismatchError,
    RoiError,
    RoiOutsideImageError,
)
from tests.conftest import shared_data
from tests.radiomics.conftest import pyradiomics_case


def _image(shape=(40, 50), spacing=None) -> sitk.Image:
    img = sitk.GetImageFromArray(np.zeros(shape, np.int16))
    img.SetSpacing(spacing or (1.0,) * len(shape))
    return img


def test_circle_counts_pixel_centres() -> None:
    img = _image()
    mask = circle_mask(img, (20, 15), 5)
    arr = sitk.GetArrayFromImage(mask)
    yy, xx = np.mgrid[0:40, 0:50]
    expected = ((xx - 20) ** 2 + (yy - 15) ** 2 <= 25).astype(np.uint8)  # x = column, y = row
    np.testing.assert_array_equal(arr, expected)
    assert check_mask(img, mask) == int(expected.sum()) == 81


def test_circle_in_mm_on_anisotropic_pixels() -> None:
    img = _image(spacing=(0.5, 1.0))
    arr = sitk.GetArrayFromImage(circle_mask(img, (25, 20), 4, units="mm"))
    # 4 mm is 8 columns and 4 rows
    assert arr[20, 25 - 8] == 1 and arr[20, 25 - 9] == 0
    assert arr[20 - 4, 25] == 1 and arr[20 - 5, 25] == 0


def test_circle_on_3d_slice_and_sphere() -> None:
    img = _image((6, 30, 30), (1.0, 1.0, 2.0))
    disc = sitk.GetArrayFromImage(circle_mask(img, (15, 15, 2), 3))
    assert disc[2].sum() == 29 and disc.sum() == 29  # 29 lattice points in a radius-3 disc
    ball = sitk.GetArrayFromImage(sphere_mask(img, (15, 15, 3), 4.0, units="mm"))
    zz, yy, xx = np.mgrid[0:6, 0:30, 0:30]
    expected = ((xx - 15) / 4) ** 2 + ((yy - 15) / 4) ** 2 + ((zz - 3) / 2) ** 2 <= 1
    np.testing.assert_array_equal(ball, expected)


def test_circle_outside_and_clipping() -> None:
    img = _image()
    with pytest.raises(RoiOutsideImageError, match=r"centre \(60, 10\) lies outside the image"):
        circle_mask(img, (60, 10), 3)
    clipped = sitk.GetArrayFromImage(circle_mask(img, (0, 0), 3))
    assert clipped.sum() == 11  # the quarter disc inside: pixels with x, y >= 0 and x^2 + y^2 <= 9
    with pytest.raises(RoiOutsideImageError, match="extends beyond the image"):
        circle_mask(img, (0, 0), 3, clip=False)
    with pytest.raises(EmptyMaskError, match="contains no voxel centre"):
        circle_mask(img, (10.5, 10.5), 0.2)
    with pytest.raises(RoiError, match="radius must be a positive number"):
        circle_mask(img, (10, 10), -1)


def test_polygon_rectangle_and_errors() -> None:
    img = _image()
    arr = sitk.GetArrayFromImage(
        polygon_mask(img, [(9.5, 4.5), (19.5, 4.5), (19.5, 9.5), (9.5, 9.5)])
    )
    assert arr.sum() == 10 * 5
    assert arr[5:10, 10:20].all()
    with pytest.raises(RoiError, match="at least 3"):
        polygon_mask(img, [(1, 1), (2, 2)])
    with pytest.raises(RoiOutsideImageError, match="lie outside the image"):
        polygon_mask(img, [(1, 1), (200, 1), (1, 20)], clip=False)
    with pytest.raises(RoiOutsideImageError, match="lies outside the image"):
        polygon_mask(img, [(100, 100), (120, 100), (110, 120)])
    vol = _image((3, 40, 50))
    with pytest.raises(RoiError, match="slice_index"):
        polygon_mask(vol, [(1, 1), (5, 1), (1, 5)])
    on_slice = sitk.GetArrayFromImage(polygon_mask(vol, [(1, 1), (5, 1), (1, 5)], slice_index=1))
    assert on_slice[1].sum() > 0 and on_slice[0].sum() == on_slice[2].sum() == 0


def test_parse_shape_forms() -> None:
    img = _image()
    assert sitk.GetArrayFromImage(parse_shape("circle:20,15,5", img)).sum() == 81
    assert (
        sitk.GetArrayFromImage(parse_shape("polygon:9.5,4.5;19.5,4.5;19.5,9.5;9.5,9.5", img)).sum()
        == 50
    )
    vol = _image((3, 40, 50))
    assert sitk.GetArrayFromImage(parse_shape("circle:20,15,1,5", vol))[1].sum() == 81
    assert sitk.GetArrayFromImage(parse_shape("sphere:20,15,1,1mm", vol)).sum() == 7
    with pytest.raises(RoiError, match="needs 2 centre values and a radius"):
        parse_shape("circle:1,2", img)
    with pytest.raises(RoiError, match="unknown shape"):
        parse_shape("square:1,2,3", img)


def test_mask_mismatch_messages() -> None:
    img = read_image(pyradiomics_case("breast1_image.nrrd"))
    mask = read_mask(pyradiomics_case("breast1_label.nrrd"), img)
    assert check_mask(img, mask) == 143  # the README's voxel count
    other = read_mask(pyradiomics_case("brain2_label.nrrd"), img)
    with pytest.raises(
        MaskMismatchError,
        match=r"mask size \(256, 256, 23\) differs from image size \(45, 120, 21\)",
    ):
        check_mask(img, other)
    moved = sitk.Image(mask)
    moved.SetOrigin(tuple(v + 5 for v in mask.GetOrigin()))
    with pytest.raises(MaskMismatchError, match="origin"):
        check_mask(img, moved)
    stretched = sitk.Image(mask)
    stretched.SetSpacing(tuple(v * 2 for v in mask.GetSpacing()))
    with pytest.raises(MaskMismatchError, match="spacing"):
        check_mask(img, stretched)
    with pytest.raises(EmptyMaskError, match=r"no voxel with label 2; labels present: \[0, 1\]"):
        check_mask(img, mask, label=2)
    flat = sitk.GetImageFromArray(np.zeros((40, 50), np.uint8))
    with pytest.raises(MaskMismatchError, match="mask is 2D but the image is 3D"):
        check_mask(img, flat)


def test_dicom_seg_on_its_series() -> None:
    base = shared_data("dicom", "dcmqi", "segmentations", "23x38x3")
    img = read_image(base / "image")
    mask = read_mask(base / "seg" / "label.seg", img)
    seg = pydicom.dcmread(base / "seg" / "label.seg")
    assert check_mask(img, mask) == int(np.count_nonzero(seg.pixel_array))
    # each SEG frame lands on the slice whose position it names
    arr = sitk.GetArrayFromImage(mask)
    for i, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
        z = float(frame.PlanePositionSequence[0].ImagePositionPatient[2])
        k = round((z - img.GetOrigin()[2]) / img.GetSpacing()[2])
        np.testing.assert_array_equal(arr[k], seg.pixel_array[i])


def test_dicom_seg_on_the_wrong_image() -> None:
    seg = pydicom.dcmread(
        shared_data("dicom", "dcmqi", "segmentations", "23x38x3", "seg", "label.seg")
    )
    other = read_image(shared_data("dicom", "dcmqi", "segmentations", "24x38x3", "image"))
    with pytest.raises(
        MaskMismatchError, match="SEG frames are 23x38 but the image slices are 24x38"
    ):
        mask_from_seg(seg, other)


def test_dicom_seg_with_several_segments() -> None:
    seg = pydicom.dcmread(shared_data("dicom", "highdicom", "seg_image_ct_binary_overlap.dcm"))
    # the series has a scout slice 202.5 mm away; resampled at 1.25 mm every SEG frame falls on a slice
    img = read_image(
        shared_data("dicom", "pydicom", "dicomdirtests", "77654033", "CT2"),
        on_nonuniform="resample",
    )
    with pytest.raises(RoiError, match="choose one with segment="):
        mask_from_seg(seg, img)
    with pytest.raises(RoiError, match="segment 9 is not in the SEG"):
        mask_from_seg(seg, img, segment=9)
    one = sitk.GetArrayFromImage(mask_from_seg(seg, img, segment=1))
    two = sitk.GetArrayFromImage(mask_from_seg(seg, img, segment=2))
    assert one.sum() > 0 and two.sum() > 0 and not np.array_equal(one, two)


def test_fractional_seg_thresholded() -> None:
    # the series has a scout slice 202.5 mm away; resampled at 1.25 mm every SEG frame falls on a slice
    img = read_image(
        shared_data("dicom", "pydicom", "dicomdirtests", "77654033", "CT2"),
        on_nonuniform="resample",
    )
    binary = mask_from_seg(
        pydicom.dcmread(shared_data("dicom", "highdicom", "seg_image_ct_binary.dcm")), img
    )
    fractional = mask_from_seg(
        pydicom.dcmread(shared_data("dicom", "highdicom", "seg_image_ct_binary_fractional.dcm")),
        img,
    )
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(binary), sitk.GetArrayFromImage(fractional)
    )


def test_not_a_seg() -> None:
    img = read_image(shared_data("dicom", "dcm_qa_ct_GE", "01.dcm"))
    with pytest.raises(RoiError, match="not a Segmentation"):
        read_mask(shared_data("dicom", "dcm_qa_ct_GE", "01.dcm"), img)


def test_circle_area_close_to_pi_r2() -> None:
    img = _image((300, 300))
    n = check_mask(img, circle_mask(img, (150, 150), 100))
    assert abs(n - math.pi * 100**2) / (math.pi * 100**2) < 0.01
