"""Frames of a stored object: their pixel data as stored, and rendered images.

These are what WADO-RS ``/frames/{n}`` and ``/rendered`` return, and what the
viewer and radiomics read. The pixel data is located once from the header and
only the requested frames are read (see ``radhub.dicom.locate_pixel_data``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import BinaryIO

import numpy as np
from pydicom.encaps import generate_frames, get_frame, parse_basic_offsets

from radhub.dicom import (
    NATIVE_TRANSFER_SYNTAXES,
    DecodedFrame,
    InvalidDicomError,
    PixelDataLocation,
    PixelSource,
    RenderError,
    check_render_options,
    decode_frame,
    encode_image,
    locate_pixel_data,
    open_binary,
    render_frame,
)
from radhub.retrieve.errors import FrameError

__all__ = [
    "FRAME_MEDIA_TYPES",
    "NATIVE_FRAME_TRANSFER_SYNTAX",
    "frame_bytes",
    "frame_count",
    "frame_media_type",
    "frame_transfer_syntax",
    "render",
]

logger = logging.getLogger(__name__)

NATIVE_FRAME_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1"
"""Native frames are returned as Explicit VR Little Endian bytes (PS3.18 8.7.3.3.1)."""

_JPEG = "image/jpeg"
_OCTET_STREAM = "application/octet-stream"
FRAME_MEDIA_TYPES: Mapping[str, str] = MappingProxyType(
    {
        # PS3.18 Table 8.7.3-5 (compressed bulk data)
        "1.2.840.10008.1.2.4.50": _JPEG,  # JPEG Baseline
        "1.2.840.10008.1.2.4.51": _JPEG,  # JPEG Extended
        "1.2.840.10008.1.2.4.57": _JPEG,  # JPEG Lossless
        "1.2.840.10008.1.2.4.70": _JPEG,  # JPEG Lossless SV1
        "1.2.840.10008.1.2.5": "image/dicom-rle",  # RLE Lossless (formerly image/x-dicom-rle)
        "1.2.840.10008.1.2.4.80": "image/jls",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.81": "image/jls",  # JPEG-LS Near-Lossless
        "1.2.840.10008.1.2.4.90": "image/jp2",  # JPEG 2000 Lossless
        "1.2.840.10008.1.2.4.91": "image/jp2",  # JPEG 2000
        "1.2.840.10008.1.2.4.92": "image/jpx",  # JPEG 2000 Part 2 Lossless
        "1.2.840.10008.1.2.4.93": "image/jpx",  # JPEG 2000 Part 2
        "1.2.840.10008.1.2.4.201": "image/jphc",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202": "image/jphc",  # HTJ2K Lossless RPCL
        "1.2.840.10008.1.2.4.203": "image/jphc",  # HTJ2K
        "1.2.840.10008.1.2.4.110": "image/jxl",  # JPEG XL Lossless
        "1.2.840.10008.1.2.4.111": "image/jxl",  # JPEG XL JPEG Recompression
        "1.2.840.10008.1.2.4.112": "image/jxl",  # JPEG XL
        # Each frame deflated (RFC 1951) in one fragment: there is no image
        # media type for it, so octet-stream with the transfer-syntax parameter
        "1.2.840.10008.1.2.8.1": "application/octet-stream",  # Deflated Image Frame Compression
        "1.2.840.10008.1.2.1.98": "application/octet-stream",  # Encapsulated Uncompressed Explicit VR LE
    }
)
"""Media type of one encapsulated frame by stored transfer syntax UID."""

_VIDEO_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.100",
        "1.2.840.10008.1.2.4.100.1",
        "1.2.840.10008.1.2.4.101",
        "1.2.840.10008.1.2.4.101.1",
        "1.2.840.10008.1.2.4.102",
        "1.2.840.10008.1.2.4.102.1",
        "1.2.840.10008.1.2.4.103",
        "1.2.840.10008.1.2.4.103.1",
        "1.2.840.10008.1.2.4.104",
        "1.2.840.10008.1.2.4.104.1",
        "1.2.840.10008.1.2.4.105",
        "1.2.840.10008.1.2.4.105.1",
        "1.2.840.10008.1.2.4.106",
        "1.2.840.10008.1.2.4.106.1",
        "1.2.840.10008.1.2.4.107",
        "1.2.840.10008.1.2.4.108",
    }
)


def frame_media_type(transfer_syntax_uid: str) -> str:
    """The media type of the frames :func:`frame_bytes` returns for an object stored in ``transfer_syntax_uid``.

    ``application/octet-stream`` for native transfer syntaxes; for
    encapsulated ones the media type of PS3.18 Table 8.7.3-5 (``image/jpeg``,
    ``image/jls``, ``image/jp2``, ``image/jphc``, ``image/dicom-rle`` ...),
    and ``application/octet-stream`` for those that have none (Deflated Image
    Frame Compression, Encapsulated Uncompressed, private ones).
    """
    if transfer_syntax_uid in NATIVE_TRANSFER_SYNTAXES:
        return _OCTET_STREAM
    return FRAME_MEDIA_TYPES.get(transfer_syntax_uid, _OCTET_STREAM)


def frame_transfer_syntax(transfer_syntax_uid: str) -> str:
    """The transfer syntax of the frames :func:`frame_bytes` returns for an object stored in ``transfer_syntax_uid``.

    Native frames are returned little endian, so every native transfer
    syntax (including Explicit VR Big Endian and Deflated Explicit VR Little
    Endian) gives Explicit VR Little Endian; encapsulated ones are returned
    as stored. A WADO-RS part's Content-Type is
    ``f"{frame_media_type(ts)}; transfer-syntax={frame_transfer_syntax(ts)}"``.
    """
    if transfer_syntax_uid in NATIVE_TRANSFER_SYNTAXES:
        return NATIVE_FRAME_TRANSFER_SYNTAX
    return transfer_syntax_uid


def frame_count(source: PixelSource) -> int:
    """Number of frames of a stored object (0 when it has no pixel data).

    Parameters
    ----------
    source
        Path of a Part 10 object, or a seekable binary file object positioned
        at its start (its position is restored).

    Returns
    -------
    int
        NumberOfFrames (1 when absent) for objects with Pixel Data, Float
        Pixel Data or Double Float Pixel Data, 0 otherwise.

    Raises
    ------
    radhub.dicom.InvalidDicomError
        The object cannot be parsed or NumberOfFrames is not an integer.
    """
    with open_binary(source) as fh:
        return locate_pixel_data(fh).number_of_frames


def _frame_indices(frame_numbers: Sequence[int], count: int) -> list[int]:
    if isinstance(frame_numbers, (str, bytes)) or not isinstance(frame_numbers, Sequence):
        raise FrameError(
            f"frame_numbers must be a list of 1-based frame numbers, got {type(frame_numbers).__name__}"
        )
    if not frame_numbers:
        raise FrameError("no frame requested: frame_numbers is empty")
    indices = []
    for number in frame_numbers:
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
            raise FrameError(f"frame numbers must be integers, got {number!r}")
        indices.append(_frame_index(int(number), count))
    return indices


def _frame_index(number: int, count: int) -> int:
    if count == 0:
        raise FrameError(f"frame {number} requested but the object has no pixel data (0 frames)")
    if not 1 <= number <= count:
        raise FrameError(
            f"frame {number} requested but the object has {count} frame{'s' if count != 1 else ''} "
            f"(frame numbers are 1 to {count})"
        )
    return number - 1


def frame_bytes(
    source: PixelSource, frame_numbers: list[int], *, header_key: str | None = None
) -> list[tuple[bytes, str]]:
    """The pixel data of the requested frames, as stored.

    Parameters
    ----------
    source
        Path of a Part 10 object, or a seekable binary file object positioned
        at its start (its position is restored).
    frame_numbers
        1-based frame numbers, in the order wanted (repeats allowed).
    header_key
        An identity of the object's bytes (its SHA-256 in the blob store):
        the parsed header is kept under it and reused by later calls with
        the same key (see :func:`render`).

    Returns
    -------
    list of (bytes, str)
        One ``(data, media_type)`` per requested frame:

        * native pixel data: the frame's bytes, little endian, as
          ``application/octet-stream`` (transfer syntax Explicit VR Little
          Endian): Explicit VR Big Endian frames are byte-swapped; frames of
          1-bit data start on a byte boundary (bits realigned, the last byte
          padded with zero bits);
        * encapsulated pixel data: the frame's codestream (its fragments
          joined, found with the Extended or Basic Offset Table when present,
          else by pydicom's fragment parsing) with the media type of PS3.18
          Table 8.7.3-5 (e.g. ``image/jpeg``), in the stored transfer syntax.

        :func:`frame_media_type` and :func:`frame_transfer_syntax` give the
        media type and transfer syntax for a stored transfer syntax.

    Raises
    ------
    FrameError
        A frame number is out of range (the message names it and the number
        of frames), the object has no pixel data, or its transfer syntax is
        a video one whose frames cannot be separated.
    radhub.dicom.InvalidDicomError
        The object or its pixel data cannot be read (e.g. truncated, or
        fragments that do not match the number of frames).

    Examples
    --------
    >>> [(data, media_type)] = frame_bytes("ct.dcm", [1])  # doctest: +SKIP
    >>> media_type  # doctest: +SKIP
    'application/octet-stream'
    """
    with open_binary(source) as fh:
        location = _locate(fh, header_key)
        indices = _frame_indices(frame_numbers, location.number_of_frames)
        ts = location.transfer_syntax_uid
        if ts in _VIDEO_TRANSFER_SYNTAXES:
            raise FrameError(
                f"frames of video transfer syntax {ts} cannot be retrieved one by one; "
                "retrieve the instance or its bulk data instead"
            )
        media_type = frame_media_type(ts)
        if location.is_encapsulated:
            frames = _encapsulated_frames(fh, location, indices)
        else:
            frames = [_native_frame(fh, location, index) for index in indices]
    return [(data, media_type) for data in frames]


_NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}
"""Implicit and Explicit VR Little Endian: whether the VR is explicit."""


def native_tail_frame(
    fh: BinaryIO, *, size: int, rows: int, columns: int, transfer_syntax_uid: str
) -> bytes | None:
    """The frame of a single-frame native little-endian object, read from the file's end without parsing its header.

    Most such objects end with their Pixel Data element. Its value length
    follows from Rows x Columns for 8, 16 or 32 bits and 1 or 3 samples
    (padded to even); the element header just before the last that many
    bytes is checked: tag (7FE0,0010), VR OB or OW when explicit, and the
    exact length. ``None`` when it does not match (another layout: trailing
    elements, 1-bit data, ...): the caller then parses the header
    (:func:`frame_bytes`), which returns the same bytes whenever this does.
    A viewer asks for every slice of a series once, so a header cache does
    not help; this avoids pydicom's header parse per frame.
    """
    explicit = _NATIVE_LITTLE_ENDIAN.get(transfer_syntax_uid)
    if explicit is None or rows <= 0 or columns <= 0 or rows * columns < 2:
        return None
    head = 12 if explicit else 8
    position = fh.tell()
    try:
        for sample_bytes in (2, 1, 4, 3, 6, 12):  # bytes per pixel: bits/8 x samples, commonest first
            length = rows * columns * sample_bytes
            value = length + (length & 1)
            start = size - value - head
            if start < 0:
                continue
            fh.seek(position + start)
            header = fh.read(head)
            if len(header) != head or header[:4] != b"\xe0\x7f\x10\x00":
                continue
            if explicit:
                if header[4:6] not in (b"OB", b"OW") or header[6:8] != b"\x00\x00":
                    continue
                declared = int.from_bytes(header[8:12], "little")
            else:
                declared = int.from_bytes(header[4:8], "little")
            if declared != value:
                continue
            data = fh.read(length)
            return data if len(data) == length else None
        return None
    finally:
        fh.seek(position)


def _native_frame(fh: BinaryIO, location: PixelDataLocation, index: int) -> bytes:
    """One native frame as little endian bytes, starting on a byte boundary."""
    frame_bits = location.frame_bits()
    bits_allocated = location.bits_allocated
    start_bit = index * frame_bits
    end_bit = start_bit + frame_bits
    available = location.value_length or 0
    if end_bit > 8 * available:
        raise InvalidDicomError(
            "truncated",
            f"pixel data is truncated: it holds {available} bytes, frame {index + 1} of "
            f"{location.number_of_frames} needs bytes up to {-(-end_bit // 8)}",
        )
    start, end = start_bit // 8, -(-end_bit // 8)

    # Big endian words are swapped back to little endian; 8-bit OW data is
    # stored as swapped byte pairs (as pydicom reads it)
    word = 1
    if location.is_big_endian:
        if bits_allocated >= 16:
            word = bits_allocated // 8
        elif bits_allocated == 8 and location.vr == "OW":
            word = 2
    read_start = start - start % word
    read_end = min(end + (-end) % word, available)
    chunk = _read_value(fh, location, read_start, read_end - read_start)
    if word > 1:
        usable = len(chunk) - len(chunk) % word
        swapped = np.frombuffer(chunk[:usable], dtype=f">u{word}").astype(f"<u{word}").tobytes()
        chunk = swapped + chunk[usable:]
    data = chunk[start - read_start : end - read_start]

    if bits_allocated == 1 and (start_bit % 8 or frame_bits % 8):
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        offset = start_bit % 8
        data = np.packbits(bits[offset : offset + frame_bits], bitorder="little").tobytes()
    return data


def _read_value(fh: BinaryIO, location: PixelDataLocation, offset: int, length: int) -> bytes:
    if location.in_memory:
        value = location.dataset[location.keyword].value  # type: ignore[index]
        return bytes(value[offset : offset + length])
    fh.seek(location.value_offset + offset)  # type: ignore[operator]
    data = fh.read(length)
    if len(data) < length:
        raise InvalidDicomError(
            "truncated",
            f"the object ends inside its pixel data ({len(data)} of {length} bytes read)",
        )
    return data


def _encapsulated_frames(
    fh: BinaryIO, location: PixelDataLocation, indices: list[int]
) -> list[bytes]:
    ds = location.dataset
    extended = None
    if ds.get("ExtendedOffsetTable") and ds.get("ExtendedOffsetTableLengths"):
        extended = (bytes(ds.ExtendedOffsetTable), bytes(ds.ExtendedOffsetTableLengths))
    frames = location.number_of_frames
    start = location.value_offset
    if start is None:  # encapsulated pixel data is never held in memory
        raise InvalidDicomError(
            "invalid_value", "encapsulated pixel data has no position in the file"
        )
    try:
        fh.seek(start)
        has_offsets = extended is not None or bool(parse_basic_offsets(fh))
        fh.seek(start)
        if has_offsets or len(indices) == 1:
            # Offsets: seek straight to each frame. A single frame without
            # offsets: pydicom walks the fragment headers only.
            result = []
            for index in indices:
                result.append(
                    get_frame(fh, index, extended_offsets=extended, number_of_frames=frames)
                )
                fh.seek(start)
            return result
        # Several frames without offsets: one pass over the fragments
        wanted = set(indices)
        found: dict[int, bytes] = {}
        for index, frame in enumerate(generate_frames(fh, number_of_frames=frames)):
            if index in wanted:
                found[index] = frame
            if len(found) == len(wanted) or index + 1 >= frames:
                break
        missing = sorted(wanted - found.keys())
        if missing:
            raise ValueError(f"the fragments hold fewer frames than the {frames} declared")
        return [found[index] for index in indices]
    except (ValueError, EOFError, OSError) as exc:
        raise InvalidDicomError(
            "invalid_value",
            f"cannot split the encapsulated pixel data ({location.transfer_syntax_uid}) into "
            f"{frames} frame(s): {exc}",
        ) from exc


def render(
    source: PixelSource,
    *,
    frame: int = 1,
    media_type: str = "image/png",
    window: tuple[float, float] | None = None,
    viewport: tuple[int, int] | None = None,
    quality: int = 90,
    voi_function: str | None = None,
    header_key: str | None = None,
) -> bytes:
    """Render one frame of a stored object as a PNG or JPEG image.

    Decodes only the requested frame (pydicom's decoders), applies the
    Modality LUT, then VOI: ``window``, else the object's first Window
    Center/Width (with its VOI LUT Function), else its VOI LUT Sequence, else
    the frame's min/max; inverts MONOCHROME1; applies palette colour; converts
    YCbCr to RGB; scales to 8 bits. See docs/rendering.md.

    Parameters
    ----------
    source
        Path of a Part 10 object, or a seekable binary file object positioned
        at its start (its position is restored).
    frame
        1-based frame number.
    media_type
        ``image/png`` or ``image/jpeg``.
    window
        ``(center, width)`` in modality units (e.g. HU), overriding the
        object's window.
    viewport
        ``(width, height)`` the image is scaled to fit, keeping its aspect ratio.
    quality
        JPEG quality, 1 to 100.
    voi_function
        ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``; default: the object's
        VOI LUT Function, else ``LINEAR``.
    header_key
        An identity of the object's bytes (its SHA-256 in the blob store):
        the parsed header (and where the pixel data is) is kept under it, for
        the most recently used objects, and later calls with the same key
        skip parsing it. Only for sources positioned at the start of a file
        whose bytes never change.

    Returns
    -------
    bytes
        The encoded image.

    Raises
    ------
    FrameError
        ``frame`` is out of range (message names it and the number of frames).
    radhub.dicom.RenderError
        The object has no pixel data, cannot be read or decoded (the message
        names the transfer syntax and the decoder's error), or has an
        unsupported photometric interpretation.
    ValueError
        An invalid ``media_type``, ``window``, ``viewport``, ``quality`` or
        ``voi_function``.

    Examples
    --------
    >>> png = render("ct.dcm", window=(40, 400), viewport=(256, 256))  # doctest: +SKIP
    """
    check_render_options(media_type, viewport, quality)
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
        raise FrameError(f"frame must be an integer frame number (1-based), got {frame!r}")
    decoded = _decode(source, int(frame), header_key)
    image = render_frame(decoded, window=window, voi_function=voi_function)
    return encode_image(image, media_type=media_type, viewport=viewport, quality=quality)


def _decode(source: PixelSource, frame: int, header_key: str | None = None) -> DecodedFrame:
    with open_binary(source) as fh:
        try:
            location = _locate(fh, header_key)
        except InvalidDicomError as exc:
            raise RenderError(f"cannot render: {exc}") from exc
        # without pixel data decode_frame raises the RenderError that says so
        index = _frame_index(frame, location.number_of_frames) if location.keyword else 0
        return decode_frame(fh, location, index)


_HEADER_CACHE_SIZE = 64
_HEADER_CACHE_MAX_OFFSET = 256 << 10
_headers: OrderedDict[str, PixelDataLocation] = OrderedDict()
_headers_lock = threading.Lock()


def _locate(fh: BinaryIO, key: str | None) -> PixelDataLocation:
    """``locate_pixel_data(fh)``, from the header cache when ``key`` is in it.

    Kept: the last :data:`_HEADER_CACHE_SIZE` objects whose pixel data starts
    within :data:`_HEADER_CACHE_MAX_OFFSET` bytes and stays in the file (not
    deflated datasets, which hold their pixel data in memory). Lookups never
    parse under the lock; the cached header is only read afterwards.
    """
    if key is None:
        return locate_pixel_data(fh)
    with _headers_lock:
        location = _headers.get(key)
        if location is not None:
            _headers.move_to_end(key)
            return location
    location = locate_pixel_data(fh)
    offset = location.value_offset
    if offset is not None and offset <= _HEADER_CACHE_MAX_OFFSET:
        with _headers_lock:
            _headers[key] = location
            _headers.move_to_end(key)
            while len(_headers) > _HEADER_CACHE_SIZE:
                _headers.popitem(last=False)
    return location
