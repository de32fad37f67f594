"""Helpers shared by the DICOMweb handlers: the archive, URLs, UID checks, the request body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio.from_thread
from fastapi import Request

from radhub.api.dicomweb.errors import BadRequestError, NotFoundError
from radhub.dicom import is_valid_uid

if TYPE_CHECKING:
    from radhub.archive import Archive
    from radhub.catalog import Catalog, StoredInstance
    from radhub.retrieve import Retriever

PREFIX = "/dicomweb"


def archive_of(request: Request) -> Archive:
    """The archive the application serves."""
    archive: Archive = request.app.state.archive
    return archive


def catalog_of(request: Request) -> Catalog:
    """The archive's catalog (metadata reads)."""
    return archive_of(request).catalog


def retriever_of(request: Request) -> Retriever:
    """The one retrieve path (shared with C-MOVE and C-GET)."""
    from radhub.retrieve import Retriever

    return Retriever(archive_of(request))


def service_url(request: Request) -> str:
    """Absolute URL of the DICOMweb service root (``http://host:port/dicomweb``).

    Built from the request's Host header (RFC 9110), unless the settings
    carry a ``public_url`` (e.g. behind a proxy, or for clients such as
    dicomweb-client that send ``Host`` without the port).
    """
    public = getattr(archive_of(request).settings, "public_url", None)
    if public:
        return str(public).rstrip("/") + PREFIX
    return str(request.base_url).rstrip("/") + PREFIX


def study_url(base: str, study: str) -> str:
    return f"{base}/studies/{study}"


def series_url(base: str, study: str, series: str) -> str:
    return f"{base}/studies/{study}/series/{series}"


def instance_url(base: str, study: str, series: str, sop: str) -> str:
    return f"{base}/studies/{study}/series/{series}/instances/{sop}"


def check_uid(value: str, what: str) -> str:
    """Validate a UID taken from the URL; raises a 400 that says what is wrong."""
    if len(value) > 64:
        raise BadRequestError(
            f"{what} in the URL is {len(value)} characters long; a UID has at most 64"
        )
    if not is_valid_uid(value):
        raise BadRequestError(
            f"{what} {value[:64]!r} in the URL is not a valid UID (digits and dots, "
            "no leading zeros, at most 64 characters)"
        )
    return value


def find_instances(
    request: Request, study: str, series: str | None = None, sop: str | None = None
) -> list[StoredInstance]:
    """The stored instances a WADO-RS URL names; 404 with a message when there are none."""
    check_uid(study, "StudyInstanceUID")
    if series is not None:
        check_uid(series, "SeriesInstanceUID")
    if sop is not None:
        check_uid(sop, "SOPInstanceUID")
    found = retriever_of(request).find(study_uid=study, series_uid=series, sop_uid=sop)
    if not found:
        if sop is not None:
            raise NotFoundError(
                f"instance {sop} of series {series} in study {study} is not in the archive"
            )
        if series is not None:
            raise NotFoundError(f"series {series} of study {study} is not in the archive")
        raise NotFoundError(f"study {study} is not in the archive")
    return found


def iter_request_body(request: Request, gather: int = 1 << 20) -> Iterator[bytes]:
    """The request body as a synchronous iterator (for handlers running in a worker thread).

    Chunks are pulled from the event loop, so the body is never held in
    memory as a whole; each hop to the event loop gathers what has arrived
    up to ``gather`` bytes (the server delivers 64 KiB pieces, and a hop per
    piece costs more CPU than parsing them). Only valid inside a ``def``
    (threadpool) handler.
    """
    stream = request.stream().__aiter__()

    async def _next() -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while size < gather:
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            parts.append(chunk)
            size += len(chunk)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    while True:
        chunk = anyio.from_thread.run(_next)
        if chunk is None:
            return
        if chunk:
            yield chunk
