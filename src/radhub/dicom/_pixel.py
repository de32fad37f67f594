"""Locate the pixel data of a stored Part 10 object without reading its value.

This is the shared lower layer of frame extraction (``radhub.retrieve``) and
rendering (``radhub.dicom.render_frame``): it parses the header (stopping
before the pixel data element), reads the pixel data element's own header and
records where its value starts, so that callers can seek to one frame instead
of loading every frame.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

from radhub.dicom.errors import InvalidDicomError

__all__ = [
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "NATIVE_TRANSFER_SYNTAXES",
    "PixelDataLocation",
    "PixelSource",
    "locate_pixel_data",
    "open_binary",
]

logger = logging.getLogger(__name__)

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"

NATIVE_TRANSFER_SYNTAXES = frozenset(
    {
        IMPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_LITTLE_ENDIAN,
        DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
        EXPLICIT_VR_BIG_ENDIAN,
    }
)
"""Transfer syntaxes whose pixel data is native (not encapsulated); every other one is."""

_PIXEL_KEYWORDS = {
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
    0x7FE00010: "PixelData",
}
_UNDEFINED_LENGTH = 0xFFFFFFFF
_PIXEL_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN")

PixelSource = str | os.PathLike[str] | BinaryIO
"""A path of a stored Part 10 object or a seekable binary file object positioned at its start."""


@contextmanager
def open_binary(source: PixelSource) -> Iterator[BinaryIO]:
    """Yield a seekable binary file for ``source``.

    A path is opened (and closed afterwards); a file object is used as is and
    its position is restored on exit. The object is read from the file
    object's current position.
    """
    if hasattr(source, "read"):
        fh: BinaryIO = source  # type: ignore[assignment]
        if not (hasattr(fh, "seek") and hasattr(fh, "tell")):
            raise TypeError(
                f"source must be a path or a seekable binary file object, got {type(source).__name__}"
            )
        position = fh.tell()
        try:
            yield fh
        finally:
            fh.seek(position)
        return
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a path or a seekable binary file object, got {type(source).__name__}"
        )
    with open(source, "rb") as fh:
        yield fh


@dataclass(frozen=True)
class PixelDataLocation:
    """Where an object's pixel data is and how it is encoded.

    Attributes
    ----------
    dataset
        The header, without the pixel data value (for the Deflated Explicit VR
        Little Endian transfer syntax, the whole dataset including its pixel
        data, because the deflated stream cannot be seeked).
    transfer_syntax_uid
        The stored transfer syntax.
    keyword
        ``PixelData``, ``FloatPixelData``, ``DoubleFloatPixelData`` or ``None``
        when the object has no pixel data.
    vr
        The value representation of the pixel data element (``None`` for
        implicit VR transfer syntaxes).
    value_offset
        Position in the file object of the first byte of the pixel data value
        (``None`` when the value is held in ``dataset``).
    value_length
        Length of the value in bytes that the file holds: the declared
        length, or less when the file is truncated (``None`` for
        encapsulated pixel data, whose length is undefined).
    number_of_frames
        NumberOfFrames (1 when absent), 0 without pixel data.
    """

    dataset: Dataset = field(repr=False)
    transfer_syntax_uid: str
    keyword: str | None
    vr: str | None
    value_offset: int | None
    value_length: int | None
    number_of_frames: int

    @property
    def is_encapsulated(self) -> bool:
        """True when the pixel data is encapsulated (compressed or one fragment per frame)."""
        return self.transfer_syntax_uid not in NATIVE_TRANSFER_SYNTAXES

    @property
    def is_big_endian(self) -> bool:
        """True for the (retired) Explicit VR Big Endian transfer syntax."""
        return self.transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN

    @property
    def in_memory(self) -> bool:
        """True when the pixel data value was read into ``dataset`` (deflated datasets)."""
        return self.value_offset is None and self.keyword is not None

    def frame_bits(self) -> int:
        """Size in bits of one natively encoded frame (Rows x Columns x samples x BitsAllocated).

        YBR_FULL_422 native frames hold two samples per pixel (PS3.3 C.7.6.3.1.2).

        Raises
        ------
        InvalidDicomError
            Rows, Columns or BitsAllocated are missing or invalid.
        """
        ds = self.dataset
        rows = _int_attribute(ds, "Rows")
        columns = _int_attribute(ds, "Columns")
        samples = _int_attribute(ds, "SamplesPerPixel", 1)
        bits = self.bits_allocated
        if rows <= 0 or columns <= 0 or samples <= 0:
            raise InvalidDicomError(
                "invalid_value", "Rows, Columns and SamplesPerPixel must be positive"
            )
        photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
        if photometric == "YBR_FULL_422" and samples == 3 and not self.is_encapsulated:
            samples = 2
        return rows * columns * samples * bits

    @property
    def bits_allocated(self) -> int:
        """BitsAllocated (32 for Float Pixel Data, 64 for Double Float Pixel Data)."""
        if self.keyword == "FloatPixelData":
            return 32
        if self.keyword == "DoubleFloatPixelData":
            return 64
        bits = _int_attribute(self.dataset, "BitsAllocated")
        if bits <= 0 or (bits != 1 and bits % 8):
            raise InvalidDicomError(
                "invalid_value", f"BitsAllocated {bits} is neither 1 nor a multiple of 8"
            )
        return bits


def locate_pixel_data(fh: BinaryIO) -> PixelDataLocation:
    """Parse the header of the object at the current position of ``fh`` and locate its pixel data.

    The file is read up to the pixel data element's header; its value is not
    read (except for the Deflated Explicit VR Little Endian transfer syntax,
    whose deflated stream cannot be seeked: there the whole object is read).
    ``fh`` is left at an unspecified position.

    Raises
    ------
    InvalidDicomError
        The object cannot be parsed, has no Transfer Syntax UID, or its pixel
        data element is malformed (``code`` says which).
    """
    start = fh.tell()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    except PydicomInvalidDicomError as exc:
        raise InvalidDicomError("not_dicom", f"not a readable DICOM object: {exc}") from exc
    except (EOFError, OSError, struct.error) as exc:
        raise InvalidDicomError(
            "truncated", f"the object ends before its dataset is complete: {exc}"
        ) from exc
    except (ValueError, KeyError, TypeError, NotImplementedError, AttributeError) as exc:
        raise InvalidDicomError("invalid_value", f"the dataset cannot be parsed: {exc}") from exc

    meta = getattr(ds, "file_meta", None)
    ts = (
        str((meta.get("TransferSyntaxUID") if meta is not None else None) or "")
        .strip()
        .rstrip("\x00")
    )

    if ts == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return _locate_in_deflated(fh, start, ts)

    position = fh.tell()
    header = fh.read(8)
    if len(header) < 8:
        return PixelDataLocation(ds, ts, None, None, None, None, 0)
    if not ts:
        raise InvalidDicomError(
            "invalid_meta",
            "no (0002,0010) Transfer Syntax UID in the File Meta Information: "
            "the encoding of the pixel data is unknown",
        )
    endian = ">" if ts == EXPLICIT_VR_BIG_ENDIAN else "<"
    # Decide implicit/explicit from the bytes, as pydicom does while reading:
    # some real files encode their dataset in implicit VR under a JPEG syntax
    implicit = header[4:6] not in _PIXEL_VRS
    group, element = struct.unpack(f"{endian}HH", header[:4])
    tag = (group << 16) | element
    keyword = _PIXEL_KEYWORDS.get(tag)
    if keyword is None:
        # dcmread stops at pixel data or at the end of the dataset
        return PixelDataLocation(ds, ts, None, None, None, None, 0)

    vr: str | None
    if implicit:
        vr = None
        (length,) = struct.unpack("<L", header[4:8])
        value_offset = position + 8
    else:
        vr = header[4:6].decode("ascii")
        extra = fh.read(4)
        if len(extra) < 4:
            raise InvalidDicomError(
                "truncated", "the object ends inside the pixel data element header"
            )
        (length,) = struct.unpack(f"{endian}L", extra)
        value_offset = position + 12

    frames = _number_of_frames(ds)
    encapsulated = ts not in NATIVE_TRANSFER_SYNTAXES
    if encapsulated and length != _UNDEFINED_LENGTH:
        raise InvalidDicomError(
            "invalid_value",
            f"pixel data has a defined length ({length} bytes) although transfer syntax {ts} "
            "requires encapsulated (undefined length) pixel data",
        )
    if not encapsulated and length == _UNDEFINED_LENGTH:
        raise InvalidDicomError(
            "invalid_value",
            f"pixel data is encapsulated (undefined length) although transfer syntax {ts} is native",
        )
    if not encapsulated:
        # A truncated file holds fewer bytes than declared: the frames that
        # are complete stay readable, the others are reported as truncated
        end = fh.seek(0, os.SEEK_END)
        length = max(0, min(length, end - value_offset))
    return PixelDataLocation(
        dataset=ds,
        transfer_syntax_uid=ts,
        keyword=keyword,
        vr=vr,
        value_offset=value_offset,
        value_length=None if encapsulated else length,
        number_of_frames=frames,
    )


def _locate_in_deflated(fh: BinaryIO, start: int, ts: str) -> PixelDataLocation:
    fh.seek(start)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fh, force=True)
    except Exception as exc:  # zlib.error, EOFError ... all mean an unreadable deflated stream
        raise InvalidDicomError(
            "invalid_value", f"the deflated dataset cannot be read: {exc}"
        ) from exc
    for tag, keyword in _PIXEL_KEYWORDS.items():
        if tag in ds:
            elem = ds[tag]
            return PixelDataLocation(
                dataset=ds,
                transfer_syntax_uid=ts,
                keyword=keyword,
                vr=str(elem.VR),
                value_offset=None,
                value_length=len(elem.value or b""),
                number_of_frames=_number_of_frames(ds),
            )
    return PixelDataLocation(ds, ts, None, None, None, None, 0)


def _number_of_frames(ds: Dataset) -> int:
    raw = ds.get("NumberOfFrames")
    if raw is None or raw == "":
        return 1
    try:
        frames = int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidDicomError(
            "invalid_value", f"(0028,0008) Number of Frames is not an integer: {str(raw)[:16]!r}"
        ) from exc
    if frames < 0:
        raise InvalidDicomError(
            "invalid_value", f"(0028,0008) Number of Frames is negative: {frames}"
        )
    # 0 is non-conformant; pydicom and most readers treat it as one frame
    return max(frames, 1)


def _int_attribute(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise InvalidDicomError("invalid_value", f"pixel data present but {keyword} is missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidDicomError("invalid_value", f"{keyword} is not an integer") from exc
