"""Resumable upload (tus 1.0.0) under ``/upload``: a thin adapter over :class:`radhub.ingest.UploadStore`.

Extensions: creation, creation-with-upload, creation-defer-length,
expiration, checksum (md5, sha1, sha256) and termination. The finished
upload's outcome (one ingest result per object) is in the ``Upload-State``
header of the last PATCH and in ``GET /upload/{id}/status``. docs/upload.md
describes the protocol as radhub implements it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from radhub.ingest import (
    CHECKSUM_ALGORITHMS,
    ChunkChecksum,
    ChunkWriter,
    ResumableUpload,
    UploadChecksumError,
    UploadError,
    UploadExpiredError,
    UploadLockedError,
    UploadNotFoundError,
    UploadOffsetError,
    UploadRequestError,
    UploadState,
    UploadStore,
    UploadTooLargeError,
    decode_upload_metadata,
    encode_upload_metadata,
)

logger = logging.getLogger(__name__)

__all__ = ["TUS_EXTENSIONS", "TUS_VERSION", "router"]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "expiration",
    "checksum",
    "termination",
)
OFFSET_OCTET_STREAM = "application/offset+octet-stream"

_READ_TIMEOUT = 30.0  # tus: servers SHOULD time out a stalled body after 30 s
_WRITE_BUFFER = 1 << 20
_SWEEP_EVERY = 600.0
_STATUS = {
    UploadNotFoundError: 404,
    UploadExpiredError: 410,
    UploadLockedError: 423,
    UploadOffsetError: 409,
    UploadTooLargeError: 413,
    UploadChecksumError: 460,
    UploadRequestError: 400,
}

router = APIRouter(tags=["upload"])


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _store(request: Request) -> UploadStore:
    """The app's upload store (created on first use; tests may preset ``app.state.upload_store``)."""
    state = request.app.state
    store: UploadStore | None = getattr(state, "upload_store", None)
    if store is None:
        archive = state.archive
        store = UploadStore.from_settings(archive.settings, archive.ingestor)
        state.upload_store = store
    return store


async def _maybe_sweep(request: Request, store: UploadStore) -> None:
    state = request.app.state
    now = time.monotonic()
    if now - getattr(state, "upload_swept_at", -_SWEEP_EVERY) >= _SWEEP_EVERY:
        state.upload_swept_at = now
        await run_in_threadpool(store.sweep)


def _headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _error(status: int, message: str, **headers: str) -> Response:
    return JSONResponse({"detail": message}, status_code=status, headers=_headers(**headers))


def _upload_error(exc: UploadError) -> Response:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    extra: dict[str, str] = {}
    if isinstance(exc, UploadOffsetError):
        extra["Upload-Offset"] = str(exc.offset)
    return _error(status, str(exc), **extra)


def _version_error(request: Request) -> Response | None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        return _error(
            412,
            f"Tus-Resumable must be {TUS_VERSION}, got {version!r}",
            **{"Tus-Version": TUS_VERSION},
        )
    return None


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UploadRequestError(f"{name} must be a non-negative integer, got {value[:40]!r}")
    return int(value)


def _expires(upload: ResumableUpload) -> str:
    return format_datetime(upload.expires, usegmt=True)


def _state_headers(upload: ResumableUpload) -> dict[str, str]:
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Expires": _expires(upload),
        "Upload-State": upload.state.value,
    }
    if upload.length is not None:
        headers["Upload-Length"] = str(upload.length)
    else:
        headers["Upload-Defer-Length"] = "1"
    return headers


def _status_url(request: Request, upload_id: str) -> str:
    return str(request.url_for("upload_status", upload_id=upload_id))


def _written(request: Request, upload: ResumableUpload, status: int) -> Response:
    """Response to a request that wrote bytes: 204, or 422 with the outcome if it finished badly."""
    headers = _headers(**_state_headers(upload))
    if upload.state in (UploadState.CONFLICT, UploadState.REJECTED):
        body = {**upload.to_dict(), "status_url": _status_url(request, upload.id)}
        return JSONResponse(body, status_code=422, headers=headers)
    if status == 201:
        return Response(status_code=201, headers=headers)
    return Response(status_code=204, headers=headers)


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body in pieces of about 1 MiB; a 30 s stall raises ``TimeoutError``."""
    stream = request.stream().__aiter__()
    buffer = bytearray()
    while True:
        try:
            piece = await asyncio.wait_for(stream.__anext__(), _READ_TIMEOUT)
        except StopAsyncIteration:
            break
        buffer += piece
        if len(buffer) >= _WRITE_BUFFER:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def _receive(request: Request, writer: ChunkWriter, created: bool = False) -> Response:
    """Stream the body into ``writer`` and commit it (completing the upload if it was the last chunk)."""
    upload = writer.upload
    try:
        declared = _int_header(request, "content-length")
        if (
            declared is not None
            and upload.length is not None
            and upload.offset + declared > upload.length
        ):
            raise UploadTooLargeError(
                f"Content-Length {declared} at offset {upload.offset} goes past Upload-Length {upload.length}"
            )
        try:
            async for data in _body(request):
                await run_in_threadpool(writer.write, data)
        except (ClientDisconnect, TimeoutError) as exc:
            kept = await run_in_threadpool(writer.interrupt)
            logger.info(
                "upload %s: body interrupted (%s); offset now %d",
                upload.id,
                type(exc).__name__,
                kept.offset,
            )
            return _error(
                408 if not isinstance(exc, ClientDisconnect) else 400,
                "the request body ended early; HEAD the upload for its offset and resume",
                **_state_headers(kept),
            )
        upload = await run_in_threadpool(writer.commit)
    except UploadError as exc:
        return _upload_error(exc)
    finally:
        await run_in_threadpool(writer.close)
    return _written(request, upload, 201 if created else 204)


# --------------------------------------------------------------------------
# endpoints
# --------------------------------------------------------------------------
@router.options("", include_in_schema=False)
@router.options("/{upload_id}", include_in_schema=False)
def options(request: Request) -> Response:
    """Server capabilities (tus discovery)."""
    store = _store(request)
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(TUS_EXTENSIONS),
            "Tus-Max-Size": str(store.max_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@router.post("", status_code=201, name="upload_create")
async def create(request: Request) -> Response:
    """Create an upload (tus creation; with a body: creation-with-upload).

    Headers: ``Upload-Length`` or ``Upload-Defer-Length: 1``; optional
    ``Upload-Metadata`` (``filename``, ``filetype``, ``checksum`` = ``"sha256 <hex>"``).
    Answers 201 with ``Location``.
    """
    if (failure := _version_error(request)) is not None:
        return failure
    store = _store(request)
    await _maybe_sweep(request, store)
    try:
        length = _int_header(request, "upload-length")
        defer = request.headers.get("upload-defer-length")
        if defer is not None and defer.strip() != "1":
            raise UploadRequestError(f"Upload-Defer-Length must be 1, got {defer[:20]!r}")
        if (length is None) == (defer is None):
            raise UploadRequestError("send exactly one of Upload-Length and Upload-Defer-Length: 1")
        metadata = decode_upload_metadata(request.headers.get("upload-metadata"))
        content_length = _int_header(request, "content-length") or 0
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        with_body = content_type == OFFSET_OCTET_STREAM or content_length > 0
        if with_body and content_type != OFFSET_OCTET_STREAM:
            return _error(
                415, f"a creation request with a body must have Content-Type {OFFSET_OCTET_STREAM}"
            )
        checksum_header = request.headers.get("upload-checksum")
        checksum = ChunkChecksum.parse(checksum_header) if checksum_header and with_body else None
        upload = await run_in_threadpool(store.create, length, metadata)
    except UploadError as exc:
        return _upload_error(exc)
    location = str(request.url_for("upload_resource", upload_id=upload.id))
    if not with_body:
        return Response(
            status_code=201, headers=_headers(Location=location, **_state_headers(upload))
        )
    try:
        writer = await run_in_threadpool(store.begin_append, upload.id, 0, checksum=checksum)
    except UploadError as exc:
        return _upload_error(exc)
    response = await _receive(request, writer, created=True)
    response.headers["Location"] = location  # the upload exists even if its first chunk failed
    return response


@router.head("/{upload_id}", name="upload_resource")
async def head(upload_id: str, request: Request) -> Response:
    """The upload's offset (``Upload-Offset``), length, metadata and expiry."""
    if (failure := _version_error(request)) is not None:
        return failure
    try:
        upload = await run_in_threadpool(_store(request).head, upload_id)
    except UploadError as exc:
        return _upload_error(exc)
    headers = _headers(**_state_headers(upload))
    if upload.metadata:
        headers["Upload-Metadata"] = encode_upload_metadata(upload.metadata)
    return Response(status_code=200, headers=headers)


@router.patch("/{upload_id}", status_code=204)
async def patch(upload_id: str, request: Request) -> Response:
    """Append bytes at ``Upload-Offset`` (``Content-Type: application/offset+octet-stream``).

    Optional ``Upload-Checksum: <md5|sha1|sha256> <base64>`` (460 on mismatch)
    and ``Upload-Length`` (sets a deferred length). The request that delivers
    the last byte also verifies and ingests the upload: 204 with
    ``Upload-State: stored|duplicate`` or 422 with the outcome as JSON.
    """
    if (failure := _version_error(request)) is not None:
        return failure
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OFFSET_OCTET_STREAM:
        return _error(
            415,
            f"PATCH requests must have Content-Type {OFFSET_OCTET_STREAM}, got {content_type!r}",
        )
    try:
        offset = _int_header(request, "upload-offset")
        if offset is None:
            raise UploadRequestError("PATCH requests must have an Upload-Offset header")
        length = _int_header(request, "upload-length")
        checksum_header = request.headers.get("upload-checksum")
        checksum = ChunkChecksum.parse(checksum_header) if checksum_header else None
        writer = await run_in_threadpool(
            _store(request).begin_append, upload_id, offset, checksum=checksum, length=length
        )
    except UploadError as exc:
        return _upload_error(exc)
    return await _receive(request, writer)


@router.delete("/{upload_id}", status_code=204)
async def terminate(upload_id: str, request: Request) -> Response:
    """Delete the upload and its bytes (tus termination)."""
    if (failure := _version_error(request)) is not None:
        return failure
    try:
        await run_in_threadpool(_store(request).terminate, upload_id)
    except UploadError as exc:
        return _upload_error(exc)
    return Response(status_code=204, headers=_headers())


@router.post("/{upload_id}", include_in_schema=False)
async def method_override(upload_id: str, request: Request) -> Response:
    """``X-HTTP-Method-Override: PATCH|DELETE|HEAD`` for clients that cannot send those methods."""
    method = request.headers.get("x-http-method-override", "").strip().upper()
    if method == "PATCH":
        return await patch(upload_id, request)
    if method == "DELETE":
        return await terminate(upload_id, request)
    if method == "HEAD":
        return await head(upload_id, request)
    return _error(405, "POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD")


@router.get("/{upload_id}/status", name="upload_status")
async def status(upload_id: str, request: Request) -> Response:
    """The upload's progress and outcome as JSON.

    ``offset``, ``length``, ``state`` (uploading, verifying, stored, duplicate,
    conflict, rejected), ``code``/``reason`` of a rejection, ``summary``
    (objects per ingest status) and ``results`` (one ingest result per object:
    UIDs, sha256, size, code, reason, checks; ``path`` is the filename or the
    zip member).
    """
    try:
        upload = await run_in_threadpool(_store(request).get, upload_id)
    except UploadError as exc:
        return _upload_error(exc)
    body: dict[str, Any] = {
        **upload.to_dict(),
        "url": str(request.url_for("upload_resource", upload_id=upload_id)),
    }
    return JSONResponse(body, headers=_headers())
