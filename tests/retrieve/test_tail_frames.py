"""``native_tail_frame`` (a frame read from the file's end) gives what ``frame_bytes`` gives, or nothing.

Over the whole corpus: for every object the tail path answers, the bytes
equal the general path's; it answers for the common layout (single-frame
native little endian ending with Pixel Data) and declines everything else.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from radhub.retrieve import frame_bytes, native_tail_frame
from tests.retrieve.conftest import MANIFEST, corpus


def _tail(data: bytes, rows: int, columns: int, ts: str) -> bytes | None:
    fh = io.BytesIO(data)
    out = native_tail_frame(fh, size=len(data), rows=rows, columns=columns, transfer_syntax_uid=ts)
    assert fh.tell() == 0  # position restored
    return out


def test_the_tail_path_agrees_with_the_general_one_on_the_corpus() -> None:
    answered = declined = 0
    for row in MANIFEST:
        if row["decodable"] != "yes" or not row["rows"] or row["frames"] not in ("", "1"):
            continue
        path = corpus(row["path"])
        data = path.read_bytes()
        ts = row["transfer_syntax_uid"]
        got = _tail(data, int(row["rows"]), int(row["columns"]), ts)
        if got is None:
            declined += 1
            continue
        answered += 1
        assert got == frame_bytes(io.BytesIO(data), [1])[0][0], row["path"]
    assert answered >= 100, (answered, declined)  # the common layout is common


def _object(ts: str, pixels: np.ndarray, *, samples: int = 1, trailing: bool = False) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes() + (b"\0" if pixels.nbytes % 2 else b"")
    if trailing:
        ds.add_new(0xFFFCFFFC, "OB", b"\0" * 16)  # Data Set Trailing Padding after the pixel data
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=ts == ImplicitVRLittleEndian, little_endian=True, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    ("dtype", "shape", "samples"),
    [(np.uint16, (7, 5), 1), (np.uint8, (7, 5), 1), (np.uint8, (4, 6), 1), (np.uint32, (3, 3), 1), (np.uint8, (5, 3, 3), 3)],
)
def test_generated_layouts(ts: str, dtype: type, shape: tuple[int, ...], samples: int) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 200, size=shape).astype(dtype)
    data = _object(ts, pixels, samples=samples)
    got = _tail(data, shape[0], shape[1], ts)
    assert got == pixels.tobytes()  # odd lengths: the pad byte is not part of the frame
    assert got == frame_bytes(io.BytesIO(data), [1])[0][0]


def test_declines_what_it_cannot_check() -> None:
    pixels = np.arange(35, dtype=np.uint16).reshape(7, 5)
    data = _object(ExplicitVRLittleEndian, pixels)
    assert _tail(data, 7, 6, ExplicitVRLittleEndian) is None  # other Rows x Columns: no such length
    assert _tail(data, 7, 5, "1.2.840.10008.1.2.2") is None  # big endian: bytes must be swapped
    assert _tail(data, 7, 5, "1.2.840.10008.1.2.4.90") is None  # encapsulated
    assert _tail(data, 0, 5, ExplicitVRLittleEndian) is None
    assert _tail(data[:-2], 7, 5, ExplicitVRLittleEndian) is None  # truncated
    padded = _object(ExplicitVRLittleEndian, pixels, trailing=True)
    assert _tail(padded, 7, 5, ExplicitVRLittleEndian) is None  # not the last element
    assert frame_bytes(io.BytesIO(padded), [1])[0][0] == pixels.tobytes()
