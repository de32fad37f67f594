"""radhub.retrieve.frame_bytes / frame_count: frames as stored, offsets, bounded reads, errors."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pylibjpeg
import pytest
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import as_pixel_options, get_decoder, pixel_array
from pydicom.uid import UID

from radhub.dicom import InvalidDicomError, locate_pixel_data
from radhub.retrieve import (
    FRAME_MEDIA_TYPES,
    FrameError,
    frame_bytes,
    frame_count,
    frame_media_type,
    frame_transfer_syntax,
    render,
)
from tests.retrieve.conftest import (
    MANIFEST,
    corpus,
    oracle_frame,
    read_dataset,
    row_params,
    rows_where,
)

pytestmark = pytest.mark.timeout(120)

IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.2",
)
NATIVE = {IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE}

# PS3.18 Table 8.7.3-5 (written out independently of the implementation)
EXPECTED_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.8.1": "application/octet-stream",
}

DECODABLE = rows_where(decodable="yes")
NATIVE_LITTLE_ENDIAN_ROWS = [
    r for r in DECODABLE if r["transfer_syntax_uid"] in (IMPLICIT_LE, EXPLICIT_LE)
]
BIG_ENDIAN_ROWS = [r for r in DECODABLE if r["transfer_syntax_uid"] == EXPLICIT_BE]
ENCAPSULATED_ROWS = [r for r in DECODABLE if r["transfer_syntax_uid"] not in NATIVE]

# frame_count differs from the manifest (documented): the manifest could not
# count what a forced full read did not reach; radhub reads the header only
FRAME_COUNT_EXCEPTIONS = {
    "malformed/emri_small_jpeg_2k_lossless_too_short.dcm": 10,  # intact fragments, no sequence delimiter
    "malformed/badVR.dcm": InvalidDicomError,  # NumberOfFrames "1A"
    "malformed/meta_missing_tsyntax.dcm": InvalidDicomError,  # pixel data without a transfer syntax
    "pydicom-data/OT-PAL-8-face.dcm": InvalidDicomError,  # no File Meta: encoding unknown
}


def _frames_to_check(count: int) -> list[int]:
    """1-based frame numbers worth comparing: the first two and the last."""
    return sorted({1, min(2, count), count})


def _frame_length_bits(ds: pydicom.Dataset) -> int:
    samples = int(ds.get("SamplesPerPixel", 1))
    if ds.PhotometricInterpretation == "YBR_FULL_422":
        samples = 2
    if "FloatPixelData" in ds:
        bits = 32
    elif "DoubleFloatPixelData" in ds:
        bits = 64
    else:
        bits = int(ds.BitsAllocated)
    return int(ds.Rows) * int(ds.Columns) * samples * bits


def _pixel_value(ds: pydicom.Dataset) -> bytes:
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in ds:
            return bytes(ds[keyword].value)
    raise AssertionError("no pixel data")


# --------------------------------------------------------------------------
# frame_count
# --------------------------------------------------------------------------
@pytest.mark.parametrize("row", row_params([r for r in MANIFEST if r["frames"] != ""]))
def test_frame_count_matches_the_manifest(row):
    path = corpus(row["path"])
    expected = FRAME_COUNT_EXCEPTIONS.get(row["path"], int(row["frames"]))
    if expected is InvalidDicomError:
        with pytest.raises(InvalidDicomError):
            frame_count(path)
    else:
        assert frame_count(path) == expected


@pytest.mark.parametrize(
    ("name", "frames"),
    [
        ("pydicom-data/emri_small.dcm", 10),
        ("pydicom-data/emri_small_RLE.dcm", 10),
        ("pydicom-data/emri_small_big_endian.dcm", 10),
        ("pydicom-data/emri_small_jpeg_2k_lossless.dcm", 10),
        ("pydicom-data/emri_small_jpeg_ls_lossless.dcm", 10),
        ("pydicom/examples_ybr_color.dcm", 30),
        ("pydicom-data/liver.dcm", 3),
        ("pydicom-data/liver_nonbyte_aligned.dcm", 3),
        ("highdicom/seg_image_sm_dots_tiled_full.dcm", 1250),
    ],
)
def test_multiframe_objects_return_every_frame(name, frames):
    path = corpus(name)
    assert frame_count(path) == frames
    result = frame_bytes(path, list(range(1, frames + 1)))
    assert len(result) == frames
    assert len({media for _, media in result}) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = pixel_array(read_dataset(path)).reshape(frames, -1)
    distinct_source = {frame.tobytes() for frame in source}
    assert len({data for data, _ in result}) == len(distinct_source) > 1


# --------------------------------------------------------------------------
# Native frames
# --------------------------------------------------------------------------
@pytest.mark.parametrize("row", row_params(NATIVE_LITTLE_ENDIAN_ROWS))
def test_native_frames_are_the_slices_of_the_pixel_data(row):
    path = corpus(row["path"])
    ds = read_dataset(path)
    value = _pixel_value(ds)
    bits = _frame_length_bits(ds)
    count = frame_count(path)
    numbers = _frames_to_check(count)
    result = frame_bytes(path, numbers)
    for number, (data, media_type) in zip(numbers, result):
        assert media_type == "application/octet-stream"
        start_bit = (number - 1) * bits
        if bits % 8 == 0:
            assert data == value[start_bit // 8 : (start_bit + bits) // 8]
        else:  # 1-bit frames that do not end on a byte boundary: realigned
            unpacked = oracle_frame(path, number - 1).ravel()
            assert data == np.packbits(unpacked, bitorder="little").tobytes()
            assert len(data) == -(-bits // 8)


@pytest.mark.parametrize("row", row_params(BIG_ENDIAN_ROWS))
def test_big_endian_frames_are_returned_little_endian(row):
    path = corpus(row["path"])
    ds = read_dataset(path)
    count = frame_count(path)
    numbers = _frames_to_check(count)
    for number, (data, media_type) in zip(numbers, frame_bytes(path, numbers)):
        assert media_type == "application/octet-stream"
        frame = oracle_frame(path, number - 1, raw=True)
        if frame.ndim == 3 and int(ds.get("PlanarConfiguration", 0)) == 1:
            frame = frame.transpose(
                2, 0, 1
            )  # stored colour-by-plane; pydicom returns colour-by-pixel
        if int(ds.BitsAllocated) == 1:
            expected = np.packbits(frame.ravel(), bitorder="little").tobytes()
        else:
            little = frame.dtype.newbyteorder("<")
            expected = frame.astype(little).tobytes()
            if int(ds.BitsStored) != int(ds.BitsAllocated):
                mask = (1 << int(ds.BitsStored)) - 1
                got = np.frombuffer(data, dtype=little) & mask
                expected_values = np.frombuffer(expected, dtype=little) & mask
                assert np.array_equal(got, expected_values)
                continue
        assert data == expected


BIG_ENDIAN_TWINS = [
    ("pydicom/MR_small_bigendian.dcm", "pydicom/MR_small.dcm"),
    ("pydicom/MR_small_expb.dcm", "pydicom/MR_small.dcm"),
    ("pydicom-data/emri_small_big_endian.dcm", "pydicom-data/emri_small.dcm"),
    ("pydicom-data/SC_rgb_expb.dcm", "pydicom-data/SC_rgb.dcm"),
    ("pydicom-data/SC_rgb_expb_2frame.dcm", "pydicom-data/SC_rgb_2frame.dcm"),
    ("pydicom-data/SC_rgb_expb_16bit_2frame.dcm", "pydicom-data/SC_rgb_16bit_2frame.dcm"),
    ("pydicom-data/SC_rgb_expb_32bit_2frame.dcm", "pydicom-data/SC_rgb_32bit_2frame.dcm"),
    ("pydicom/SC_rgb_small_odd_big_endian.dcm", "pydicom/SC_rgb_small_odd.dcm"),
    ("pydicom/rtdose_expb.dcm", "pydicom/rtdose.dcm"),
    ("pydicom-data/liver_expb.dcm", "pydicom-data/liver.dcm"),
    ("pydicom-data/gdcm-US-ALOKA-16_big.dcm", "pydicom-data/gdcm-US-ALOKA-16.dcm"),
    ("dcm_qa_ts/3.dcm", "dcm_qa_ts/1.dcm"),
]


@pytest.mark.parametrize(("big", "little"), BIG_ENDIAN_TWINS, ids=[b for b, _ in BIG_ENDIAN_TWINS])
def test_big_endian_frames_equal_their_little_endian_twin(big, little):
    count = frame_count(corpus(little))
    assert frame_count(corpus(big)) == count
    numbers = list(range(1, count + 1))
    assert frame_bytes(corpus(big), numbers) == frame_bytes(corpus(little), numbers)


def test_deflated_dataset_frames_come_from_the_inflated_pixel_data():
    path = corpus("pydicom/image_dfl.dcm")
    [(data, media_type)] = frame_bytes(path, [1])
    assert media_type == "application/octet-stream"
    assert data == _pixel_value(read_dataset(path))
    assert frame_transfer_syntax(DEFLATED_LE) == EXPLICIT_LE


def test_truncated_native_pixel_data_is_reported():
    with pytest.raises(
        InvalidDicomError, match="pixel data is truncated: it holds 8130 bytes"
    ) as info:
        frame_bytes(corpus("malformed/MR_truncated.dcm"), [1])
    assert info.value.code == "truncated"


# --------------------------------------------------------------------------
# Encapsulated frames
# --------------------------------------------------------------------------
def _decode_codestream(ds: pydicom.Dataset, data: bytes) -> np.ndarray:
    """Decode one frame's codestream on its own (re-encapsulated as a single-frame object)."""
    options = as_pixel_options(ds)
    options["number_of_frames"] = 1
    options.pop("extended_offsets", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(
            encapsulate([data]), **options
        )
    return array


def _check_codestream_structure(data: bytes, media_type: str) -> None:
    if media_type in ("image/jpeg", "image/jls"):
        assert data[:2] == b"\xff\xd8", "a JPEG/JPEG-LS codestream starts with SOI"
        assert b"\xff\xd9" in data[-4:], "and ends with EOI (plus padding)"
    elif media_type in ("image/jp2", "image/jphc"):
        assert data[:2] == b"\xff\x4f" or data[4:8] == b"jP  ", (
            "a J2K codestream starts with SOC (or a JP2 box)"
        )
    elif media_type == "image/dicom-rle":
        segments = int.from_bytes(data[:4], "little")
        assert 1 <= segments <= 15 and int.from_bytes(data[4:8], "little") == 64


@pytest.mark.parametrize("row", row_params(ENCAPSULATED_ROWS))
def test_encapsulated_frames_decode_to_the_same_pixels(row):
    path = corpus(row["path"])
    ds = read_dataset(path)
    ts = str(ds.file_meta.TransferSyntaxUID)
    count = frame_count(path)
    numbers = _frames_to_check(count)
    for number, (data, media_type) in zip(numbers, frame_bytes(path, numbers)):
        assert media_type == EXPECTED_MEDIA_TYPES[ts]
        _check_codestream_structure(data, media_type)
        reference = oracle_frame(path, number - 1)
        assert np.array_equal(_decode_codestream(ds, data), reference)
        grayscale = ds.PhotometricInterpretation.startswith("MONOCHROME")
        if media_type != "image/dicom-rle" and grayscale and int(ds.PixelRepresentation) == 0:
            # an independent decoder (pylibjpeg's plugins called directly)
            assert np.array_equal(pylibjpeg.decode(data), reference)
        if ts == "1.2.840.10008.1.2.4.50":
            from PIL import Image

            image = Image.open(io.BytesIO(data))
            assert image.size == (int(ds.Columns), int(ds.Rows))


def _rebuilt(source: Path, target: Path, *, layout: str) -> Path:
    """``source`` (multi-frame JPEG) with its frames re-encapsulated in another layout."""
    ds = read_dataset(source)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    if layout == "basic_offsets":
        ds.PixelData = encapsulate(frames, has_bot=True)
    elif layout == "no_offsets":
        ds.PixelData = encapsulate(frames, has_bot=False)
    elif layout == "two_fragments_per_frame":
        ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)
    elif layout == "extended_offsets":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
            frames
        )
    else:
        raise AssertionError(layout)
    ds["PixelData"].VR = "OB"
    ds.save_as(target)
    return target


@pytest.mark.parametrize(
    "layout", ["basic_offsets", "no_offsets", "two_fragments_per_frame", "extended_offsets"]
)
def test_frames_are_found_with_or_without_offset_tables(tmp_path, layout):
    source = corpus("pydicom/examples_ybr_color.dcm")
    rebuilt = _rebuilt(source, tmp_path / f"{layout}.dcm", layout=layout)
    if layout == "extended_offsets":
        assert "ExtendedOffsetTable" in read_dataset(rebuilt)
    numbers = [1, 2, 17, 30, 17]
    expected = frame_bytes(source, numbers)
    assert frame_bytes(rebuilt, numbers) == expected
    for number in (1, 30):  # one frame at a time takes the other code path
        assert frame_bytes(rebuilt, [number]) == frame_bytes(source, [number])
    assert render(rebuilt, frame=17) == render(source, frame=17)


def test_fragments_fewer_than_frames_is_reported(tmp_path):
    source = corpus("pydicom/examples_ybr_color.dcm")
    rebuilt = _rebuilt(source, tmp_path / "nobot.dcm", layout="no_offsets")
    ds = read_dataset(rebuilt)
    ds.NumberOfFrames = 40
    ds.save_as(rebuilt)
    assert frame_bytes(rebuilt, [30])[0][0] == frame_bytes(source, [30])[0][0]
    with pytest.raises(InvalidDicomError, match="cannot split the encapsulated pixel data"):
        frame_bytes(rebuilt, [31, 35])


# --------------------------------------------------------------------------
# Media types
# --------------------------------------------------------------------------
@pytest.mark.parametrize("ts", sorted(EXPECTED_MEDIA_TYPES))
def test_media_type_per_ps3_18(ts):
    assert frame_media_type(ts) == EXPECTED_MEDIA_TYPES[ts] == FRAME_MEDIA_TYPES[ts]
    assert frame_transfer_syntax(ts) == ts


@pytest.mark.parametrize("ts", sorted(NATIVE))
def test_native_frames_are_octet_stream_explicit_little_endian(ts):
    assert frame_media_type(ts) == "application/octet-stream"
    assert frame_transfer_syntax(ts) == EXPLICIT_LE


def test_unknown_encapsulated_syntax_is_octet_stream_as_stored():
    assert frame_media_type("1.2.3.4.5") == "application/octet-stream"
    assert frame_transfer_syntax("1.2.3.4.5") == "1.2.3.4.5"


def test_deflated_image_frames_are_returned_as_stored():
    path = corpus("pydicom-data/liver_nonbyte_aligned_deflate.dcm")
    frames = frame_bytes(path, [1, 2, 3])
    assert [media for _, media in frames] == ["application/octet-stream"] * 3
    import zlib

    unpacked = [zlib.decompress(data, wbits=-15) for data, _ in frames]
    native = frame_bytes(corpus("pydicom-data/liver_nonbyte_aligned.dcm"), [1, 2, 3])
    assert unpacked == [data for data, _ in native]


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ([11], r"frame 11 requested but the object has 10 frames \(frame numbers are 1 to 10\)"),
        ([1, 0], r"frame 0 requested but the object has 10 frames"),
        ([-3], r"frame -3 requested"),
        ([], "no frame requested"),
        (["1"], "frame numbers must be integers"),
        ([True], "frame numbers must be integers"),
    ],
)
def test_bad_frame_numbers_raise_frame_error(numbers, message):
    with pytest.raises(FrameError, match=message):
        frame_bytes(corpus("pydicom-data/emri_small.dcm"), numbers)


def test_single_frame_object_names_one_frame():
    with pytest.raises(
        FrameError,
        match=r"frame 2 requested but the object has 1 frame \(frame numbers are 1 to 1\)",
    ):
        frame_bytes(corpus("pydicom/CT_small.dcm"), [2])


def test_object_without_pixel_data_has_no_frames():
    path = corpus("pydicom/reportsi.dcm")
    assert frame_count(path) == 0
    with pytest.raises(
        FrameError, match=r"frame 1 requested but the object has no pixel data \(0 frames\)"
    ):
        frame_bytes(path, [1])


def test_frame_error_is_a_value_error():
    assert issubclass(FrameError, ValueError)


def test_video_frames_cannot_be_split(tmp_path):
    ds = read_dataset(corpus("pydicom/examples_ybr_color.dcm"))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.102")  # MPEG-4 AVC/H.264
    target = tmp_path / "video.dcm"
    ds.save_as(target)
    with pytest.raises(
        FrameError,
        match="frames of video transfer syntax 1.2.840.10008.1.2.4.102 cannot be retrieved",
    ):
        frame_bytes(target, [1])


def test_file_object_is_read_from_its_position_and_restored():
    path = corpus("pydicom-data/emri_small.dcm")
    expected = frame_bytes(path, [4])
    prefix = b"some bytes before the object"
    buffer = io.BytesIO(prefix + path.read_bytes())
    buffer.seek(len(prefix))
    assert frame_bytes(buffer, [4]) == expected
    assert buffer.tell() == len(prefix)
    with open(path, "rb") as fh:
        assert frame_bytes(fh, [4]) == expected and fh.tell() == 0
    with pytest.raises(TypeError, match="source must be a path or a seekable binary file object"):
        frame_bytes(42, [1])  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Bounded reads: one frame of a big object reads about one frame
# --------------------------------------------------------------------------
class CountingFile(io.FileIO):
    """A real file that counts the bytes read through it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = super().readinto(buffer)
        self.bytes_read += n or 0
        return n

    def readall(self) -> bytes:
        data = super().readall()
        self.bytes_read += len(data)
        return data


@pytest.fixture(scope="module")
def big_native(tmp_path_factory) -> Path:
    """A 600-frame native MR (emri_small's frames repeated, ~4.9 MB)."""
    ds = read_dataset(corpus("pydicom-data/emri_small.dcm"))
    ds.PixelData = bytes(ds.PixelData) * 60
    ds.NumberOfFrames = 600
    path = tmp_path_factory.mktemp("big") / "native.dcm"
    ds.save_as(path)
    return path


@pytest.fixture(scope="module")
def big_encapsulated(tmp_path_factory) -> dict[str, Path]:
    """600-frame RLE objects (emri_small_RLE's frames repeated) with and without a Basic Offset Table."""
    ds = read_dataset(corpus("pydicom-data/emri_small_RLE.dcm"))
    frames = list(generate_frames(ds.PixelData, number_of_frames=10)) * 60
    ds.NumberOfFrames = 600
    folder = tmp_path_factory.mktemp("big")
    paths = {}
    for name, has_bot in (("bot", True), ("nobot", False)):
        ds.PixelData = encapsulate(frames, has_bot=has_bot)
        paths[name] = folder / f"rle_{name}.dcm"
        ds.save_as(paths[name])
    return paths


FRAME_SIZE = 64 * 64 * 2


def test_one_native_frame_reads_about_one_frame(big_native):
    size = os.path.getsize(big_native)
    assert size > 600 * FRAME_SIZE
    with CountingFile(big_native) as fh:
        [(data, _)] = frame_bytes(fh, [457])
        assert data == frame_bytes(corpus("pydicom-data/emri_small.dcm"), [7])[0][0]
        assert fh.bytes_read < 3 * FRAME_SIZE + 16_384, f"read {fh.bytes_read} of {size} bytes"
    with CountingFile(big_native) as fh:
        image = render(fh, frame=457)
        assert fh.bytes_read < 3 * FRAME_SIZE + 16_384, (
            f"render read {fh.bytes_read} of {size} bytes"
        )
    assert image == render(corpus("pydicom-data/emri_small.dcm"), frame=7)


@pytest.mark.parametrize("layout", ["bot", "nobot"])
def test_one_encapsulated_frame_reads_about_one_frame(big_encapsulated, layout):
    path = big_encapsulated[layout]
    size = os.path.getsize(path)
    with CountingFile(path) as fh:
        [(data, media_type)] = frame_bytes(fh, [457])
        assert media_type == "image/dicom-rle"
        assert data == frame_bytes(corpus("pydicom-data/emri_small_RLE.dcm"), [7])[0][0]
        # the offset table or the 8-byte fragment headers, the header and one frame
        assert fh.bytes_read < 600 * 8 + 2 * FRAME_SIZE + 16_384, (
            f"read {fh.bytes_read} of {size} bytes"
        )
    with CountingFile(path) as fh:
        image = render(fh, frame=457)
        assert fh.bytes_read < 600 * 8 + 3 * FRAME_SIZE + 16_384, (
            f"render read {fh.bytes_read} of {size} bytes"
        )
    assert image == render(corpus("pydicom-data/emri_small.dcm"), frame=7)


def test_locate_pixel_data_reports_where_the_value_is():
    path = corpus("pydicom/CT_small.dcm")
    with open(path, "rb") as fh:
        location = locate_pixel_data(fh)
        fh.seek(location.value_offset)
        value = fh.read(location.value_length)
    assert location.keyword == "PixelData" and location.number_of_frames == 1
    assert location.vr == "OW" and not location.is_encapsulated
    assert value == _pixel_value(read_dataset(path))
    assert location.frame_bits() == 128 * 128 * 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(np.frombuffer(value, "<i2").reshape(128, 128), pixel_array(path))


def test_big_endian_8_bit_ow_frames_at_odd_offsets(tmp_path):
    """8-bit data in OW under Explicit VR Big Endian is stored as swapped byte pairs."""
    little = frame_bytes(corpus("pydicom/SC_rgb_small_odd.dcm"), [1])[0][0]
    assert len(little) == 27  # 3 x 3 RGB: odd, so frame 2 starts at an odd offset
    frames = little + bytes(reversed(little)) + little
    padded = frames + b"\x00"
    ds = read_dataset(corpus("pydicom/SC_rgb_small_odd_big_endian.dcm"))
    assert ds["PixelData"].VR == "OW" and ds.file_meta.TransferSyntaxUID == EXPLICIT_BE
    ds.PixelData = np.frombuffer(padded, "<u2").astype(">u2").tobytes()
    ds.NumberOfFrames = 3
    target = tmp_path / "odd_be.dcm"
    ds.save_as(target)
    assert [data for data, _ in frame_bytes(target, [1, 2, 3])] == [
        little,
        bytes(reversed(little)),
        little,
    ]
    for index in range(3):
        expected = np.frombuffer(frames[27 * index : 27 * (index + 1)], np.uint8).reshape(3, 3, 3)
        assert np.array_equal(oracle_frame(target, index, raw=True), expected)
