"""The page routes. Thin: each page asks the engines the APIs use and renders a template.

Access: the auth middleware treats these paths as pages (``PAGE_PREFIXES``):
without a valid session it redirects to ``/login?next=...`` instead of
answering 401, and it sets the principal the tenant filter reads, so a page
shows exactly what the same user gets over DICOMweb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from radhub.identity import current_principal
from radhub.web._assets import OHIF_BASE, WebAssets, ohif_app_config

__all__ = ["router", "PAGE_PREFIXES", "STATIC_DIR", "VIEWER_CSP"]

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
templates = Jinja2Templates(directory=str(_HERE / "templates"))
router = APIRouter(include_in_schema=False)

PAGE_PREFIXES = ("/studies", "/admin", "/send")
"""Paths of pages that need a logged-in user (``/``, ``/login``, ``/static`` and ``/ohif`` are public files)."""

VIEWER_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval' blob:; "
    b"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    b"connect-src 'self' data: blob:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
"""OHIF's bundles need inline and eval'd scripts, WebAssembly (codecs) and blob: workers."""

PAGE_SIZE = 25
_SORTS = {
    "date": "StudyDate",
    "name": "PatientName",
    "id": "PatientID",
    "accession": "AccessionNumber",
    "description": "StudyDescription",
}


def _assets(request: Request) -> WebAssets:
    return request.app.state.web_assets  # type: ignore[no-any-return]


def _dist_response(assets: WebAssets, path: Path, headers: dict[str, str]) -> Response:
    """A file of OHIF's dist, cacheable (its names carry content hashes); .wasm as application/wasm."""
    headers = {**headers, "cache-control": "public, max-age=3600"}
    moved = assets.ohif_relocated(path)
    if moved is not None:
        media = "text/css" if path.suffix == ".css" else "text/javascript"
        return Response(moved, media_type=media, headers=headers)
    media = "application/wasm" if path.suffix == ".wasm" else None
    return FileResponse(path, media_type=media, headers=headers)


def _archive(request: Request) -> Any:
    return request.app.state.archive


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    principal = current_principal()
    context.setdefault("title", "radhub")
    return templates.TemplateResponse(
        request,
        name,
        {"principal": principal, "auth": bool(_archive(request).settings.auth), "ohif_base": OHIF_BASE, **context},
    )


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    value = values[0]
    if isinstance(value, dict):  # a person name
        return value.get("Alphabetic", "")
    return value


def _person(name: Any) -> str:
    """A DICOM person name as people write it: DOE^JOHN^^DR -> DOE, JOHN DR."""
    parts = str(name or "").split("^")
    family, rest = parts[0], " ".join(p for p in parts[1:] if p)
    return f"{family}, {rest}" if family and rest else family or rest


def _date(value: Any) -> str:
    """YYYYMMDD as YYYY-MM-DD (anything else as it is)."""
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _safe_next(target: str | None) -> str:
    """Only a local path (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/studies"
    return target


# -- log-in ----------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    """The log-in page, or the study list for a logged-in user."""
    if _logged_in(request):
        return RedirectResponse("/studies", status_code=303)
    return _render(request, "login.html", next="/studies", title="radhub: log in")


@router.get("/login")
def login_page(request: Request, next: str | None = None, expired: bool = False) -> Response:
    return _render(
        request, "login.html", next=_safe_next(next), expired=expired, title="radhub: log in"
    )


def _logged_in(request: Request) -> bool:
    archive = _archive(request)
    if not archive.settings.auth:
        return True
    from radhub.api._auth import SESSION_COOKIE
    from radhub.identity import AuthenticationError

    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return False
    try:
        archive.auth.cookie(session, source=request.client.host if request.client else "")
    except AuthenticationError:
        return False
    return True


# -- studies ---------------------------------------------------------------
@router.get("/studies")
def study_list(request: Request) -> Response:
    """Study list: search, paging and sorting through the QIDO engine (tenant-filtered)."""
    from radhub.catalog import QueryError, search_json
    from radhub.ingest import CHECK_CODES

    q = request.query_params
    criteria: dict[str, str] = {
        "StudyDate": "",
        "PatientName": "",
        "PatientID": "",
        "AccessionNumber": "",
        "ModalitiesInStudy": "",
        "StudyDescription": "",
    }
    name = q.get("name", "").strip()
    if name:
        criteria["PatientName"] = name if any(c in name for c in "*?") else f"*{name}*"
    if q.get("pid", "").strip():
        criteria["PatientID"] = q["pid"].strip()
    if q.get("accession", "").strip():
        criteria["AccessionNumber"] = q["accession"].strip()
    if q.get("modality", "").strip():
        criteria["ModalitiesInStudy"] = q["modality"].strip().upper()
    date_from = q.get("from", "").replace("-", "").strip()
    date_to = q.get("to", "").replace("-", "").strip()
    if date_from or date_to:
        criteria["StudyDate"] = f"{date_from}-{date_to}"
    flag = q.get("flag", "").strip() or None
    if flag is not None and flag != "any" and flag not in CHECK_CODES:
        flag = None
    sort_key = q.get("sort", "date")
    descending = q.get("dir", "desc") != "asc"
    column = _SORTS.get(sort_key, "StudyDate")
    try:
        page = max(1, int(q.get("page", "1")))
    except ValueError:
        page = 1
    error = None
    items: list[dict[str, Any]] = []
    more = False
    try:
        result = search_json(
            _archive(request).catalog,
            "STUDY",
            criteria,
            include_fields=["NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"],
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            sort=[("-" if descending else "") + column],
            flagged=flag,
        )
        more = result.more
        for item in result.items:
            items.append(
                {
                    "uid": _value(item, "0020000D"),
                    "name": _person(_value(item, "00100010")),
                    "pid": _value(item, "00100020") or "",
                    "date": _date(_value(item, "00080020")),
                    "accession": _value(item, "00080050") or "",
                    "description": _value(item, "00081030") or "",
                    "modalities": "/".join(item.get("00080061", {}).get("Value") or []),
                    "series": _value(item, "00201206") or 0,
                    "instances": _value(item, "00201208") or 0,
                }
            )
    except QueryError as exc:
        error = str(exc)
    flags = _archive(request).catalog.check_counts_by_study([i["uid"] for i in items]) if items else {}
    grades = _archive(request).catalog.quality_grades([i["uid"] for i in items]) if items else {}
    for i in items:
        i["flags"] = flags.get(i["uid"], 0)
        i["grade"] = grades[i["uid"]][0]["grade"] if i["uid"] in grades else None
    keep = {k: v for k, v in q.items() if k not in ("page",) and v}

    def link(**change: Any) -> str:
        return "/studies?" + urlencode({**keep, **{k: v for k, v in change.items() if v is not None}})

    return _render(
        request,
        "studies.html",
        title="radhub: studies",
        studies=items,
        query=q,
        page=page,
        more=more,
        error=error,
        sort=sort_key,
        descending=descending,
        check_codes=CHECK_CODES,
        link=link,
    )


def _study_or_404(request: Request, study: str) -> dict[str, Any]:
    from radhub.catalog import QueryError, search_json

    try:
        found = search_json(
            _archive(request).catalog,
            "STUDY",
            {"StudyInstanceUID": study},
            include_fields=["StudyDescription", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances",
                            "ModalitiesInStudy", "PatientBirthDate", "PatientSex", "ReferringPhysicianName"],
            limit=1,
        ).items
    except QueryError:
        found = []
    if not found:
        raise HTTPException(404, "no such study")  # another site's study is not there either
    return found[0]


@router.get("/studies/{study}")
def study_page(request: Request, study: str) -> Response:
    """Series, instance counts, thumbnails, ingest-check flags and the viewer link."""
    from radhub.catalog import search_json

    item = _study_or_404(request, study)
    series = search_json(
        _archive(request).catalog,
        "SERIES",
        {"StudyInstanceUID": study, "SeriesDescription": "", "BodyPartExamined": ""},
        include_fields=["NumberOfSeriesRelatedInstances"],
        limit=1000,
    ).items
    rows = []
    for s in series:
        rows.append(
            {
                "uid": _value(s, "0020000E"),
                "number": _value(s, "00200011"),
                "modality": _value(s, "00080060") or "",
                "description": _value(s, "0008103E") or "",
                "body_part": _value(s, "00180015") or "",
                "instances": _value(s, "00201209") or 0,
            }
        )
    rows.sort(key=lambda r: (r["number"] is None, r["number"] or 0))
    checks = _archive(request).catalog.checks(study_uid=study, limit=10_000)
    first_sop = _archive(request).catalog.first_instances(study)
    for r in rows:
        r["first_sop"] = first_sop.get(r["uid"])
    counts: dict[str, int] = {}
    for c in checks:
        for code in c["checks"]:
            counts[code] = counts.get(code, 0) + 1
    study_info = {
        "uid": study,
        "name": _person(_value(item, "00100010")),
        "pid": _value(item, "00100020") or "",
        "birth": _date(_value(item, "00100030")),
        "sex": _value(item, "00100040") or "",
        "date": _date(_value(item, "00080020")),
        "accession": _value(item, "00080050") or "",
        "description": _value(item, "00081030") or "",
        "referring": _value(item, "00080090") or "",
        "modalities": "/".join(item.get("00080061", {}).get("Value") or []),
        "instances": _value(item, "00201208") or 0,
    }
    from radhub.catalog import QUALITY_GRADES
    from radhub.identity import Permission

    grades = _archive(request).catalog.quality_grades([study], history=True).get(study, [])
    return _render(
        request,
        "study.html",
        title="radhub: study",
        study=study_info,
        series=rows,
        checks=checks,
        check_counts=counts,
        viewer=_assets(request).has_ohif,
        grades=grades,
        scale=QUALITY_GRADES,
        can_grade=current_principal().can(Permission.GRADE),
    )


@router.get("/studies/{study}/series/{series}/instances/{sop}/header")
def header_page(request: Request, study: str, series: str, sop: str) -> Response:
    """The DICOM header browser: every element, nested sequences, private tags; filter by keyword or tag."""
    from radhub.retrieve import Retriever

    retriever = Retriever(_archive(request))
    found = retriever.find(study_uid=study, series_uid=series, sop_uid=sop)
    if not found:
        raise HTTPException(404, "no such instance")
    ds = retriever.dataset(found[0], stop_before_pixels=True)
    rows: list[dict[str, Any]] = []
    if getattr(ds, "file_meta", None):
        _walk(ds.file_meta, 0, rows)
    _walk(ds, 0, rows)
    return _render(
        request, "header.html", title="radhub: DICOM header", rows=rows, study=study, series=series, sop=sop
    )


def _walk(ds: Any, depth: int, rows: list[dict[str, Any]]) -> None:
    for elem in ds:
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or ("private: " + (elem.private_creator or "") if elem.tag.is_private else "")
        if elem.VR == "SQ":
            rows.append({"depth": depth, "tag": tag, "keyword": keyword or elem.name, "vr": "SQ",
                         "value": f"{len(elem.value)} item(s)", "private": elem.tag.is_private})
            for n, item in enumerate(elem.value, 1):
                rows.append({"depth": depth + 1, "tag": "", "keyword": f"item {n}", "vr": "", "value": "",
                             "private": False})
                _walk(item, depth + 2, rows)
            continue
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag.group == 0x7FE0:
            length = len(elem.value) if elem.value is not None else 0
            value = f"<{length} bytes>"
        else:
            value = str(elem.value)
            if len(value) > 200:
                value = value[:200] + " ..."
        rows.append({"depth": depth, "tag": tag, "keyword": keyword or elem.name, "vr": elem.VR, "value": value,
                     "private": elem.tag.is_private})


# -- admin -----------------------------------------------------------------
@router.get("/admin")
def admin_page(request: Request) -> Response:
    """Organisations, users and AE titles the caller may administer (the same rules as /api/v1)."""
    from radhub.identity import Administration, IdentityError

    archive = _archive(request)
    if not archive.settings.auth:
        return _render(request, "admin.html", title="radhub: admin", disabled=True, orgs=[], users=[], aes={})
    admin = Administration(archive.directory, current_principal(), archive.record)
    try:
        orgs = admin.orgs()
        users = admin.users()
    except IdentityError as exc:
        error = (
            "This page is for site and platform administrators: your account has no administrator role."
            if exc.status == 403
            else str(exc)
        )
        return _render(request, "admin.html", title="radhub: admin", error=error, orgs=[], users=[], aes={})
    names = {o.pk: o for o in orgs}
    aes = {ae: names[pk].code for ae, pk in archive.directory.ae_titles().items() if pk in names}
    return _render(request, "admin.html", title="radhub: admin", orgs=orgs, users=users, aes=aes, org_names=names)


# -- upload ----------------------------------------------------------------
@router.get("/send")
def send_page(request: Request) -> Response:
    """Upload a study from the browser (tus, resumable)."""
    assets = _assets(request)
    return _render(
        request, "send.html", title="radhub: send a study",
        tus=assets.vendor("tus.min.js") is not None, sha256=assets.vendor("sha256.min.js") is not None,
    )


@router.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it at the root whatever the page says."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})


@router.get("/vendor/{name}")
def vendor(request: Request, name: str) -> Response:
    """tus-js-client and js-sha256 from npm (``WebAssets.vendor``)."""
    path = _assets(request).vendor(name)
    if path is None:
        raise HTTPException(404, f"{name} is not installed: run scripts/setup.sh (needs npm)")
    return FileResponse(path, media_type="text/javascript")


# -- the OHIF viewer -------------------------------------------------------
@router.get(OHIF_BASE)
def ohif_root() -> Response:
    return RedirectResponse(OHIF_BASE + "/", status_code=307)


@router.get(OHIF_BASE + "/{rel:path}")
def ohif(request: Request, rel: str) -> Response:
    """OHIF's files, its generated app-config.js, and its index.html for every route of the viewer."""
    assets = _assets(request)
    headers = {"content-security-policy": VIEWER_CSP.decode()}
    if not assets.has_ohif:
        return _render(request, "no_viewer.html", title="radhub: viewer not installed")
    if rel == "app-config.js":
        return Response(ohif_app_config(), media_type="text/javascript", headers={**headers, "cache-control": "no-cache"})
    path = assets.ohif_file(rel)
    if path is not None:
        return _dist_response(assets, path, headers)
    if "." in rel.rsplit("/", 1)[-1]:
        raise HTTPException(404, "no such file")
    return HTMLResponse(assets.ohif_index, headers={**headers, "cache-control": "no-cache"})
