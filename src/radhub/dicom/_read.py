"""Read a Part 10 object's dataset as raw elements, without parsing its sequences.

``pydicom.dcmread`` parses every sequence of undefined length while reading
(building a ``Dataset`` per item, with per-element overhead), although the
header parse only needs them as bytes: :func:`radhub.dicom._json.dataset_json`
decodes sequences straight from raw bytes. For segmentations, structured
reports and slide-microscopy objects, with thousands of items, that eager
parse is about half of their ingest CPU.

:func:`read_raw` walks the top-level elements of a Little Endian dataset
(Explicit or Implicit VR, not deflated) over a memory map of the file and
returns what ``dcmread(..., defer_size=...)`` would -- a ``FileDataset`` of
``RawDataElement`` -- except that sequences stay raw bytes (pydicom parses
them on access, as it does for sequences of defined length). Anything it
does not expect (an unknown VR, a length past the end of the file, a broken
item structure) returns ``None``, and the caller reads the object with
pydicom, which reports what is wrong as before.
"""

from __future__ import annotations

import mmap
import struct
from typing import BinaryIO

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import VR as _VR

__all__ = ["read_raw"]

_KNOWN_VRS = frozenset(v.value for v in _VR if len(v.value) == 2)
_VR_OF = {vr.encode("ascii"): vr for vr in _KNOWN_VRS}  # the two VR bytes -> the VR, for known VRs
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_TAG_LEN = struct.Struct("<HHL")
_EXPLICIT = struct.Struct("<HH2sH")
_UINT32 = struct.Struct("<L")
_GROUP = struct.Struct("<H")
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
# _read_elements builds RawDataElement tuples field by field
_RAW_FIELDS = ("tag", "VR", "length", "value", "value_tell", "is_implicit_VR", "is_little_endian", "is_raw", "is_buffered")
if RawDataElement._fields != _RAW_FIELDS:  # pragma: no cover - a pydicom this code was not written for
    raise ImportError(f"pydicom's RawDataElement has fields {RawDataElement._fields}, expected {_RAW_FIELDS}")


class UnexpectedEncoding(Exception):
    """Something pydicom should look at: fall back to it."""


def element_header(
    buf: mmap.mmap | bytes, pos: int, end: int, implicit: bool
) -> tuple[int, str | None, int, int]:
    """(tag, VR or None for implicit, value length, value position) of the element at ``pos``."""
    if pos + 8 > end:
        raise UnexpectedEncoding
    if implicit:
        group, elem, length = _TAG_LEN.unpack_from(buf, pos)
        return group << 16 | elem, None, length, pos + 8
    group, elem, vr_bytes, short = _EXPLICIT.unpack_from(buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:  # item and delimitation tags have no VR
        return tag, None, _UINT32.unpack_from(buf, pos + 4)[0], pos + 8
    vr = _VR_OF.get(vr_bytes)
    if vr is None:
        raise UnexpectedEncoding
    if vr in _LONG_VRS:
        if pos + 12 > end:
            raise UnexpectedEncoding
        return tag, vr, _UINT32.unpack_from(buf, pos + 8)[0], pos + 12
    return tag, vr, short, pos + 8


def _skip_items(
    buf: mmap.mmap | bytes, pos: int, end: int, implicit: bool, *, fragments: bool = False
) -> int:
    """Position after the Sequence Delimitation Item of the undefined-length sequence at ``pos``."""
    while True:
        tag, _, length, pos = element_header(buf, pos, end, True)  # items are tag + 4-byte length
        if tag == SEQUENCE_END:
            return pos
        if tag != ITEM:
            raise UnexpectedEncoding
        if length != UNDEFINED:
            pos += length
        elif fragments:
            raise UnexpectedEncoding
        else:
            pos = _skip_dataset(buf, pos, end, implicit)
        if pos > end:
            raise UnexpectedEncoding


def _skip_dataset(buf: mmap.mmap | bytes, pos: int, end: int, implicit: bool) -> int:
    """Position after the Item Delimitation Item of the undefined-length item starting at ``pos``."""
    while True:
        tag, vr, length, pos = element_header(buf, pos, end, implicit)
        if tag == ITEM_END:
            return pos
        if tag >> 16 == 0xFFFE:
            raise UnexpectedEncoding
        if length == UNDEFINED:
            if vr not in (None, "SQ", "UN"):
                raise UnexpectedEncoding
            pos = _skip_items(buf, pos, end, implicit)
        else:
            pos += length
        if pos > end:
            raise UnexpectedEncoding


def _is_sequence(tag: int, vr: str | None) -> bool:
    if vr is not None:
        return vr == "SQ"
    try:
        return bool(dictionary_VR(tag) == "SQ")
    except KeyError:
        return False


def read_raw(fh: BinaryIO, start: int, defer_size: int) -> FileDataset | None:
    """The dataset of the Part 10 object at ``start`` in the real file ``fh``; ``None`` to use pydicom.

    ``fh`` must be positioned at ``start`` (the preamble); it is left at the
    end of the File Meta Information.
    """
    try:
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, ValueError, OSError):  # not a real file, or an empty one
        return None
    try:
        end = len(buf)
        if buf[start + 128 : start + 132] != b"DICM":
            return None
        preamble = buf[start : start + 128]
        meta_elements, pos = _read_meta(buf, start + 132, end)
        meta = FileMetaDataset(meta_elements)
        meta.set_original_encoding(False, True, default_encoding)
        ts = meta.get("TransferSyntaxUID")
        if ts is None:
            return None
        ts = UID(str(ts))
        if not ts.is_transfer_syntax or ts.is_deflated or not ts.is_little_endian:
            return None
        implicit = bool(ts.is_implicit_VR)
        elements = _read_elements(buf, pos, end, implicit, defer_size)
    except (UnexpectedEncoding, struct.error, ValueError, TypeError, KeyError):
        return None  # pydicom reads it again and says what is wrong
    finally:
        buf.close()
    fh.seek(pos)
    ds = FileDataset(fh, elements, preamble, meta, implicit, True)
    ds.set_original_encoding(implicit, True, ds._character_set)
    return ds


def _read_meta(buf: mmap.mmap, pos: int, end: int) -> tuple[dict[BaseTag, RawDataElement], int]:
    """The File Meta Information elements at ``pos`` (Explicit VR Little Endian, PS3.10 7.1) and the position after them.

    Group 0002 ends at the first element of another group. Undefined
    lengths, values past the end and sequences are left to pydicom.
    """
    elements: dict[BaseTag, RawDataElement] = {}
    while pos + 2 <= end and _GROUP.unpack_from(buf, pos)[0] == 0x0002:
        tag, vr, length, value_pos = element_header(buf, pos, end, False)
        after = value_pos + length
        if length == UNDEFINED or after > end or vr == "SQ":
            raise UnexpectedEncoding
        elements[BaseTag(tag)] = RawDataElement(
            BaseTag(tag), vr, length, buf[value_pos:after], value_pos, False, True
        )
        pos = after
    if not elements:
        raise UnexpectedEncoding
    return elements, pos


def _read_elements(
    buf: mmap.mmap, pos: int, end: int, implicit: bool, defer_size: int
) -> dict[BaseTag, RawDataElement]:
    elements: dict[BaseTag, RawDataElement] = {}
    new = tuple.__new__  # RawDataElement is a NamedTuple: skip its generated __new__ (all fields given)
    while pos < end:
        tag, vr, length, value_pos = element_header(buf, pos, end, implicit)
        if tag >> 16 == 0xFFFE:
            raise UnexpectedEncoding  # an item or delimiter at the top level
        key = BaseTag(tag)
        if length == UNDEFINED:
            if tag == _PIXEL_DATA:
                # encapsulated pixel data: its fragments are not needed for the header
                pos = _skip_items(buf, value_pos, end, implicit, fragments=True)
                elements[key] = new(RawDataElement, (key, vr or "OB", length, b"", value_pos, implicit, True, True, False))
                continue
            if vr == "UN" or not _is_sequence(tag, vr):
                raise UnexpectedEncoding  # (an undefined-length UN is an implicit VR sequence: pydicom's rules)
            after = _skip_items(buf, value_pos, end, implicit)
            value = buf[value_pos : after - 8]  # the items, without the Sequence Delimitation Item
            elements[key] = new(RawDataElement, (key, vr, len(value), value, value_pos, implicit, True, True, False))
            pos = after
            continue
        after = value_pos + length
        if after > end:
            raise UnexpectedEncoding  # truncated: pydicom says how
        if length > defer_size and not _is_sequence(tag, vr):
            value = None
        else:
            value = buf[value_pos:after]
        elements[key] = new(RawDataElement, (key, vr, length, value, value_pos, implicit, True, True, False))
        pos = after
    return elements
