"""WADO-RS rendered resources and thumbnails (PS3.18 10.4.1.1.5 / 8.3.5).

``/rendered`` at instance and frame level returns ``image/jpeg`` (default)
or ``image/png``; query parameters ``window=center,width[,function]``,
``viewport=width,height``, ``quality=1..100`` and ``accept=<media type>``
(window functions: ``linear``, ``linear-exact``, ``sigmoid``).
Rendering itself is :func:`radhub.retrieve.render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from radhub.api.dicomweb._common import archive_of, find_instances, retriever_of
from radhub.api.dicomweb._media import parse_accept, parse_media_type
from radhub.api.dicomweb.errors import (
    BadRequestError,
    NotAcceptableError,
    NotFoundError,
    UnprocessableError,
)

if TYPE_CHECKING:
    from radhub.catalog import StoredInstance

router = APIRouter(tags=["WADO-RS rendered"])

JPEG = "image/jpeg"
PNG = "image/png"
THUMBNAIL_SIZE = (128, 128)
_WINDOW_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}


def _choose_image_type(request: Request) -> str:
    accept_param = request.query_params.get("accept")
    if accept_param:
        ranges = [
            parse_media_type(p, header="accept") for p in accept_param.split(",") if p.strip()
        ]
    else:
        ranges = parse_accept(request.headers.get("accept"))
    for r in ranges:
        if r.type in (JPEG, PNG):
            return r.type
        if r.type in ("*/*", "image/*"):
            return JPEG
    raise NotAcceptableError(
        "rendered images are available as image/jpeg or image/png "
        f"(Accept was {(accept_param or request.headers.get('accept', ''))[:100]!r})"
    )


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",")]


def _window(text: str | None) -> tuple[tuple[float, float] | None, str | None]:
    """``center,width[,function]`` -> ((center, width), VOI LUT function) or (None, None)."""
    if text is None or not text.strip():
        return None, None
    pieces = _split(text)
    if len(pieces) not in (2, 3):
        raise BadRequestError(f"window must be center,width[,function], got {text[:60]!r}")
    try:
        center, width = float(pieces[0]), float(pieces[1])
    except ValueError as exc:
        raise BadRequestError(
            f"window center and width must be numbers, got {text[:60]!r}"
        ) from exc
    if not width > 0:
        raise BadRequestError(f"window width must be greater than 0, got {pieces[1]}")
    function = None
    if len(pieces) == 3:
        function = _WINDOW_FUNCTIONS.get(pieces[2].lower())
        if function is None:
            raise BadRequestError(
                f"window function {pieces[2][:20]!r} is not one of linear, linear-exact, sigmoid"
            )
    return (center, width), function


def _viewport(text: str | None) -> tuple[int, int] | None:
    if text is None or not text.strip():
        return None
    pieces = _split(text)
    if len(pieces) != 2:
        raise BadRequestError(
            f"viewport must be width,height (cropping with sx,sy,sw,sh is not supported), got {text[:60]!r}"
        )
    try:
        w, h = int(pieces[0]), int(pieces[1])
    except ValueError as exc:
        raise BadRequestError(
            f"viewport width and height must be integers, got {text[:60]!r}"
        ) from exc
    if not (0 < w <= 8192 and 0 < h <= 8192):
        raise BadRequestError(f"viewport width and height must be 1-8192 pixels, got {w},{h}")
    return w, h


def _quality(text: str | None) -> int:
    if text is None or not text.strip():
        return 90
    try:
        q = int(text)
    except ValueError as exc:
        raise BadRequestError(f"quality must be an integer 1-100, got {text[:20]!r}") from exc
    if not 1 <= q <= 100:
        raise BadRequestError(f"quality must be an integer 1-100, got {q}")
    return q


def _render(
    request: Request,
    inst: StoredInstance,
    frame: int,
    *,
    viewport: tuple[int, int] | None = None,
) -> Response:
    from radhub.dicom import RenderError
    from radhub.retrieve import FrameError, render

    media = _choose_image_type(request)
    window, voi_function = _window(request.query_params.get("window"))
    viewport = _viewport(request.query_params.get("viewport")) or viewport
    quality = _quality(request.query_params.get("quality"))
    if inst.frames == 0:
        raise NotAcceptableError(
            f"instance {inst.sop_uid} has no pixel data; rendered images exist only for image instances"
        )
    if frame > inst.frames:
        raise NotFoundError(
            f"frame {frame} does not exist: instance {inst.sop_uid} has {inst.frames} frame(s)"
        )
    options = {
        "frame": frame,
        "media_type": media,
        "window": window,
        "viewport": viewport,
        "quality": quality,
        "voi_function": voi_function,
        "header_key": inst.blob_sha256,
    }
    archive = archive_of(request)
    pool = archive.ingestor.parser
    try:
        path = archive.store.local_path(inst.blob_sha256) if pool.workers else None
        if path is not None:
            # decoding, windowing and encoding are CPU work: in a worker
            # process, so that concurrent requests use every core
            data = pool.call(render, source=str(path), **options)
        else:
            with retriever_of(request).open(inst) as fh:
                data = render(fh, **options)
    except FrameError as exc:
        raise NotFoundError(str(exc)) from exc
    except RenderError as exc:
        raise UnprocessableError(f"instance {inst.sop_uid} cannot be rendered: {exc}") from exc
    except ValueError as exc:  # an option the renderer refuses (checked above; kept as a 400)
        raise BadRequestError(str(exc)) from exc
    return Response(data, media_type=media)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/rendered",
    summary="Rendered instance (WADO-RS)",
)
def rendered_instance(request: Request, study: str, series: str, sop: str) -> Response:
    """The first frame of the instance as image/jpeg or image/png."""
    inst = find_instances(request, study, series, sop)[0]
    return _render(request, inst, 1)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered",
    summary="Rendered frame (WADO-RS)",
)
def rendered_frame(request: Request, study: str, series: str, sop: str, frames: str) -> Response:
    """One frame of the instance as image/jpeg or image/png."""
    inst = find_instances(request, study, series, sop)[0]
    text = frames.strip()
    if not text.isdigit() or int(text) < 1:
        raise BadRequestError(
            f"rendered frames take one frame number starting at 1, got {frames[:40]!r}"
        )
    return _render(request, inst, int(text))


def _representative(instances: list[StoredInstance], what: str) -> StoredInstance:
    images = [i for i in instances if i.frames > 0]
    if not images:
        raise NotAcceptableError(f"the {what} has no image instances, so it has no thumbnail")
    return images[len(images) // 2]


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/thumbnail", summary="Instance thumbnail"
)
def instance_thumbnail(request: Request, study: str, series: str, sop: str) -> Response:
    """A small rendering (128x128 unless ``viewport`` says otherwise)."""
    inst = find_instances(request, study, series, sop)[0]
    return _render(request, inst, 1, viewport=THUMBNAIL_SIZE)


@router.get("/studies/{study}/series/{series}/thumbnail", summary="Series thumbnail")
def series_thumbnail(request: Request, study: str, series: str) -> Response:
    """Thumbnail of the series' middle image instance."""
    inst = _representative(find_instances(request, study, series), "series")
    return _render(request, inst, 1, viewport=THUMBNAIL_SIZE)


@router.get("/studies/{study}/thumbnail", summary="Study thumbnail")
def study_thumbnail(request: Request, study: str) -> Response:
    """Thumbnail of the study's middle image instance."""
    inst = _representative(find_instances(request, study), "study")
    return _render(request, inst, 1, viewport=THUMBNAIL_SIZE)
