"""The native Pixel Data length check of read_header, against pydicom's get_expected_length."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from radhub.dicom import InvalidDicomError, read_header


def _image(tmp_path, *, pixel_bytes: int, ts=ExplicitVRLittleEndian, **attrs):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    for key, value in attrs.items():
        if value is not None:
            setattr(ds, key, value)
    ds.PixelData = bytes(pixel_bytes + pixel_bytes % 2)  # written padded to even length
    ds["PixelData"].VR = "OW"  # not left ambiguous (BitsAllocated may be missing)
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, ds


CASES = [
    dict(Rows=4, Columns=5, BitsAllocated=16, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2"),
    dict(Rows=7, Columns=3, BitsAllocated=8, SamplesPerPixel=3, PhotometricInterpretation="RGB"),
    dict(Rows=8, Columns=6, BitsAllocated=8, SamplesPerPixel=3, PhotometricInterpretation="YBR_FULL_422"),
    dict(Rows=9, Columns=9, BitsAllocated=1, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2"),
    dict(Rows=9, Columns=9, BitsAllocated=1, SamplesPerPixel=1, NumberOfFrames=3,
         PhotometricInterpretation="MONOCHROME2"),
    dict(Rows=16, Columns=16, BitsAllocated=16, SamplesPerPixel=1, NumberOfFrames=4,
         PhotometricInterpretation="MONOCHROME2"),
    dict(Rows=6, Columns=6, BitsAllocated=32, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2"),
]


@pytest.mark.parametrize("attrs", CASES, ids=lambda a: f"{a['Rows']}x{a['Columns']}x{a['BitsAllocated']}"
                         f"-{a['PhotometricInterpretation']}-{a.get('NumberOfFrames', 1)}")
@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian], ids=["explicit", "implicit"])
def test_exact_length_accepted_shorter_rejected(tmp_path, attrs, ts):
    probe = Dataset()
    for key, value in attrs.items():
        setattr(probe, key, value)
    expected = get_expected_length(probe, unit="bytes")
    path, _ = _image(tmp_path, pixel_bytes=expected, ts=ts, **attrs)
    assert read_header(path).sop_instance_uid
    short = expected - 2 - expected % 2  # the padded value must still fall short
    path, _ = _image(tmp_path, pixel_bytes=short, ts=ts, **attrs)
    with pytest.raises(InvalidDicomError) as info:
        read_header(path)
    assert info.value.code == "truncated"
    assert f"declares {expected}" in str(info.value)


def test_missing_samples_per_pixel_counts_one(tmp_path):
    path, _ = _image(tmp_path, pixel_bytes=4 * 4 * 2, Rows=4, Columns=4, BitsAllocated=16)
    assert read_header(path).sop_instance_uid
    path, _ = _image(tmp_path, pixel_bytes=4 * 4 * 2 - 4, Rows=4, Columns=4, BitsAllocated=16)
    with pytest.raises(InvalidDicomError, match="declares 32"):
        read_header(path)


@pytest.mark.parametrize("missing", ["Rows", "Columns", "BitsAllocated"])
def test_missing_image_attribute_is_invalid(tmp_path, missing):
    attrs = dict(Rows=4, Columns=4, BitsAllocated=16, SamplesPerPixel=1)
    attrs[missing] = None
    path, _ = _image(tmp_path, pixel_bytes=32, **attrs)
    with pytest.raises(InvalidDicomError) as info:
        read_header(path)
    assert info.value.code == "invalid_value" and "Rows/Columns/BitsAllocated" in str(info.value)


def test_zero_frames_counts_one(tmp_path):
    attrs = dict(Rows=4, Columns=4, BitsAllocated=8, SamplesPerPixel=1, NumberOfFrames=0)
    path, _ = _image(tmp_path, pixel_bytes=16, **attrs)
    assert read_header(path).sop_instance_uid
    path, _ = _image(tmp_path, pixel_bytes=14, **attrs)
    with pytest.raises(InvalidDicomError, match="1 frames"):
        read_header(path)
