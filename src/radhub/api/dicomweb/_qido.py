"""QIDO-RS (PS3.18 10.6): search through the one query engine, :func:`radhub.catalog.search_json`.

Query parameters are ``{attribute}={value}`` (keyword or 8-digit hex tag,
repeated keys form a value list), ``includefield`` (repeatable,
comma-separated, or ``all``), ``limit``, ``offset`` and ``fuzzymatching``.
A search without matches answers ``200`` with ``[]`` (PS3.18 as corrected by
CP-2473; a 204 has no body to parse). When more matches exist than were
returned, a ``Warning: 299`` header says so.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydicom.datadict import dictionary_VR, tag_for_keyword

from radhub.api.dicomweb._common import (
    archive_of,
    check_uid,
    instance_url,
    series_url,
    service_url,
    study_url,
)
from radhub.api.dicomweb._media import parse_accept
from radhub.api.dicomweb.errors import BadRequestError, NotAcceptableError

router = APIRouter(tags=["QIDO-RS"])

DICOM_JSON = "application/dicom+json"
MAX_RESULTS = 10_000
"""Most results one request returns; ask for the rest with ``offset`` (a Warning header says so)."""

_CONTROL = {"includefield", "limit", "offset", "fuzzymatching"}
_IGNORED = {"accept", "charset", "_"}  # the accept/charset query forms of headers; cache busters
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _int_param(value: str, name: str) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise BadRequestError(f"{name} must be a non-negative integer, got {value[:30]!r}") from exc
    if n < 0:
        raise BadRequestError(f"{name} must be a non-negative integer, got {n}")
    return n


def _is_uid_attribute(key: str) -> bool:
    from radhub.catalog import resolve_keyword

    try:
        tag = tag_for_keyword(resolve_keyword(key))
        return tag is not None and dictionary_VR(tag) == "UI"
    except (ValueError, KeyError):
        return False


def _search(request: Request, level: str, fixed: dict[str, str]) -> JSONResponse:
    from radhub.catalog import QueryError, resolve_keyword, search_json

    ranges = parse_accept(request.headers.get("accept"))
    if not any(r.matches(DICOM_JSON) or r.matches("application/json") for r in ranges):
        raise NotAcceptableError(
            "QIDO-RS results are available as application/dicom+json only "
            f"(Accept was {request.headers.get('accept', '')[:100]!r})"
        )
    criteria: dict[str, str] = {}
    include: list[str] = []
    include_all = False
    limit: int | None = None
    offset = 0
    fuzzy = False
    try:
        for key, value in request.query_params.multi_items():
            lkey = key.lower()
            if lkey == "includefield":
                for f in value.split(","):
                    f = f.strip()
                    if f.lower() == "all":
                        include_all = True
                    elif f:
                        include.append(resolve_keyword(f))
            elif lkey == "limit":
                limit = _int_param(value, "limit")
            elif lkey == "offset":
                offset = _int_param(value, "offset")
            elif lkey == "fuzzymatching":
                if value.lower() not in _TRUE | _FALSE:
                    raise BadRequestError(
                        f"fuzzymatching must be true or false, got {value[:20]!r}"
                    )
                fuzzy = value.lower() in _TRUE
            elif lkey in _IGNORED:
                continue
            else:
                keyword = resolve_keyword(key)
                if _is_uid_attribute(keyword):
                    # PS3.18 8.3.4.1: a UID list may be comma separated
                    value = value.replace(",", "\\")
                if keyword in criteria and criteria[keyword] and value:
                    criteria[keyword] = criteria[keyword] + "\\" + value
                else:
                    criteria[keyword] = value or criteria.get(keyword, "")
        for keyword, value in fixed.items():
            given = criteria.get(keyword)
            if given and given != value:
                raise BadRequestError(
                    f"query parameter {keyword}={given[:64]!r} contradicts the {keyword} {value} in the URL"
                )
            criteria[keyword] = value
        capped = MAX_RESULTS if limit is None else min(limit, MAX_RESULTS)
        result = search_json(
            archive_of(request).catalog,
            level,
            criteria,
            include_fields=include,
            include_all=include_all,
            limit=capped,
            offset=offset,
            fuzzy=fuzzy,
        )
    except QueryError as exc:
        raise BadRequestError(str(exc)) from exc

    base = service_url(request)
    body = [_result_json(item, level, base) for item in result.items]
    headers = {}
    if result.more:
        headers["Warning"] = (
            f'299 {base}: "There are additional results that can be requested: '
            f'use offset={offset + len(body)}"'
        )
    return JSONResponse(body, media_type=DICOM_JSON, headers=headers)


def _first(item: dict[str, Any], tag: str) -> str | None:
    """The first value of an element of a result, if it has one."""
    values = item.get(tag, {}).get("Value")
    return str(values[0]) if values and values[0] else None


def _result_json(item: dict[str, Any], level: str, base: str) -> dict[str, Any]:
    """One result with its RetrieveURL (0008,1190), keys in tag order."""
    study = _first(item, "0020000D")
    url = None
    if level == "STUDY" and study:
        url = study_url(base, study)
    elif level == "SERIES" and study and (series := _first(item, "0020000E")):
        url = series_url(base, study, series)
    elif (
        level == "IMAGE"
        and study
        and (series := _first(item, "0020000E"))
        and (sop := _first(item, "00080018"))
    ):
        url = instance_url(base, study, series, sop)
    item["00081190"] = {"vr": "UR", "Value": [url]} if url else {"vr": "UR"}
    return dict(sorted(item.items()))


@router.get("/studies", summary="Search for studies (QIDO-RS)")
def search_studies(request: Request) -> JSONResponse:
    """Studies matching the query parameters."""
    return _search(request, "STUDY", {})


@router.get("/series", summary="Search for series (QIDO-RS)")
def search_all_series(request: Request) -> JSONResponse:
    """Series of any study matching the query parameters."""
    return _search(request, "SERIES", {})


@router.get("/studies/{study}/series", summary="Search for series of a study (QIDO-RS)")
def search_series(request: Request, study: str) -> JSONResponse:
    """Series of one study matching the query parameters."""
    return _search(request, "SERIES", {"StudyInstanceUID": check_uid(study, "StudyInstanceUID")})


@router.get("/instances", summary="Search for instances (QIDO-RS)")
def search_all_instances(request: Request) -> JSONResponse:
    """Instances of any study matching the query parameters."""
    return _search(request, "IMAGE", {})


@router.get("/studies/{study}/instances", summary="Search for instances of a study (QIDO-RS)")
def search_study_instances(request: Request, study: str) -> JSONResponse:
    """Instances of one study matching the query parameters."""
    return _search(request, "IMAGE", {"StudyInstanceUID": check_uid(study, "StudyInstanceUID")})


@router.get(
    "/studies/{study}/series/{series}/instances",
    summary="Search for instances of a series (QIDO-RS)",
)
def search_series_instances(request: Request, study: str, series: str) -> JSONResponse:
    """Instances of one series matching the query parameters."""
    return _search(
        request,
        "IMAGE",
        {
            "StudyInstanceUID": check_uid(study, "StudyInstanceUID"),
            "SeriesInstanceUID": check_uid(series, "SeriesInstanceUID"),
        },
    )
