"""WADO-RS (PS3.18 10.4): instances, metadata, bulk data and frames through the one retrieve path.

Instances are streamed bit-exact from the blob store in a
``multipart/related; type="application/dicom"`` body (or a single
``application/dicom`` body for one instance). A ``transfer-syntax`` of ``*``
or of the stored syntax (or none) returns the stored bytes; Explicit or
Implicit VR Little Endian is produced by transcoding with pydicom when the
stored pixel data can be decoded; anything else is a 406 that says what is
stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from radhub.api.dicomweb._common import (
    catalog_of,
    find_instances,
    instance_url,
    retriever_of,
    service_url,
)
from radhub.api.dicomweb._json import rewrite_bulk_uris
from radhub.api.dicomweb._media import (
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    NATIVE_LITTLE_ENDIAN,
    MediaRange,
    canonical,
    parse_accept,
    related_type_matches,
)
from radhub.api.dicomweb._multipart import closing_delimiter, new_boundary, part_header
from radhub.api.dicomweb.errors import (
    BadRequestError,
    NotAcceptableError,
    NotFoundError,
    UnprocessableError,
)

if TYPE_CHECKING:
    from radhub.catalog import StoredInstance
    from radhub.retrieve import Retriever

logger = logging.getLogger(__name__)

router = APIRouter(tags=["WADO-RS"])

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET = "application/octet-stream"
TRANSCODE_TARGETS = (EXPLICIT_VR_LE, IMPLICIT_VR_LE)
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


# ---------------------------------------------------------------------------
# instances
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _DicomChoice:
    multipart: bool
    transfer_syntax: str | None  # None: as stored


def _transcodable(inst: StoredInstance, target: str) -> bool:
    """Whether radhub can re-encode ``inst`` in ``target`` (a native little-endian syntax)."""
    if target not in TRANSCODE_TARGETS:
        return False
    source = inst.transfer_syntax_uid
    if source in NATIVE_LITTLE_ENDIAN:
        return True
    if source == EXPLICIT_VR_BE:
        return False
    if inst.frames == 0:
        return True  # nothing to decode
    try:
        from pydicom.pixels import get_decoder

        return bool(get_decoder(source).is_available)
    except (NotImplementedError, ValueError, KeyError):
        return False


def _choose_dicom(
    request: Request, instances: Sequence[StoredInstance], *, single_allowed: bool
) -> _DicomChoice:
    ranges = parse_accept(request.headers.get("accept"))
    problems: list[str] = []
    for r in ranges:
        if r.type in ("*/*", "multipart/*"):
            return _DicomChoice(True, None)
        if r.type == "multipart/related" and related_type_matches(r, DICOM):
            multipart = True
        elif r.type == DICOM and single_allowed:
            multipart = False
        else:
            continue
        ts = r.transfer_syntax
        if ts in (None, "*"):
            return _DicomChoice(multipart, None)
        blocked = [i for i in instances if i.transfer_syntax_uid != ts and not _transcodable(i, ts)]
        if not blocked:
            return _DicomChoice(multipart, ts)
        stored = sorted({i.transfer_syntax_uid for i in blocked})
        problems.append(
            f"transfer-syntax={ts} cannot be produced from the stored {', '.join(stored)} "
            f"(radhub transcodes to {' or '.join(TRANSCODE_TARGETS)} when the pixel data can be decoded)"
        )
    offered = 'multipart/related; type="application/dicom"' + (
        "" if not single_allowed else " or application/dicom"
    )
    detail = "; ".join(problems) if problems else f"Accept must allow {offered}"
    raise NotAcceptableError(f"{detail}; use transfer-syntax=* to receive the objects as stored")


def _transcode(retriever: Retriever, inst: StoredInstance, target: str) -> bytes:
    import pydicom

    with retriever.open(inst) as fh:
        ds = pydicom.dcmread(fh)
        try:
            if ds.file_meta.TransferSyntaxUID.is_compressed and "PixelData" in ds:
                ds.decompress(generate_instance_uid=False)
        except Exception as exc:
            raise UnprocessableError(
                f"instance {inst.sop_uid} cannot be transcoded to {target}: its pixel data "
                f"({inst.transfer_syntax_uid}) cannot be decoded ({type(exc).__name__})"
            ) from exc
        ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(target)
        buf = BytesIO()
        ds.save_as(
            buf, implicit_vr=target == IMPLICIT_VR_LE, little_endian=True, enforce_file_format=True
        )
    return buf.getvalue()


def _instance_bytes(
    retriever: Retriever, inst: StoredInstance, target: str | None
) -> Iterator[bytes]:
    if target is None or target == inst.transfer_syntax_uid:
        yield from retriever.iter_bytes(inst)
    else:
        yield _transcode(retriever, inst, target)


def _as_stored(inst: StoredInstance, target: str | None) -> bool:
    return target is None or target == inst.transfer_syntax_uid


def _retrieve(
    request: Request, instances: list[StoredInstance], *, single_allowed: bool
) -> Response:
    choice = _choose_dicom(request, instances, single_allowed=single_allowed)
    retriever = retriever_of(request)
    whole = retriever.whole_body_limit
    if not choice.multipart:
        inst = instances[0]
        ts = choice.transfer_syntax or inst.transfer_syntax_uid
        if ts != inst.transfer_syntax_uid:
            data = _transcode(retriever, inst, ts)
            return Response(data, media_type=f"{DICOM}; transfer-syntax={ts}")
        if inst.size <= whole:
            # one body: a streamed one costs a worker-thread hop per chunk
            return Response(retriever.read_bytes(inst), media_type=f"{DICOM}; transfer-syntax={ts}")
        return StreamingResponse(
            retriever.iter_bytes(inst),
            media_type=f"{DICOM}; transfer-syntax={ts}",
            headers={"Content-Length": str(inst.size)},
        )
    # fail before the first byte is sent: a transcoding error mid-stream cannot change the status
    base = service_url(request)
    boundary = new_boundary()

    def header(n: int, inst: StoredInstance) -> bytes:
        ts = choice.transfer_syntax or inst.transfer_syntax_uid
        url = instance_url(base, inst.study_uid, inst.series_uid, inst.sop_uid)
        return part_header(boundary, f"{DICOM}; transfer-syntax={ts}", url, first=n == 0)

    media = f'multipart/related; type="{DICOM}"; boundary={boundary}'
    if choice.transfer_syntax is not None:
        media += f"; transfer-syntax={choice.transfer_syntax}"

    if all(_as_stored(i, choice.transfer_syntax) for i in instances) and (
        sum(i.size for i in instances) <= whole
    ):
        # small and as stored (e.g. one instance): the whole body at once
        chunks: list[bytes] = []
        for n, inst in enumerate(instances):
            chunks.append(header(n, inst))
            chunks.append(retriever.read_bytes(inst))
        chunks.append(closing_delimiter(boundary))
        return Response(b"".join(chunks), media_type=media)

    def body() -> Iterator[bytes]:
        for n, inst in enumerate(instances):
            if _as_stored(inst, choice.transfer_syntax) and inst.size <= whole:
                # one chunk per instance: each chunk is a worker-thread hop
                yield header(n, inst) + retriever.read_bytes(inst)
                continue
            yield header(n, inst)
            yield from _instance_bytes(retriever, inst, choice.transfer_syntax)
        yield closing_delimiter(boundary)

    return StreamingResponse(body(), media_type=media)


@router.get("/studies/{study}", summary="Retrieve a study (WADO-RS)")
def retrieve_study(request: Request, study: str) -> Response:
    """Every instance of the study, bit-exact, as ``multipart/related; type="application/dicom"``."""
    return _retrieve(request, find_instances(request, study), single_allowed=False)


@router.get("/studies/{study}/series/{series}", summary="Retrieve a series (WADO-RS)")
def retrieve_series(request: Request, study: str, series: str) -> Response:
    """Every instance of the series, bit-exact, as ``multipart/related; type="application/dicom"``."""
    return _retrieve(request, find_instances(request, study, series), single_allowed=False)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}", summary="Retrieve an instance (WADO-RS)"
)
def retrieve_instance(request: Request, study: str, series: str, sop: str) -> Response:
    """One instance, bit-exact, as ``multipart/related; type="application/dicom"`` or ``application/dicom``."""
    return _retrieve(request, find_instances(request, study, series, sop), single_allowed=True)


# ---------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------
def _metadata(
    request: Request, study: str, series: str | None = None, sop: str | None = None
) -> JSONResponse:
    ranges = parse_accept(request.headers.get("accept"))
    if not any(r.matches(DICOM_JSON) or r.matches("application/json") for r in ranges):
        raise NotAcceptableError(
            "metadata is available as application/dicom+json only "
            f"(Accept was {request.headers.get('accept', '')[:100]!r})"
        )
    catalog = catalog_of(request)
    for _attempt in range(3):
        instances = find_instances(request, study, series, sop)
        metas = catalog.metadata(study_uid=study, series_uid=series, sop_uid=sop)
        if len(metas) == len(instances):
            break
    else:  # pragma: no cover - instances kept arriving between the two reads
        raise NotFoundError("the set of instances changed while reading; retry the request")
    base = service_url(request)
    out = []
    for inst, meta in zip(instances, metas):
        out.append(
            rewrite_bulk_uris(
                meta, instance_url(base, inst.study_uid, inst.series_uid, inst.sop_uid)
            )
        )
    return JSONResponse(out, media_type=DICOM_JSON)


@router.get("/studies/{study}/metadata", summary="Retrieve study metadata (WADO-RS)")
def study_metadata(request: Request, study: str) -> JSONResponse:
    """PS3.18 JSON of every instance of the study, BulkDataURIs pointing at ``.../bulk/<tag>``."""
    return _metadata(request, study)


@router.get(
    "/studies/{study}/series/{series}/metadata", summary="Retrieve series metadata (WADO-RS)"
)
def series_metadata(request: Request, study: str, series: str) -> JSONResponse:
    """PS3.18 JSON of every instance of the series."""
    return _metadata(request, study, series)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/metadata",
    summary="Retrieve instance metadata (WADO-RS)",
)
def instance_metadata(request: Request, study: str, series: str, sop: str) -> JSONResponse:
    """PS3.18 JSON of one instance (a one-element array)."""
    return _metadata(request, study, series, sop)


# ---------------------------------------------------------------------------
# bulk data and frames
# ---------------------------------------------------------------------------
def _stored_part_type(transfer_syntax_uid: str) -> tuple[str, str]:
    """(media type, transfer syntax) of the pixel data parts of an object stored in ``transfer_syntax_uid``."""
    from radhub.retrieve import frame_media_type, frame_transfer_syntax

    media = frame_media_type(transfer_syntax_uid).split(";")[0].strip()
    return canonical(media), frame_transfer_syntax(transfer_syntax_uid)


def _frame_parts(
    data: list[tuple[bytes, str]], numbers: list[int], stored_ts: str, url: str
) -> list[tuple[bytes, str, str]]:
    """(content, Content-Type with transfer-syntax, Content-Location) of each returned frame."""
    _media, part_ts = _stored_part_type(stored_ts)
    parts = []
    for n, (content, media) in zip(numbers, data):
        ctype = media if "transfer-syntax" in media else f"{media}; transfer-syntax={part_ts}"
        parts.append((content, ctype, f"{url}/frames/{n}"))
    return parts


def _bulk_acceptable(ranges: list[MediaRange], media: str, part_ts: str) -> bool:
    """Whether parts of ``media`` in transfer syntax ``part_ts`` satisfy the Accept ranges.

    ``transfer-syntax=*`` accepts the stored encoding whatever the requested
    type (OHIF asks ``type="application/octet-stream"; transfer-syntax=*``);
    without a transfer-syntax parameter any encoding of the requested image
    type is accepted, and ``application/octet-stream`` means uncompressed
    little-endian bytes (PS3.18 8.7.3.3.1).
    """
    media = canonical(media)
    for r in ranges:
        if r.type in ("*/*", "multipart/*"):
            return True
        if r.type != "multipart/related":
            continue
        ts = r.transfer_syntax
        if ts == "*":
            if r.related_type in (None, OCTET) or related_type_matches(r, media):
                return True
            continue
        if not related_type_matches(r, media):
            continue
        if ts is None:
            if media != OCTET or part_ts == EXPLICIT_VR_LE:
                return True
        elif ts == part_ts:
            return True
    return False


def _not_acceptable_bulk(media: str, part_ts: str, what: str) -> NotAcceptableError:
    return NotAcceptableError(
        f"the {what} is stored as {media} (transfer syntax {part_ts}) and radhub does not transcode "
        f'bulk data or frames; ask for multipart/related; type="{media}" or add transfer-syntax=*'
    )


def _multipart_response(parts: list[tuple[bytes, str, str]]) -> Response:
    """A complete multipart/related response from (content, content type, location) triples."""
    boundary = new_boundary()
    chunks: list[bytes] = []
    for n, (content, ctype, location) in enumerate(parts):
        chunks.append(part_header(boundary, ctype, location, first=n == 0))
        chunks.append(content)
    chunks.append(closing_delimiter(boundary))
    first_type = parts[0][1].split(";")[0].strip() if parts else OCTET
    return Response(
        b"".join(chunks), media_type=f'multipart/related; type="{first_type}"; boundary={boundary}'
    )


def _frame_numbers(text: str, inst: StoredInstance) -> list[int]:
    numbers: list[int] = []
    for piece in text.replace("%2C", ",").replace("%2c", ",").split(","):
        piece = piece.strip()
        if not piece.isdigit() or int(piece) < 1:
            raise BadRequestError(
                f"frame list {text[:60]!r} must be comma-separated frame numbers starting at 1 (e.g. 1,2,3)"
            )
        numbers.append(int(piece))
    if inst.frames == 0:
        raise NotFoundError(f"instance {inst.sop_uid} has no pixel data, so it has no frames")
    missing = [n for n in numbers if n > inst.frames]
    if missing:
        raise NotFoundError(
            f"frame {missing[0]} does not exist: instance {inst.sop_uid} has {inst.frames} frame(s)"
        )
    return numbers


def _frames(
    retriever: Retriever, inst: StoredInstance, numbers: list[int]
) -> list[tuple[bytes, str]]:
    from radhub.dicom import InvalidDicomError
    from radhub.retrieve import FrameError

    try:
        return retriever.frames(inst, numbers)
    except FrameError as exc:
        raise BadRequestError(str(exc)) from exc
    except InvalidDicomError as exc:
        raise UnprocessableError(
            f"the frames of instance {inst.sop_uid} ({inst.transfer_syntax_uid}) cannot be extracted: {exc}"
        ) from exc


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}",
    summary="Retrieve frames (WADO-RS)",
)
def retrieve_frames(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
    """The pixel data of the listed frames, one part per frame, in the stored encoding.

    Native frames are ``application/octet-stream`` (little endian); compressed
    ones keep their codestream's media type (``image/jpeg``, ``image/jp2``,
    ``image/jls``, ``image/dicom-rle`` ...). Each part's Content-Type carries
    its transfer syntax.
    """
    inst = find_instances(request, study, series, sop)[0]
    numbers = _frame_numbers(frames, inst)
    media, part_ts = _stored_part_type(inst.transfer_syntax_uid)
    if not _bulk_acceptable(parse_accept(request.headers.get("accept")), media, part_ts):
        raise _not_acceptable_bulk(media, part_ts, "pixel data")
    data = _frames(retriever_of(request), inst, numbers)
    url = instance_url(service_url(request), study, series, sop)
    return _multipart_response(_frame_parts(data, numbers, inst.transfer_syntax_uid, url))


def _parse_bulk_path(path: str) -> list[tuple[str, int | None]]:
    """``00400275/0/00081234`` -> [("00400275", 0), ("00081234", None)]."""
    pieces = [p for p in path.split("/") if p]
    if not pieces or len(pieces) % 2 == 0:
        raise BadRequestError(
            f"bulk data path {path[:80]!r} must be <tag> or <sequence tag>/<item index>/<tag> ... "
            "with 8-digit hex tags"
        )
    out: list[tuple[str, int | None]] = []
    for i in range(0, len(pieces), 2):
        tag = pieces[i].upper()
        if len(tag) != 8 or any(c not in "0123456789ABCDEF" for c in tag):
            raise BadRequestError(
                f"bulk data path element {pieces[i][:20]!r} is not an 8-digit hex tag"
            )
        index: int | None = None
        if i + 1 < len(pieces):
            if not pieces[i + 1].isdigit():
                raise BadRequestError(
                    f"bulk data path item index {pieces[i + 1][:20]!r} is not a number"
                )
            index = int(pieces[i + 1])
        out.append((tag, index))
    return out


def _bulk_value(
    retriever: Retriever, inst: StoredInstance, path: list[tuple[str, int | None]], shown: str
) -> tuple[bytes, str]:
    import pydicom

    with retriever.open(inst) as fh:
        ds: Any = pydicom.dcmread(fh, defer_size=1024, force=True)
        for tag, index in path:
            t = int(tag, 16)
            if t not in ds:
                raise NotFoundError(f"instance {inst.sop_uid} has no element {shown}")
            elem = ds[t]
            if index is None:
                value = elem.value
                if not isinstance(value, (bytes, bytearray)):
                    raise BadRequestError(
                        f"element {shown} has VR {elem.VR}; bulk data retrieval serves binary values "
                        "(OB, OW, OF, OD, OL, OV, UN) — read it from the metadata instead"
                    )
                value = bytes(value)
                width = _SWAP_WIDTH.get(str(elem.VR))
                if inst.transfer_syntax_uid == EXPLICIT_VR_BE and width and len(value) % width == 0:
                    import numpy as np

                    value = np.frombuffer(value, dtype=f">u{width}").astype(f"<u{width}").tobytes()
                return value, str(elem.VR)
            if elem.VR != "SQ" or index >= len(elem.value):
                raise NotFoundError(f"instance {inst.sop_uid} has no element {shown}")
            ds = elem.value[index]
    raise NotFoundError(f"instance {inst.sop_uid} has no element {shown}")  # pragma: no cover


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/bulk/{path:path}",
    summary="Retrieve bulk data (WADO-RS)",
)
def retrieve_bulkdata(request: Request, study: str, series: str, sop: str, path: str) -> Response:
    """The value of the element a metadata BulkDataURI names.

    Encapsulated pixel data comes back as its frames (one part per frame, as
    stored); any other value as one ``application/octet-stream`` part in
    little-endian byte order.
    """
    inst = find_instances(request, study, series, sop)[0]
    elements = _parse_bulk_path(path)
    shown = "/".join(t if i is None else f"{t}/{i}" for t, i in elements)
    url = f"{instance_url(service_url(request), study, series, sop)}/bulk/{path.strip('/')}"
    retriever = retriever_of(request)
    ranges = parse_accept(request.headers.get("accept"))
    encapsulated = False
    if len(elements) == 1 and elements[0][0] == "7FE00010" and inst.frames > 0:
        media, part_ts = _stored_part_type(inst.transfer_syntax_uid)
        encapsulated = part_ts not in (EXPLICIT_VR_LE,) or media != OCTET
        if encapsulated:
            if not _bulk_acceptable(ranges, media, part_ts):
                raise _not_acceptable_bulk(media, part_ts, "pixel data")
            numbers = list(range(1, inst.frames + 1))
            data = _frames(retriever, inst, numbers)
            return _multipart_response(_frame_parts(data, numbers, inst.transfer_syntax_uid, url))
    if not _bulk_acceptable(ranges, OCTET, EXPLICIT_VR_LE):
        raise _not_acceptable_bulk(OCTET, EXPLICIT_VR_LE, f"element {shown}")
    value, _vr = _bulk_value(retriever, inst, elements, shown)
    return _multipart_response([(value, f"{OCTET}; transfer-syntax={EXPLICIT_VR_LE}", url)])
