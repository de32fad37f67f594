"""radhub.retrieve.render over the shared corpus: decoding, VOI pipeline, colour, viewport, errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, apply_windowing

from radhub.dicom import RenderError, fit_viewport
from radhub.retrieve import FrameError, frame_count, render
from tests.retrieve.conftest import (
    MANIFEST,
    corpus,
    open_image,
    oracle_frame,
    pixels,
    read_dataset,
    row_params,
    rows_where,
)

pytestmark = pytest.mark.timeout(120)

DECODABLE = rows_where(decodable="yes")
UNDECODABLE = rows_where(decodable="no")
NO_PIXEL_DATA = rows_where(decodable="n/a")

# The manifest marks it "no" because pydicom's full read stops where the
# sequence delimiter is missing; the ten fragments themselves are intact, and
# radhub reads them from their offsets (see test_truncated_delimiter_* below).
INTACT_FRAMES_MISSING_DELIMITER = "malformed/emri_small_jpeg_2k_lossless_too_short.dcm"


def test_corpus_is_present():
    corpus("manifest.csv")
    assert len(DECODABLE) > 200 and UNDECODABLE and NO_PIXEL_DATA


def _expected_size(row: dict[str, str]) -> tuple[int, int]:
    return int(row["columns"]), int(row["rows"])


def _pydicom_display_is_constant(path: Path) -> bool:
    """Whether pydicom's own Modality LUT + VOI (top-level attributes) make frame 1 constant."""
    ds = read_dataset(path)
    frame = oracle_frame(path, 0)
    if str(ds.get("PhotometricInterpretation", "")).upper() not in ("MONOCHROME1", "MONOCHROME2"):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            shown = apply_voi_lut(apply_modality_lut(frame, ds), ds)
        except (ValueError, NotImplementedError):
            return False
    return bool(np.nanmin(shown) == np.nanmax(shown))


@pytest.mark.parametrize("row", row_params(DECODABLE))
def test_every_decodable_file_renders_to_png_and_jpeg(row):
    path = corpus(row["path"])
    png = render(path)
    jpeg = render(path, media_type="image/jpeg", quality=80)

    png_image, jpeg_image = open_image(png), open_image(jpeg)
    assert png_image.format == "PNG" and jpeg_image.format == "JPEG"
    assert png_image.size == _expected_size(row) == jpeg_image.size
    assert png_image.mode in ("L", "RGB") and jpeg_image.mode == png_image.mode

    source = oracle_frame(path, 0)
    shown = np.asarray(png_image)
    if source.min() != source.max() and not _pydicom_display_is_constant(path):
        assert shown.min() != shown.max(), (
            "the source frame varies but the rendered image is constant"
        )
    else:
        assert shown.min() == shown.max()


@pytest.mark.parametrize(
    "row", row_params([r for r in UNDECODABLE if r["path"] != INTACT_FRAMES_MISSING_DELIMITER])
)
def test_every_undecodable_file_raises_render_error(row):
    path = corpus(row["path"])
    try:
        last = max(1, frame_count(path))
    except ValueError:  # InvalidDicomError: the header itself is unreadable
        last = 1
    with pytest.raises(RenderError) as info:
        render(path, frame=last)
    message = str(info.value)
    assert len(message) > 20
    ds = read_dataset(path)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate"):
        value = str(ds.get(keyword) or "")
        if len(value) >= 4:
            assert value not in message, f"{keyword} leaked into the error message"


def test_truncated_delimiter_file_renders_every_frame_like_its_intact_twin():
    broken = corpus(INTACT_FRAMES_MISSING_DELIMITER)
    intact = corpus("pydicom-data/emri_small_jpeg_2k_lossless.dcm")
    assert frame_count(broken) == frame_count(intact) == 10
    for frame in (1, 10):
        assert render(broken, frame=frame) == render(intact, frame=frame)


@pytest.mark.parametrize("row", row_params(NO_PIXEL_DATA))
def test_objects_without_pixel_data_raise_render_error(row):
    with pytest.raises(RenderError, match="no pixel data|Transfer Syntax UID"):
        render(corpus(row["path"]))


def test_no_pixel_data_message_names_the_kind_of_object():
    with pytest.raises(
        RenderError, match=r"the object \(Basic Text SR Storage\) has no pixel data"
    ):
        render(corpus("pydicom/reportsi.dcm"))


def test_broken_jpeg_names_the_transfer_syntax_and_the_decoder_error():
    with pytest.raises(RenderError) as info:
        render(corpus("pydicom/JPEG-lossy.dcm"))
    message = str(info.value)
    assert "1.2.840.10008.1.2.4.51" in message and "JPEG Extended" in message
    assert "cannot decode frame 1" in message


def test_deflated_image_frame_compression_is_reported_as_without_decoder():
    with pytest.raises(RenderError, match=r"1\.2\.840\.10008\.1\.2\.8\.1"):
        render(corpus("pydicom-data/liver_nonbyte_aligned_deflate.dcm"))


def test_truncated_native_pixel_data_is_a_render_error():
    with pytest.raises(RenderError, match="truncated: it holds 8130 bytes, frame 1 needs 8192"):
        render(corpus("malformed/MR_truncated.dcm"))


# --------------------------------------------------------------------------
# VOI pipeline
# --------------------------------------------------------------------------
def _pydicom_window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """pydicom's windowing of modality values onto 0..255 (an independent implementation)."""
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8
    voi.PixelRepresentation = 0
    voi.WindowCenter = center
    voi.WindowWidth = width
    voi.VOILUTFunction = function
    return apply_windowing(values.astype(np.float64), voi)


def _modality_values(path: Path) -> np.ndarray:
    return apply_modality_lut(oracle_frame(path, 0), read_dataset(path)).astype(np.float64)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(
    ("name", "window"),
    [
        ("pydicom/CT_small.dcm", (40.0, 400.0)),
        ("pydicom-data/693_UNCR.dcm", (300.0, 1500.0)),
        ("pydicom/MR_small.dcm", (600.0, 900.0)),
    ],
)
def test_window_matches_pydicom_windowing(name, window, function):
    path = corpus(name)
    expected = _pydicom_window(_modality_values(path), *window, function)
    shown = pixels(render(path, window=window, voi_function=function)).astype(np.float64)
    assert np.abs(shown - expected).max() <= 1.0


@pytest.mark.parametrize(
    "name", ["pydicom-data/693_UNCR.dcm", "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm"]
)
def test_file_window_is_the_default_and_the_first_one_is_used(name):
    path = corpus(name)
    ds = read_dataset(path)
    centers = list(ds.WindowCenter) if ds["WindowCenter"].VM > 1 else [ds.WindowCenter]
    widths = list(ds.WindowWidth) if ds["WindowWidth"].VM > 1 else [ds.WindowWidth]
    assert render(path) == render(path, window=(float(centers[0]), float(widths[0])))
    if len(centers) > 1:
        assert render(path) != render(path, window=(float(centers[1]), float(widths[1])))


def test_window_changes_the_output_and_hides_values_outside_it():
    path = corpus("pydicom/CT_small.dcm")
    hu = _modality_values(path)
    soft = pixels(render(path, window=(40, 400)))
    bone = pixels(render(path, window=(500, 2000)))
    assert not np.array_equal(soft, bone)
    assert (soft[hu <= 40 - 0.5 - 399 / 2] == 0).all()
    assert (soft[hu > 40 - 0.5 + 399 / 2] == 255).all()


def test_min_max_is_used_without_a_window():
    path = corpus("pydicom/CT_small.dcm")  # no Window Center/Width
    assert "WindowCenter" not in read_dataset(path)
    hu = _modality_values(path)
    expected = np.rint((hu - hu.min()) / (hu.max() - hu.min()) * 255)
    shown = pixels(render(path)).astype(np.float64)
    assert np.abs(shown - expected).max() <= 1.0
    assert shown.min() == 0 and shown.max() == 255


def test_modality_lut_sequence_is_applied():
    path = corpus("pydicom-data/mlut_18.dcm")
    ds = read_dataset(path)
    assert "ModalityLUTSequence" in ds and "RescaleSlope" not in ds
    values = _modality_values(path)
    expected = np.rint((values - values.min()) / (values.max() - values.min()) * 255)
    assert np.abs(pixels(render(path)).astype(np.float64) - expected).max() <= 1.0


def test_voi_lut_sequence_is_applied():
    path = corpus("pydicom-data/vlut_04.dcm")
    ds = read_dataset(path)
    bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = apply_voi_lut(oracle_frame(path, 0), ds).astype(np.float64) / (2**bits - 1) * 255
    assert np.abs(pixels(render(path)).astype(np.float64) - expected).max() <= 1.0


def test_enhanced_multiframe_takes_the_window_from_the_functional_groups(tmp_path):
    source = corpus("pydicom-data/eCT_Supplemental.dcm")
    ds = read_dataset(source)
    voi = (
        ds.SharedFunctionalGroupsSequence[0].get("FrameVOILUTSequence")
        or ds.PerFrameFunctionalGroupsSequence[0].FrameVOILUTSequence
    )
    center, width = float(voi[0].WindowCenter), float(voi[0].WindowWidth)
    assert "WindowCenter" not in ds
    assert render(source, frame=2) == render(source, frame=2, window=(center, width))


def test_invalid_window_and_voi_function_are_value_errors():
    path = corpus("pydicom/CT_small.dcm")
    with pytest.raises(ValueError, match="window width must be a finite number > 0"):
        render(path, window=(40, 0))
    with pytest.raises(ValueError, match="window width must be >= 1 for the LINEAR"):
        render(path, window=(40, 0.5))
    assert render(path, window=(40, 0.5), voi_function="LINEAR_EXACT")
    with pytest.raises(
        ValueError, match="voi_function must be one of LINEAR, LINEAR_EXACT, SIGMOID"
    ):
        render(path, voi_function="GAMMA")


# --------------------------------------------------------------------------
# Polarity and colour
# --------------------------------------------------------------------------
def _copy_with(source: Path, target: Path, **attributes: object) -> Path:
    ds = read_dataset(source)
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(target)
    return target


@pytest.mark.parametrize(
    "name", ["pydicom/dicomdirtests/77654033/CR1/6154", "pydicom-data/RG3_J2KR.dcm"]
)
def test_monochrome1_is_inverted(tmp_path, name):
    monochrome1 = corpus(name)
    assert read_dataset(monochrome1).PhotometricInterpretation == "MONOCHROME1"
    monochrome2 = _copy_with(
        monochrome1, tmp_path / "m2.dcm", PhotometricInterpretation="MONOCHROME2"
    )
    as_m1 = pixels(render(monochrome1)).astype(int)
    as_m2 = pixels(render(monochrome2)).astype(int)
    assert (as_m1 + as_m2 == 255).all()


def test_monochrome1_with_presentation_lut_inverse_is_inverted_once(tmp_path):
    dx = corpus("highdicom/dx_image.dcm")
    ds = read_dataset(dx)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.PresentationLUTShape == "INVERSE"
    plain = _copy_with(
        dx,
        tmp_path / "m2.dcm",
        PhotometricInterpretation="MONOCHROME2",
        PresentationLUTShape="IDENTITY",
    )
    assert (pixels(render(dx)).astype(int) + pixels(render(plain)).astype(int) == 255).all()


def test_palette_colour_is_applied():
    path = corpus("pydicom/examples_palette.dcm")
    ds = read_dataset(path)
    expected = apply_color_lut(oracle_frame(path, 0), ds)
    assert expected.dtype == np.uint16
    shown = pixels(render(path))
    assert shown.shape == (*expected.shape[:2], 3)
    assert np.abs(shown.astype(np.float64) - expected / 65535 * 255).max() <= 1.0


def test_big_endian_palette_renders_like_little_endian():
    little = render(corpus("pydicom-data/gdcm-US-ALOKA-16.dcm"))
    assert render(corpus("pydicom-data/gdcm-US-ALOKA-16_big.dcm")) == little
    assert len(np.unique(pixels(little).reshape(-1, 3), axis=0)) > 10


@pytest.mark.parametrize(
    "name",
    [
        "pydicom/SC_rgb_dcmtk_+eb+cy+np.dcm",
        "pydicom/SC_ybr_full_422_uncompressed.dcm",
        "pydicom-data/SC_ybr_full_uncompressed.dcm",
        "pydicom-data/US1_J2KR.dcm",
    ],
)
def test_ycbcr_is_converted_to_rgb(name):
    path = corpus(name)
    assert read_dataset(path).PhotometricInterpretation.startswith("YBR")
    shown = pixels(render(path))
    assert shown.ndim == 3 and shown.shape[2] == 3
    expected = oracle_frame(path, 0)  # pydicom converts YBR to RGB
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 1


def test_ycbcr_and_rgb_versions_of_one_image_look_the_same():
    rgb = pixels(render(corpus("pydicom-data/SC_rgb.dcm"))).astype(int)
    ybr = pixels(render(corpus("pydicom-data/SC_ybr_full_uncompressed.dcm"))).astype(int)
    difference = np.abs(rgb - ybr)  # the YBR file was quantised from the RGB one
    assert difference.mean() < 1 and difference.max() <= 8


@pytest.mark.parametrize("name", ["pydicom-data/SC_rgb_16bit.dcm", "pydicom-data/SC_rgb_32bit.dcm"])
def test_deep_rgb_is_scaled_to_8_bits(name):
    eight_bit = pixels(render(corpus("pydicom-data/SC_rgb.dcm")))
    assert np.array_equal(pixels(render(corpus(name))), eight_bit)


def test_unsupported_photometric_interpretation_is_a_render_error(tmp_path):
    hsv = _copy_with(
        corpus("pydicom-data/SC_rgb.dcm"), tmp_path / "hsv.dcm", PhotometricInterpretation="HSV"
    )
    with pytest.raises(
        RenderError, match="photometric interpretation 'HSV' is not supported for rendering"
    ):
        render(hsv)


# --------------------------------------------------------------------------
# Frames, viewport, encodings
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("pydicom-data/emri_small.dcm", 10),
        ("pydicom/examples_ybr_color.dcm", 30),
        ("pydicom-data/liver.dcm", 3),
        ("pydicom/rtdose_rle.dcm", 15),
    ],
)
def test_multiframe_frames_differ_where_the_data_differs(name, frames):
    path = corpus(name)
    first = render(path, frame=1)
    second = render(path, frame=2)
    assert not np.array_equal(oracle_frame(path, 0), oracle_frame(path, 1))
    assert first != second
    assert open_image(render(path, frame=frames)).size == open_image(first).size


@pytest.mark.parametrize("frame", [0, -1, 11, 1000])
def test_frame_out_of_range_is_a_frame_error(frame):
    with pytest.raises(
        FrameError,
        match=rf"frame {frame} requested but the object has 10 frames \(frame numbers are 1 to 10\)",
    ):
        render(corpus("pydicom-data/emri_small.dcm"), frame=frame)


def test_frame_error_is_a_value_error():
    with pytest.raises(ValueError):
        render(corpus("pydicom/CT_small.dcm"), frame=2)


@pytest.mark.parametrize(
    ("size", "viewport", "expected"),
    [
        ((640, 480), (256, 256), (256, 192)),
        ((640, 480), (100, 300), (100, 75)),
        ((16, 16), (100, 50), (50, 50)),
        ((3, 3), (1, 1), (1, 1)),
    ],
)
def test_fit_viewport_keeps_the_aspect_ratio(size, viewport, expected):
    assert fit_viewport(*size, viewport) == expected


@pytest.mark.parametrize(
    ("name", "viewport", "expected"),
    [
        ("pydicom-data/US1_UNCR.dcm", (256, 256), (256, 192)),
        ("pydicom/JPEG2000.dcm", (128, 128), (32, 128)),
        ("pydicom/dicomdirtests/77654033/CR1/6154", (64, 32), (32, 32)),
    ],
)
def test_viewport_scales_preserving_aspect_ratio(name, viewport, expected):
    path = corpus(name)
    for media_type in ("image/png", "image/jpeg"):
        assert open_image(render(path, media_type=media_type, viewport=viewport)).size == expected


def test_jpeg_quality_changes_the_size():
    path = corpus("pydicom-data/693_UNCR.dcm")
    assert len(render(path, media_type="image/jpeg", quality=95)) > len(
        render(path, media_type="image/jpeg", quality=20)
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"media_type": "image/gif"}, "media_type must be one of image/png, image/jpeg"),
        ({"quality": 0}, "quality must be an integer from 1 to 100"),
        ({"viewport": (0, 10)}, "viewport width and height must be > 0"),
        ({"viewport": ("a", 10)}, "viewport must be a"),
    ],
)
def test_invalid_output_options_are_value_errors(options, message):
    with pytest.raises(ValueError, match=message):
        render(corpus("pydicom/CT_small.dcm"), **options)


def test_file_object_source_and_position_restored():
    path = corpus("pydicom-data/emri_small.dcm")
    with open(path, "rb") as fh:
        fh.seek(0)
        data = render(fh, frame=3)
        assert fh.tell() == 0
    assert data == render(path, frame=3)
    buffer = io.BytesIO(path.read_bytes())
    assert render(buffer, frame=3) == data


# --------------------------------------------------------------------------
# The same image in several encodings
# --------------------------------------------------------------------------
SAME_IMAGE = {
    "dcm_qa_ts": [f"dcm_qa_ts/{n}.dcm" for n in range(1, 10)],
    "MR_small": [
        "pydicom/MR_small.dcm",
        "pydicom/MR_small_RLE.dcm",
        "pydicom/MR_small_bigendian.dcm",
        "pydicom/MR_small_expb.dcm",
        "pydicom/MR_small_implicit.dcm",
        "pydicom/MR_small_jp2klossless.dcm",
        "pydicom/MR_small_jpeg_ls_lossless.dcm",
        "pydicom/MR_small_padded.dcm",
    ],
    "emri_small": [
        "pydicom-data/emri_small.dcm",
        "pydicom-data/emri_small_RLE.dcm",
        "pydicom-data/emri_small_big_endian.dcm",
        "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
        "pydicom-data/emri_small_jpeg_ls_lossless.dcm",
    ],
    "SC_rgb": [
        "pydicom-data/SC_rgb.dcm",
        "pydicom-data/SC_rgb_expb.dcm",
        "pydicom/SC_rgb_rle.dcm",
        "pydicom-data/SC_rgb_gdcm2k_uncompressed.dcm",
        "pydicom/SC_rgb_jpeg_gdcm.dcm",
    ],
    "SC_rgb_2frame": [
        "pydicom-data/SC_rgb_2frame.dcm",
        "pydicom-data/SC_rgb_expb_2frame.dcm",
        "pydicom/SC_rgb_rle_2frame.dcm",
    ],
    "SC_rgb_16bit": [
        "pydicom-data/SC_rgb_16bit.dcm",
        "pydicom-data/SC_rgb_expb_16bit.dcm",
        "pydicom/SC_rgb_rle_16bit.dcm",
    ],
    "SC_rgb_32bit": [
        "pydicom-data/SC_rgb_32bit.dcm",
        "pydicom-data/SC_rgb_expb_32bit.dcm",
        "pydicom/SC_rgb_rle_32bit.dcm",
    ],
    "rtdose": ["pydicom/rtdose.dcm", "pydicom/rtdose_expb.dcm", "pydicom/rtdose_rle.dcm"],
    "liver": ["pydicom-data/liver.dcm", "pydicom-data/liver_expb.dcm"],
    "liver_nonbyte_aligned": [
        "pydicom-data/liver_nonbyte_aligned.dcm",
        "pydicom-data/liver_nonbyte_aligned_j2k.dcm",
    ],
    "palette_16bit": ["pydicom-data/gdcm-US-ALOKA-16.dcm", "pydicom-data/gdcm-US-ALOKA-16_big.dcm"],
    "palette_2frame": ["pydicom-data/OBXXXX1A_2frame.dcm", "pydicom-data/OBXXXX1A_rle_2frame.dcm"],
    "ct_693": ["pydicom-data/693_UNCR.dcm", "pydicom-data/693_J2KR.dcm"],
    "mr_MR2": ["pydicom-data/MR2_UNCR.dcm", "pydicom-data/MR2_J2KR.dcm"],
    "us_US1": ["pydicom-data/US1_UNCR.dcm", "pydicom-data/US1_J2KR.dcm"],
}


@pytest.mark.parametrize("group", sorted(SAME_IMAGE))
def test_lossless_encodings_of_one_image_render_to_identical_pngs(group):
    paths = [corpus(name) for name in SAME_IMAGE[group]]
    count = frame_count(paths[0])
    for frame in sorted({1, count}):
        reference = render(paths[0], frame=frame)
        for path in paths[1:]:
            assert render(path, frame=frame) == reference, (
                f"{path.name} frame {frame} differs from {paths[0].name}"
            )


def test_manifest_lists_each_dcm_qa_ts_encoding_once():
    names = [row["path"] for row in MANIFEST if row["path"].startswith("dcm_qa_ts/")]
    assert sorted(names) == sorted(SAME_IMAGE["dcm_qa_ts"])
    syntaxes = {
        pydicom.dcmread(corpus(n), stop_before_pixels=True).file_meta.TransferSyntaxUID
        for n in names
    }
    assert len(syntaxes) >= 6


def _swap_pairs(data: bytes) -> bytes:
    data = data + b"\x00" * (len(data) % 2)
    return np.frombuffer(data, "<u2").astype(">u2").tobytes()


def test_big_endian_16_bit_palette_data_is_read_big_endian(tmp_path):
    """OW palette data and 8-bit OW pixel data written in Explicit VR Big Endian byte order."""
    source = corpus("pydicom/examples_palette.dcm")
    ds = read_dataset(source)
    assert ds["RedPaletteColorLookupTableData"].VR == "OW" and ds["PixelData"].VR == "OW"
    ds.PixelData = _swap_pairs(bytes(ds.PixelData))
    for colour in ("Red", "Green", "Blue"):
        keyword = f"{colour}PaletteColorLookupTableData"
        ds[keyword].value = _swap_pairs(bytes(ds[keyword].value))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    target = tmp_path / "palette_be.dcm"
    pydicom.dcmwrite(target, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    assert read_dataset(target).original_encoding == (False, False)
    assert render(target) == render(source)
