"""PS3.18 Annex F JSON of a dataset, straight from its raw element values.

pydicom's ``Dataset.to_json_dict`` first turns every raw element into a
``DataElement`` (decode, split, build value objects, validate), then turns
that into JSON. For the common VRs this module goes from the raw bytes to
the JSON value directly and checks each value against the same rules
pydicom's strict reading mode applies (the VR's maximum length and
character repertoire). Anything else -- a VR or character set it does not
handle, a deferred or big-endian value, a value that fails a check -- is
handed to pydicom element by element, so the result and the errors raised
are pydicom's own: the fast path only ever skips work pydicom would have
done to the same effect. A test compares both over the whole corpus.

Objects with thousands of nested sequence items (segmentations, structured
reports, slide-microscopy images) are where this matters: pydicom needs
30-200 ms for each, most of it in per-element overhead.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import AMBIGUOUS_VR, STR_VR_REGEXES

from radhub.dicom._read import (
    ITEM,
    ITEM_END,
    SEQUENCE_END,
    UNDEFINED,
    UnexpectedEncoding,
    element_header,
)

__all__ = ["dataset_json", "json_text"]

Handler = Callable[[DataElement], str]

_FALLBACK = object()

# Python codecs that decode any byte value one byte at a time (no escape
# sequences, no multi-byte state): a value of these decodes the same whole
# or split at backslashes.
_SINGLE_BYTE = frozenset(
    {
        "iso8859",
        "latin_1",
        "iso_ir_100",
        "iso8859_2",
        "iso8859_3",
        "iso8859_4",
        "iso8859_5",
        "iso8859_6",
        "iso8859_7",
        "iso8859_8",
        "iso8859_9",
        "iso8859_11",
        "iso8859_15",
        "ascii",
    }
)
_UTF8 = frozenset({"utf_8", "UTF8", "utf8", "utf-8"})

_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_NUMBER_SIZE = {k: struct.calcsize("<" + v) for k, v in _NUMBERS.items()}
# pydicom's MAX_VALUE_LEN for the VRs handled here
_MAX_LEN = {
    "AE": 16,
    "CS": 16,
    "DS": 16,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "SH": 16,
    "ST": 1024,
    "UI": 64,
}
_REGEX = {vr: STR_VR_REGEXES[vr] for vr in ("AE", "AS", "CS", "DA", "DT", "TM", "UI", "DS", "IS")}
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "DS", "IS"})
_TEXT_MULTI = frozenset({"LO", "SH", "UC"})
_TEXT_SINGLE = frozenset({"LT", "ST", "UT"})
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_ESC = 0x1B
_PRINTABLE_ASCII = re.compile(rb"^[\x20-\x7e\x00]*$")


def _codec(ds: Dataset) -> str | None:
    """The one Python codec of the dataset's character set, if it is simple enough."""
    charset = ds._character_set
    if isinstance(charset, (list, tuple)):
        if len(charset) != 1:
            return None
        charset = charset[0]
    if charset in _SINGLE_BYTE or charset in _UTF8:
        return str(charset)
    return None


def _valid(vr: str, value: str) -> bool:
    """The checks of pydicom's strict mode for a decoded value of an ASCII VR."""
    limit = _MAX_LEN.get(vr)
    if limit is not None and len(value) > limit:
        return False
    return not value or (value[-1] != "\n" and _REGEX[vr].match(value) is not None)


def _ascii_value(vr: str, raw: bytes) -> Any:
    """JSON ``Value`` list for a raw AE/AS/CS/DA/DT/TM/UI/DS/IS value, or ``_FALLBACK``."""
    if not _PRINTABLE_ASCII.match(raw):
        return _FALLBACK
    text = raw.decode("ascii")
    if vr == "UI":
        items = text.rstrip("\0 ").split("\\")
    elif vr == "DS":
        items = text.strip().rstrip(" \x00").split("\\")
    else:
        items = text.rstrip(" \x00").split("\\")
    if len(items) == 1 and items[0] == "":
        return None  # empty: no Value
    if vr == "AE":
        items = [s.strip() for s in items]
    out: list[Any] = []
    for item in items:
        if not _valid(vr, item):
            return _FALLBACK
        if vr == "IS" or vr == "DS":
            if not item.strip():
                return _FALLBACK  # an empty number among others: pydicom's rules are intricate
            out.append(int(item) if vr == "IS" else float(item))
        elif vr == "UI" and not item:
            return _FALLBACK
        else:
            out.append(item)
    return out


def _text_value(vr: str, raw: bytes, codec: str) -> Any:
    """JSON ``Value`` list for a raw LO/SH/UC/LT/ST/UT value, or ``_FALLBACK``."""
    if _ESC in raw:
        return _FALLBACK
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        return _FALLBACK
    if vr in _TEXT_SINGLE:
        limit = _MAX_LEN.get(vr)
        if limit is not None and len(text) > limit:
            return _FALLBACK
        value = text.rstrip("\0 ")
        return [value] if value else None
    items = text.split("\\")
    limit = _MAX_LEN.get(vr)
    if limit is not None and any(len(s) > limit for s in items):
        return _FALLBACK
    values = [s.rstrip("\0 ") for s in items]
    if len(values) == 1 and not values[0]:
        return None
    return values


def _pn_value(raw: bytes, codec: str) -> Any:
    """JSON ``Value`` list for a raw PN value, or ``_FALLBACK``."""
    if _ESC in raw:
        return _FALLBACK
    try:
        text = raw.rstrip(b"\x00 ").decode(codec)
    except UnicodeDecodeError:
        return _FALLBACK
    if not text:
        return None
    out = []
    for name in text.split("\\"):
        comps = name.rstrip("=").split("=")  # pydicom drops empty trailing components
        if not name or len(comps) > 3:
            return _FALLBACK
        entry = {"Alphabetic": comps[0]}
        if len(comps) > 1:
            entry["Ideographic"] = comps[1]
        if len(comps) > 2:
            entry["Phonetic"] = comps[2]
        out.append(entry)
    return out


def _binary(
    tag: int, vr: str, raw: bytes, handler: Handler | None, threshold: int
) -> dict[str, Any]:
    """``InlineBinary`` or ``BulkDataURI`` of a binary value, by pydicom's rule."""
    if not raw:
        return {"vr": vr}
    if handler is not None and len(raw) > (threshold // 4) * 3:
        return {"vr": vr, "BulkDataURI": handler(DataElement(BaseTag(tag), vr, raw))}
    return {"vr": vr, "InlineBinary": base64.b64encode(raw).decode("ascii")}


def _fast_element(
    tag: int,
    vr: str,
    raw: bytes,
    codec: str | None,
    handler: Handler | None,
    threshold: int,
    order: str = "<",
) -> Any:
    """``{"vr": ..., "Value": [...]}`` from raw bytes (``order`` ``<`` little, ``>`` big endian), or ``_FALLBACK``.

    Binary values are given as stored, whatever the byte order, as pydicom does.
    """
    if vr in _BINARY:
        return _binary(tag, vr, raw, handler, threshold)
    if vr == "AT":
        if len(raw) % 4:
            return _FALLBACK
        pairs = struct.unpack(f"{order}{len(raw) // 2}H", raw)
        value = [f"{pairs[i]:04X}{pairs[i + 1]:04X}" for i in range(0, len(pairs), 2)] or None
        return {"vr": vr} if value is None else {"vr": vr, "Value": value}
    if vr in _ASCII_VRS:
        value = _ascii_value(vr, raw)
    elif vr in _NUMBERS:
        size = _NUMBER_SIZE[vr]
        if len(raw) % size:
            return _FALLBACK
        value = list(struct.unpack(f"{order}{len(raw) // size}{_NUMBERS[vr]}", raw)) or None
    elif codec is None:
        return _FALLBACK
    elif vr in _TEXT_MULTI or vr in _TEXT_SINGLE:
        value = _text_value(vr, raw, codec)
    elif vr == "PN":
        value = _pn_value(raw, codec)
    else:
        return _FALLBACK
    if value is _FALLBACK:
        return _FALLBACK
    return {"vr": vr} if value is None else {"vr": vr, "Value": value}


class _Context(NamedTuple):
    """What every element of one raw sequence is decoded with."""

    implicit: bool
    codec: str | None
    handler: Handler | None
    threshold: int


def _dictionary_vr(tag: int) -> str | None:
    """The dictionary VR of a public, non-group-length tag (implicit VR); ``None`` otherwise."""
    if (tag >> 16) % 2 or (tag & 0xFFFF) == 0:
        return None  # private or group length: pydicom's own rules
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    return None if vr in AMBIGUOUS_VR else vr


def _raw_items(raw: bytes, pos: int, end: int | None, ctx: _Context) -> Any:
    """``(items, position after)`` of the sequence items in ``raw[pos:end]``, or ``_FALLBACK``.

    ``end=None`` is an undefined-length sequence, read up to its
    Sequence Delimitation Item. Anything unusual gives ``_FALLBACK``:
    pydicom then reads the whole sequence.
    """
    items: list[dict[str, Any]] = []
    limit = len(raw) if end is None else end
    while pos < limit:
        try:  # items are a tag and a 4-byte length in either VR encoding
            tag, _, length, pos = element_header(raw, pos, limit, True)
        except UnexpectedEncoding:
            return _FALLBACK
        if tag == SEQUENCE_END and end is None:
            return items, pos
        if tag != ITEM:
            return _FALLBACK
        if length == UNDEFINED:
            parsed = _raw_dataset(raw, pos, None, ctx)
        elif pos + length > limit:
            return _FALLBACK
        else:
            parsed = _raw_dataset(raw, pos, pos + length, ctx)
        if parsed is _FALLBACK:
            return _FALLBACK
        item, pos = parsed
        items.append(item)
    return _FALLBACK if end is None else (items, pos)


def _raw_dataset(raw: bytes, pos: int, end: int | None, ctx: _Context) -> Any:
    """``(JSON dataset, position after)`` of one item's elements, or ``_FALLBACK``."""
    out: dict[str, Any] = {}
    limit = len(raw) if end is None else end
    while pos < limit:
        try:
            tag, vr, length, pos = element_header(raw, pos, limit, ctx.implicit)
        except UnexpectedEncoding:
            return _FALLBACK
        if tag == ITEM_END and end is None:
            return out, pos
        if vr is None:  # implicit VR, or an item tag where an element belongs (refused below)
            vr = _dictionary_vr(tag)
            if vr is None:
                return _FALLBACK
        group = tag >> 16
        if tag == 0x00080005 or group == 0xFFFE:
            return _FALLBACK  # a character set of the item's own, or a stray delimiter
        if vr == "SQ":
            parsed = _raw_items(raw, pos, None if length == UNDEFINED else pos + length, ctx)
            if parsed is _FALLBACK:
                return _FALLBACK
            value, pos = parsed
            out[f"{tag:08X}"] = {"vr": "SQ", "Value": value}
            continue
        if length == UNDEFINED or pos + length > limit:
            return _FALLBACK
        fast = _fast_element(
            tag, vr, raw[pos : pos + length], ctx.codec, ctx.handler, ctx.threshold
        )
        if fast is _FALLBACK:
            return _FALLBACK
        out[f"{tag:08X}"] = fast
        pos += length
    return _FALLBACK if end is None else (out, pos)


def _raw_vr(tag: int, elem: RawDataElement) -> str | None:
    """The VR of a raw element: its own (explicit VR) or the dictionary's (implicit VR)."""
    vr = elem.VR
    return str(vr) if vr is not None else _dictionary_vr(tag)


def _deferred_bulk(
    tag: int, elem: RawDataElement, implicit: bool | None, handler: Handler, threshold: int
) -> dict[str, Any] | None:
    """The BulkDataURI of a large binary value not read yet (``defer_size``); ``None`` otherwise.

    Its bytes are not needed for a URI: reading them (the pixel data of
    every image) would only be thrown away. The handler gets an element
    with the tag and VR and an empty value.
    """
    length = elem.length
    if length is None or length == UNDEFINED or length <= (threshold // 4) * 3:
        return None
    vr = elem.VR
    if vr is None and implicit and tag == 0x7FE00010:
        vr = "OW"  # PS3.5 A.1: pixel data in Implicit VR Little Endian is OW
    if vr not in _BINARY:
        return None
    return {"vr": str(vr), "BulkDataURI": handler(DataElement(BaseTag(tag), str(vr), b""))}


def dataset_json(ds: Dataset, handler: Handler | None, bulk_threshold: int) -> dict[str, Any]:
    """What ``ds.to_json_dict(bulk_threshold, handler)`` returns, computed faster.

    Call it in pydicom's strict reading mode to get its validation (the
    caller's choice, as with ``to_json_dict``).
    """
    implicit, little = ds.original_encoding
    return _dataset_json(
        ds, handler, bulk_threshold, _codec(ds), bool(implicit), little is not False
    )


def _dataset_json(
    ds: Dataset,
    handler: Handler | None,
    bulk_threshold: int,
    codec: str | None,
    implicit: bool,
    little: bool,
) -> dict[str, Any]:
    """:func:`dataset_json` with the character set and encoding known (those of the parent, for an item)."""
    out: dict[str, Any] = {}
    items = ds._dict
    if 0x00080005 in items:
        codec = _codec(ds)  # an item with a character set of its own
    for tag in sorted(items, key=int):  # (BaseTag compares in Python)
        elem = items[tag]
        if isinstance(elem, RawDataElement) and elem.value is None and handler is not None:
            bulk = _deferred_bulk(tag, elem, implicit, handler, bulk_threshold)
            if bulk is not None:
                out[f"{tag:08X}"] = bulk
                continue
        if isinstance(elem, RawDataElement) and little and elem.value is not None:
            vr = _raw_vr(tag, elem)
            if vr is not None and vr not in AMBIGUOUS_VR:
                if vr == "SQ":
                    ctx = _Context(implicit, codec, handler, bulk_threshold)
                    parsed = _raw_items(elem.value, 0, len(elem.value), ctx)
                    if parsed is not _FALLBACK:
                        out[f"{tag:08X}"] = {"vr": "SQ", "Value": parsed[0]}
                        continue
                    seq = ds[BaseTag(tag)].value
                    out[f"{tag:08X}"] = {
                        "vr": "SQ",
                        "Value": [
                            _dataset_json(item, handler, bulk_threshold, codec, implicit, little)
                            for item in seq
                        ],
                    }
                    continue
                fast = _fast_element(tag, vr, elem.value, codec, handler, bulk_threshold)
                if fast is not _FALLBACK:
                    out[f"{tag:08X}"] = fast
                    continue
        elif isinstance(elem, RawDataElement) and not little and not implicit and elem.value is not None:
            # Explicit VR Big Endian (retired, still met in archives): elements
            # other than sequences decode as above with the other byte order
            vr = elem.VR
            if vr is not None and vr != "SQ" and vr not in AMBIGUOUS_VR:
                fast = _fast_element(tag, str(vr), elem.value, codec, handler, bulk_threshold, ">")
                if fast is not _FALLBACK:
                    out[f"{tag:08X}"] = fast
                    continue
        element = ds[BaseTag(tag)]
        if element.VR == "SQ":
            out[f"{tag:08X}"] = {
                "vr": "SQ",
                "Value": [
                    _dataset_json(item, handler, bulk_threshold, codec, implicit, little)
                    for item in element.value
                ],
            }
        else:
            out[f"{tag:08X}"] = element.to_json_dict(
                bulk_data_element_handler=handler, bulk_data_threshold=bulk_threshold
            )
    return out


def _person_name_text(value: dict[str, str]) -> str:
    groups = [value.get("Alphabetic", ""), value.get("Ideographic", ""), value.get("Phonetic", "")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def json_text(metadata: dict[str, Any], keyword: str) -> str | None:
    """The value of ``keyword`` in PS3.18 JSON ``metadata`` as DICOM text; ``None`` if absent or empty.

    Values are joined by backslashes, person name groups by ``=``, numbers
    written as Python writes them (an IS of ``0012`` reads ``12``).
    """
    tag = _KEYWORD_TAGS.get(keyword)
    if tag is None:
        tag = _KEYWORD_TAGS[keyword] = f"{tag_for_keyword(keyword):08X}"
    element = metadata.get(tag)
    values = element.get("Value") if element else None
    if not values:
        return None
    return "\\".join(
        _person_name_text(v) if isinstance(v, dict) else "" if v is None else str(v) for v in values
    )


_KEYWORD_TAGS: dict[str, str] = {}
