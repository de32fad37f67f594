"""DICOMweb (PS3.18): STOW-RS, QIDO-RS, WADO-RS under ``/dicomweb``.

Thin HTTP adapters over the archive's one ingest path
(:class:`radhub.ingest.Ingestor`), one query engine
(:func:`radhub.catalog.search`) and one retrieve path
(:class:`radhub.retrieve.Retriever`). See ``docs/dicomweb.md`` for the
endpoints, media types and status codes.
"""

import itertools
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.routing import BaseRoute

from radhub.api.dicomweb import _qido, _rendered, _stow, _wado
from radhub.api.dicomweb._common import check_uid
from radhub.api.dicomweb.errors import BadRequestError, DicomwebError, NotFoundError

_SUBROUTERS = (_stow.router, _qido.router, _wado.router, _rendered.router)
router = APIRouter()
for _sub in _SUBROUTERS:
    router.include_router(_sub)

_UID_AFTER = {
    "studies": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instances": "SOPInstanceUID",
}


_PREFIX = "/dicomweb"


class _MethodNotAllowedError(DicomwebError):
    status = 405


def _matching_routes(path: str) -> Iterator[BaseRoute]:
    """Routes of the DICOMweb routers whose path (relative to /dicomweb) matches ``path``."""
    for sub in _SUBROUTERS:
        for route in sub.routes:
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(path):
                yield route


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
    include_in_schema=False,
)
def unmatched(request: Request, rest: str) -> RedirectResponse:
    """Explain requests no DICOMweb route serves: a bad UID (400), a wrong method (405), or 404.

    A known resource path with a trailing slash is redirected (307) to the path without it.
    """
    if rest.endswith("/") and rest.strip("/"):
        target = "/" + rest.rstrip("/")
        if any(_matching_routes(target)):
            return RedirectResponse(
                str(request.url.replace(path=f"{_PREFIX}{target}")), status_code=307
            )
    segments = rest.split("/")
    for name, value in itertools.pairwise(segments):
        if name in _UID_AFTER:
            check_uid(value, _UID_AFTER[name])
    if any(s in ("", ".", "..") for s in segments[:-1]) or "\\" in rest:
        raise BadRequestError(f"the path /dicomweb/{rest[:200]} is not a DICOMweb resource path")
    path = "/" + rest
    for route in _matching_routes(path):
        allowed = ", ".join(sorted(getattr(route, "methods", None) or ()))
        raise _MethodNotAllowedError(
            f"{request.method} is not supported on /dicomweb{path[:200]} (allowed: {allowed})",
            headers={"Allow": allowed},
        )
    raise NotFoundError(
        f"no DICOMweb resource at /dicomweb/{rest[:200]}; see docs/dicomweb.md for the endpoints"
    )


__all__ = ["router"]
