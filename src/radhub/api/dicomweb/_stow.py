"""STOW-RS (PS3.18 10.5): store instances through the one ingest pipeline.

The request body is streamed: each part of the ``multipart/related`` body is
fed to :meth:`radhub.ingest.Ingestor.ingest_stream` while it arrives, so a
request of any size is archived with bounded memory. Every part gets its own
outcome; a bad part never disturbs the others.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from radhub.api.dicomweb import _json
from radhub.api.dicomweb._common import (
    archive_of,
    check_uid,
    instance_url,
    iter_request_body,
    service_url,
    study_url,
)
from radhub.api.dicomweb._json import StowItem
from radhub.api.dicomweb._media import MediaRange, parse_accept, parse_media_type
from radhub.api.dicomweb._multipart import MultipartReader
from radhub.api.dicomweb.errors import (
    BadRequestError,
    DicomwebError,
    MultipartError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

if TYPE_CHECKING:
    from radhub.archive import Archive
    from radhub.ingest import IngestResult

logger = logging.getLogger(__name__)

router = APIRouter(tags=["STOW-RS"])

DICOM_JSON = "application/dicom+json"
_SOURCE = "stow"
_BATCH_PARTS = 64
_BATCH_BYTES = 256 * 1024 * 1024
_EXPECTED = 'multipart/related; type="application/dicom"; boundary=...'

# ingest rejection code -> PS3.18 I.2.2 Failure Reason
_FAILURE_BY_CODE = {
    "too_large": _json.FAILURE_OUT_OF_RESOURCES,
    "missing_uid": _json.FAILURE_MISMATCH,
    "invalid_uid": _json.FAILURE_MISMATCH,
    "conflict": _json.FAILURE_DUPLICATE_INSTANCE,
    "study_mismatch": _json.FAILURE_MISMATCH,
}


def _limited(chunks: Iterator[bytes], limit: int, counter: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        counter[0] += len(chunk)
        if counter[0] > limit:
            allowed = len(chunk) - (counter[0] - limit)
            if allowed > 0:  # the parts that end within the limit are still stored
                yield chunk[:allowed]
            raise PayloadTooLargeError(
                f"the request body exceeds max_request_bytes={limit}; send fewer or smaller "
                "objects per request (or raise RADHUB_MAX_REQUEST_BYTES)"
            )
        yield chunk


def _check_accept(request: Request) -> None:
    for r in parse_accept(request.headers.get("accept")):
        if r.matches(DICOM_JSON) or r.matches("application/json"):
            return
    raise NotAcceptableError(
        "STOW-RS responses are available as application/dicom+json only "
        f"(Accept was {request.headers.get('accept', '')[:100]!r})"
    )


def _content_type(request: Request) -> MediaRange:
    raw = request.headers.get("content-type")
    if not raw:
        raise UnsupportedMediaTypeError(f"Content-Type is required; send {_EXPECTED}")
    try:
        ct = parse_media_type(raw)
    except BadRequestError as exc:
        raise UnsupportedMediaTypeError(f"{exc.message}; send {_EXPECTED}") from exc
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaTypeError(
            f"Content-Encoding {encoding!r} is not supported; send the body uncompressed"
        )
    if ct.type == "application/dicom":
        return ct
    if ct.type != "multipart/related":
        raise UnsupportedMediaTypeError(
            f"Content-Type {ct.type} is not supported by STOW-RS here; send {_EXPECTED} "
            "(or a single object as application/dicom)"
        )
    related = ct.related_type
    if related not in (None, "application/dicom"):
        raise UnsupportedMediaTypeError(
            f'multipart/related; type="{related}" is not supported: radhub stores DICOM '
            'Part 10 objects only (type="application/dicom"); JSON/XML metadata with bulk data is not accepted'
        )
    if not ct.params.get("boundary"):
        raise BadRequestError("the multipart/related Content-Type has no boundary parameter")
    return ct


class _Stow:
    """State of one STOW-RS request.

    Parts are received and parsed as they arrive and archived in batches
    (:meth:`radhub.ingest.Ingestor.batch`): the blobs of a batch are made
    durable together and indexed in one catalog transaction, which is what
    makes a many-part request cheap. Nothing is acknowledged before the
    response, which is sent after the last batch has been archived.
    """

    def __init__(self, request: Request, archive: Archive, study: str | None) -> None:
        self.archive = archive
        self.study = study
        self.base = service_url(request)
        self.items: list[StowItem | None] = []
        self._batch = archive.ingestor.batch(source=_SOURCE)
        self._pending: list[int] = []  # positions in items awaiting the batch

    # -- one part -------------------------------------------------------------
    def store(self, chunks: Iterator[bytes]) -> None:
        try:
            self._batch.add(chunks, expect_study_uid=self.study)
        except (MultipartError, DicomwebError, ClientDisconnect):
            raise
        except Exception as exc:  # noqa: BLE001 - storage or database failure: this part fails, the others stay
            self.items.append(_failure(exc))
            return
        self._pending.append(len(self.items))
        self.items.append(None)
        if len(self._batch) >= _BATCH_PARTS or self._batch.pending_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Archive the parts received since the last flush and fill in their outcomes."""
        positions, self._pending = self._pending, []
        if not positions:
            return
        try:
            results = self._batch.finish()
        except Exception as exc:  # noqa: BLE001 - storage or database failure: these parts fail, the earlier ones stay
            for pos in positions:
                self.items[pos] = _failure(exc)
            return
        for pos, result in zip(positions, results):
            self.items[pos] = self._item(result)

    def _item(self, result: IngestResult) -> StowItem:
        from radhub.ingest import IngestStatus

        url = None
        if (
            result.ok
            and result.study_instance_uid
            and result.series_instance_uid
            and result.sop_instance_uid
        ):
            url = instance_url(
                self.base,
                result.study_instance_uid,
                result.series_instance_uid,
                result.sop_instance_uid,
            )
        if result.status is IngestStatus.STORED:
            return StowItem(result.sop_class_uid, result.sop_instance_uid, retrieve_url=url)
        if result.status is IngestStatus.DUPLICATE:
            return StowItem(
                result.sop_class_uid,
                result.sop_instance_uid,
                retrieve_url=url,
                warning=_json.WARNING_DATASET_MISMATCH,
                reason="duplicate: already stored with identical bytes; nothing changed",
            )
        code = result.code or ("conflict" if result.status is IngestStatus.CONFLICT else "rejected")
        return StowItem(
            result.sop_class_uid,
            result.sop_instance_uid,
            failure=_FAILURE_BY_CODE.get(code, _json.FAILURE_CANNOT_UNDERSTAND),
            reason=f"{code}: {result.reason}" if result.reason else code,
        )

    # -- response -------------------------------------------------------------
    def response(self) -> JSONResponse:
        items = [i for i in self.items if i is not None]  # every part has its outcome after flush()
        ok = [i for i in items if not i.failed]
        if not ok:
            status = 409
        elif len(ok) < len(items) or any(i.warning is not None for i in ok):
            status = 202
        else:
            status = 200
        top = None
        if self.study is not None:
            top = study_url(self.base, self.study)
        else:
            studies = {i.retrieve_url.split("/series/")[0] for i in ok if i.retrieve_url}
            if len(studies) == 1:
                top = studies.pop()
        logger.info(
            "STOW-RS: %d parts, %d stored or present, %d failed",
            len(items),
            len(ok),
            len(items) - len(ok),
        )
        return JSONResponse(
            _json.store_response(items, top), status_code=status, media_type=DICOM_JSON
        )


def _failure(exc: Exception) -> StowItem:
    """The failed part of a storage or database failure (logged with its traceback)."""
    logger.error("STOW-RS part could not be stored", exc_info=exc)
    if isinstance(exc, OSError):
        code = _json.FAILURE_OUT_OF_RESOURCES if exc.errno == errno.ENOSPC else _json.FAILURE_PROCESSING
        return StowItem(None, None, failure=code, reason=f"storage failure: {exc.strerror or type(exc).__name__}")
    return StowItem(None, None, failure=_json.FAILURE_PROCESSING, reason=f"processing failure ({type(exc).__name__})")


def _part_type_problem(part_type: str | None) -> str | None:
    if part_type is None:
        return None
    try:
        mt = parse_media_type(part_type)
    except BadRequestError:
        return f"the part's Content-Type {part_type[:80]!r} is not a media type"
    if mt.type != "application/dicom":
        return (
            f"the part's Content-Type is {mt.type}; only application/dicom parts "
            "(DICOM Part 10 objects) can be stored"
        )
    return None


def _store(request: Request, study: str | None) -> JSONResponse:
    archive = archive_of(request)
    _check_accept(request)
    ct = _content_type(request)
    limit = archive.settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_n = int(declared)
        except ValueError as exc:
            raise BadRequestError(f"Content-Length {declared[:30]!r} is not a number") from exc
        if declared_n > limit:
            raise PayloadTooLargeError(
                f"the request body of {declared_n} bytes exceeds max_request_bytes={limit}; "
                "send fewer or smaller objects per request (or raise RADHUB_MAX_REQUEST_BYTES)"
            )
    counter = [0]
    body = _limited(iter_request_body(request), limit, counter)
    stow = _Stow(request, archive, study)
    try:
        try:
            if ct.type == "application/dicom":
                stow.store(body)
            else:
                _store_parts(stow, body, ct.params["boundary"])
        finally:  # the parts received completely are archived, whatever stopped the request
            stow.flush()
    except PayloadTooLargeError as exc:
        kept = sum(1 for i in stow.items if i is not None and not i.failed)
        if kept:
            exc.detail = exc.message = (
                f"{exc.message}; the {kept} object(s) received before the limit was reached are stored"
            )
        raise
    if not stow.items:
        raise BadRequestError(
            "the multipart body contains no parts; send at least one application/dicom part"
        )
    return stow.response()


def _store_parts(stow: _Stow, body: Iterator[bytes], boundary: str) -> None:
    reader = MultipartReader(body, boundary)
    try:
        for part in reader:
            problem = _part_type_problem(part.content_type)
            if problem is not None:
                part.drain()
                stow.items.append(
                    StowItem(
                        None,
                        None,
                        failure=_json.FAILURE_CANNOT_UNDERSTAND,
                        reason=f"part {part.index + 1}: {problem}",
                    )
                )
                continue
            stow.store(part.iter_body())
    except MultipartError as exc:
        if not stow.items:
            raise BadRequestError(f"malformed multipart body: {exc}") from exc
        # the parts before the damage are complete and stay stored; the broken one is not
        stow.items.append(
            StowItem(
                None,
                None,
                failure=_json.FAILURE_CANNOT_UNDERSTAND,
                reason=f"part {len(stow.items) + 1}: malformed multipart body: {exc}; nothing of this part was stored",
            )
        )


@router.post(
    "/studies",
    summary="Store instances (STOW-RS)",
    response_description="Store Instances Response Module (application/dicom+json)",
)
def store_instances(request: Request) -> JSONResponse:
    """Store DICOM objects sent as ``multipart/related; type="application/dicom"``."""
    return _store(request, None)


@router.post(
    "/studies/{study}",
    summary="Store instances of one study (STOW-RS)",
    response_description="Store Instances Response Module (application/dicom+json)",
)
def store_study_instances(request: Request, study: str) -> JSONResponse:
    """Store DICOM objects of the study in the URL; instances of other studies fail with 0xA900."""
    check_uid(study, "StudyInstanceUID")
    return _store(request, study)
