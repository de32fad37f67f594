"""Parse and validate the header of a DICOM Part 10 object without loading pixels."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom import config as pydicom_config
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.tag import Tag

from radhub.dicom._json import dataset_json, json_text
from radhub.dicom._read import UnexpectedEncoding, element_header, read_raw
from radhub.dicom.errors import InvalidDicomError

__all__ = ["BULK_PLACEHOLDER", "InstanceHeader", "dataset_to_json", "is_valid_uid", "read_header"]

_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
BULK_PLACEHOLDER = "bulk:"
"""Prefix of BulkDataURI values in stored metadata; the API rewrites it to a URL."""

_BULK_THRESHOLD = 4096

# Transfer syntaxes newer than pydicom's UID dictionary, named as PS3.6 Table A-1
# names them. pynetdicom adds the same entries when it is imported; adding them
# here too means every process (the server, its parser processes) names them
# alike, in error messages among others.
for _uid, _name, _keyword in (
    ("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", "JPEGXLLossless"),
    ("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
    ("1.2.840.10008.1.2.4.112", "JPEG XL", "JPEGXL"),
    ("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "DeflatedImageFrameCompression"),
):
    UID_dictionary.setdefault(_uid, (_name, "Transfer Syntax", "", "", _keyword))


def is_valid_uid(value: object) -> bool:
    """True for a syntactically valid DICOM UID (PS3.5 9.1): digits and dots, <= 64 chars."""
    return isinstance(value, str) and 0 < len(value) <= 64 and bool(_UID.match(value))


@dataclass(frozen=True)
class InstanceHeader:
    """What the archive needs from one object's header."""

    dataset: Dataset = field(repr=False)
    file_meta: FileMetaDataset = field(repr=False)
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    warnings: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    """PS3.18 JSON of the dataset (``dataset_to_json``), built while validating."""

    def get(self, keyword: str, default: Any = None) -> Any:
        """An attribute's value by keyword, or ``default`` if absent or empty."""
        value = self.dataset.get(keyword, default)
        if value is None or value == "":
            return default
        return value


def _single_int(metadata: dict[str, Any], tag: str) -> int | None:
    """The one integer value of ``tag`` in PS3.18 JSON ``metadata``; ``None`` if absent, empty or not one number."""
    element = metadata.get(tag)
    values = element.get("Value") if element else None
    if not values or len(values) != 1:
        return None
    value = values[0]
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_native_pixel_length(ds: Dataset, ts: pydicom.uid.UID, metadata: dict[str, Any]) -> None:
    """Reject native Pixel Data shorter than Rows x Columns x ... declares.

    The image attributes are read from the JSON ``metadata`` (already
    decoded); the expected length is pydicom's ``get_expected_length``
    (PS3.5 8.1.1, with YBR_FULL_422 per PS3.3 C.7.6.3.1.2).
    """
    elem = ds._dict.get(0x7FE00010)  # not get_item(), which would read deferred pixel data
    if elem is None or ts.is_encapsulated:
        return
    rows, cols = _single_int(metadata, "00280010"), _single_int(metadata, "00280011")
    bits = _single_int(metadata, "00280100")
    if rows is None or cols is None or bits is None:
        raise InvalidDicomError(
            "invalid_value", "Pixel Data present but Rows/Columns/BitsAllocated are missing or invalid"
        )
    spp = _single_int(metadata, "00280002") or 1
    frames = max(1, _single_int(metadata, "00280008") or 1)
    expected = rows * cols * spp * frames
    expected = (expected + 7) // 8 if bits == 1 else expected * (bits // 8)
    if (json_text(metadata, "PhotometricInterpretation") or "").strip() == "YBR_FULL_422":
        expected = expected // 3 * 2
    length = elem.length if hasattr(elem, "length") else len(elem.value or b"")
    if length is None or length == 0xFFFFFFFF:
        return
    if length < expected:
        raise InvalidDicomError(
            "truncated",
            f"native Pixel Data holds {length} bytes but the header declares {expected} "
            f"({rows}x{cols}, {bits} bits, {spp} samples, {frames} frames)",
        )


_UI_CHARS = re.compile(rb"^[0-9.\x00 ]*$")
_DS_CHARS = re.compile(rb"^[0-9.+\-eE \\\x00]*$")


def _walk_values(ds: Dataset, warnings_out: list[str]) -> None:
    """Decode every element value (except pixel data) so that invalid values raise now.

    UIDs that are made of digits and dots but break the UID rules (a leading
    zero in a component, over 64 characters), and decimal strings longer
    than the 16 characters DS allows, occur in real files; they are reported
    in ``warnings_out`` rather than rejected. Anything else that cannot be
    decoded as its VR raises.

    The caller holds pydicom's strict reading mode for the whole walk (one
    switch per object, not one per element: the walk is on the ingest hot path).
    """
    settings = pydicom_config.settings
    for tag in list(ds.keys()):
        if int(tag) in PIXEL_TAGS:
            continue
        try:
            elem = ds[tag]
        except (ValueError, TypeError, OverflowError) as exc:
            raw = ds.get_item(tag)
            raw_value = getattr(raw, "value", None)
            vr = getattr(raw, "VR", None)
            if vr is None:
                try:
                    vr = dictionary_VR(tag)
                except KeyError:
                    vr = None
            nonconformant = None
            if isinstance(raw_value, bytes):
                if vr == "UI" and _UI_CHARS.match(raw_value):
                    nonconformant = "nonconformant_uid"
                elif vr == "DS" and isinstance(exc, OverflowError) and _DS_CHARS.match(raw_value):
                    nonconformant = "nonconformant_ds"
            if nonconformant:
                warnings_out.append(f"{nonconformant}:{int(tag):08X}")
                strict = settings._reading_validation_mode
                settings.reading_validation_mode = pydicom_config.IGNORE
                try:
                    elem = ds[tag]
                finally:
                    settings._reading_validation_mode = strict
            else:
                raise InvalidDicomError(
                    "invalid_value", f"element {Tag(tag)} has a value invalid for its VR: {exc}"
                ) from exc
        if elem.VR == "SQ":
            for item in elem.value or []:
                _walk_values(item, warnings_out)


def read_header(source: str | Path | BinaryIO, *, file_size: int | None = None) -> InstanceHeader:
    """Parse and validate a DICOM Part 10 object, stopping before pixel data.

    Parameters
    ----------
    source
        A path or a binary file object positioned at the start of the object.
    file_size
        Total size if known (used to detect truncation of pixel data).

    Returns
    -------
    InstanceHeader
        The dataset (without pixel values) and its identifying UIDs.

    Raises
    ------
    InvalidDicomError
        With a ``code`` and a message that names what is wrong.
    """
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return read_header(fh, file_size=Path(source).stat().st_size)
    fh = source
    start = fh.tell()
    head = fh.read(132)
    fh.seek(start)
    if len(head) < 132 or head[128:132] != b"DICM":
        if head[:2] == b"\x1f\x8b":
            raise InvalidDicomError("not_dicom", "the body is gzip-compressed, not a DICOM Part 10 object")
        raise InvalidDicomError(
            "not_dicom",
            "not a DICOM Part 10 object: no 128-byte preamble followed by 'DICM' "
            "(send the object with its File Meta Information)",
        )
    _register_transfer_syntax(fh, start)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_raw(fh, start, _BULK_THRESHOLD)
            if ds is None:  # not a plain Little Endian dataset, or something pydicom should report
                fh.seek(start)
                ds = pydicom.dcmread(fh, defer_size=_BULK_THRESHOLD)
    except PydicomInvalidDicomError as exc:
        raise InvalidDicomError("not_dicom", f"not a readable DICOM object: {exc}") from exc
    except (EOFError, OSError) as exc:
        raise InvalidDicomError("truncated", f"the object ends before its dataset is complete: {exc}") from exc
    except (ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise InvalidDicomError("invalid_value", f"the dataset cannot be parsed: {exc}") from exc

    meta = ds.file_meta
    if meta is None or "TransferSyntaxUID" not in meta:
        raise InvalidDicomError(
            "invalid_meta", "File Meta Information lacks the required (0002,0010) Transfer Syntax UID"
        )
    if "FileMetaInformationGroupLength" not in meta:
        raise InvalidDicomError(
            "invalid_meta", "File Meta Information lacks the required (0002,0000) Group Length"
        )
    ts = meta.TransferSyntaxUID
    if not is_valid_uid(str(ts)):
        raise InvalidDicomError("invalid_meta", "Transfer Syntax UID in the File Meta is not a valid UID")

    if file_size is not None and not ts.is_deflated:
        # (a deflated dataset is inflated whole while reading: offsets are not file positions)
        _check_file_complete(ds, fh, start, file_size)
    value_warnings: list[str] = []
    try:
        # One pass decodes every value strictly and builds the JSON metadata;
        # only a dataset with a bad value is walked element by element, to
        # name the element (or to accept a nonconformant UID with a warning).
        try:
            with pydicom_config.strict_reading():
                metadata = dataset_to_json(ds)
        except (ValueError, TypeError, OverflowError):
            with warnings.catch_warnings(), pydicom_config.strict_reading():
                warnings.simplefilter("ignore")
                _walk_values(ds, value_warnings)
            metadata = dataset_to_json(ds)
    except (KeyError, NotImplementedError, EOFError, OSError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidDicomError("invalid_value", f"an element value cannot be decoded: {exc}") from exc

    uids: dict[str, str] = {}
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = json_text(metadata, keyword)
        if value is None or value.strip() == "":
            if keyword == "SOPClassUID" and "MediaStorageSOPClassUID" in meta:
                value = meta.MediaStorageSOPClassUID
            elif keyword == "SOPInstanceUID" and "MediaStorageSOPInstanceUID" in meta:
                value = meta.MediaStorageSOPInstanceUID
            else:
                raise InvalidDicomError("missing_uid", f"required attribute {keyword} is missing or empty")
        value = str(value).strip().rstrip("\x00")
        if not is_valid_uid(value):
            raise InvalidDicomError(
                "invalid_uid", f"{keyword} is not a valid UID (digits and dots, at most 64 characters)"
            )
        uids[keyword] = value

    _check_native_pixel_length(ds, ts, metadata)

    return InstanceHeader(
        dataset=ds,
        file_meta=meta,
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=str(ts),
        warnings=tuple(value_warnings),
        metadata=metadata,
    )


_META_PEEK = 4096


def _peek_transfer_syntax(meta: bytes) -> str | None:
    """The (0002,0010) value from the raw File Meta (Explicit VR Little Endian, PS3.10 7.1).

    A cheap look before pydicom reads the object, to register a transfer
    syntax it does not know; ``None`` when not found in the first bytes.
    """
    pos = 0
    while True:
        try:
            tag, _, length, value = element_header(meta, pos, len(meta), False)
        except UnexpectedEncoding:
            return None
        if tag >> 16 != 0x0002:
            return None
        if tag == 0x00020010:
            return meta[value : value + length].decode("ascii", "replace").strip(" \x00")
        pos = value + length


def _register_transfer_syntax(fh: BinaryIO, start: int) -> None:
    """Teach pydicom transfer syntaxes it does not know (e.g. 1.2.840.10008.1.2.8.1).

    Every transfer syntax defined after the original three encodes the
    dataset as Explicit VR Little Endian (PS3.5 10); those with pixel data
    other than native are encapsulated.
    """
    fh.seek(start + 132)
    try:
        ts = _peek_transfer_syntax(fh.read(_META_PEEK))
    finally:
        fh.seek(start)
    if ts is None or not is_valid_uid(ts):
        return  # the full read reports a missing or malformed one
    uid = pydicom.uid.UID(str(ts))
    if uid.is_transfer_syntax:
        return
    if uid.is_private:
        pydicom.uid.register_transfer_syntax(uid, implicit_vr=False, little_endian=True)
    else:
        # a standard transfer syntax newer than pydicom's dictionary
        # (named by its UID: messages then read the same whether or not this process registered it)
        UID_dictionary[str(uid)] = (str(uid), "Transfer Syntax", "", "", "")


def _check_file_complete(ds: Dataset, fh: BinaryIO, start: int, file_size: int) -> None:
    """Every top-level element must lie wholly inside the file.

    pydicom neither reads deferred (large) values nor complains when the
    last value read is shorter than its declared length.
    """
    end = file_size - start
    for tag, raw in ds._dict.items():
        offset = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        if offset is None or length in (None, 0xFFFFFFFF):
            continue
        if offset + length > end:
            raise InvalidDicomError(
                "truncated",
                f"element {Tag(tag)} declares {length} bytes but the object ends first",
            )


def dataset_to_json(ds: Dataset, bulk_threshold: int = _BULK_THRESHOLD) -> dict[str, Any]:
    """PS3.18 Annex F JSON of a dataset; large binary values become BulkDataURIs.

    BulkDataURI values are ``bulk:<tag>`` placeholders (e.g. ``bulk:7FE00010``)
    that the HTTP layer rewrites to absolute URLs.
    """

    def handler(elem: DataElement) -> str:
        return f"{BULK_PLACEHOLDER}{int(elem.tag):08X}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = dataset_json(ds, handler, bulk_threshold)
    # pixel data is always bulk, whatever its size
    for tag in ("7FE00010", "7FE00008", "7FE00009"):
        if tag in out:
            vr = out[tag].get("vr", "OB")
            out[tag] = {"vr": vr, "BulkDataURI": f"{BULK_PLACEHOLDER}{tag}"}
    return out


Handler = Callable[[DataElement], str]
