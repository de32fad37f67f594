"""``/api/v1``: log in (OAuth2 password flow, refresh, browser sessions) and administer identity.

Thin handlers over :class:`radhub.identity.Authenticator` and
:class:`radhub.identity.Administration`; the middleware has already
authenticated the caller and checked the route's permission.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from radhub.api._auth import CSRF_COOKIE, SESSION_COOKIE
from radhub.identity import (
    Administration,
    AuthenticationError,
    IdentityError,
    Throttled,
    current_principal,
)

__all__ = ["identity_error", "router"]

router = APIRouter()


def _archive(request: Request) -> Any:
    return request.app.state.archive


def _admin(request: Request) -> Administration:
    archive = _archive(request)
    return Administration(archive.directory, current_principal(), archive.record)


async def identity_error(_request: Request, exc: Exception) -> JSONResponse:
    """The answer to an :class:`IdentityError` raised by any handler: its status and message."""
    assert isinstance(exc, IdentityError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


async def _login(request: Request, username: str, password: str) -> Any:
    archive = _archive(request)
    source = _source(request)
    try:
        return await run_in_threadpool(archive.auth.login, username, password, source=source)
    except Throttled as exc:
        archive.record("login.throttled", outcome="denied", object_type="user", object_ids=(username[:64],), source=source)
        return JSONResponse({"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)})
    except AuthenticationError as exc:
        archive.record("login.failed", outcome="failure", object_type="user", object_ids=(username[:64],), source=source)
        return JSONResponse(
            {"error": "invalid_grant", "detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )


@router.post("/auth/token", response_model=TokenResponse, tags=["auth"])
async def token(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    grant_type: Annotated[str, Form()] = "password",
    refresh_token: Annotated[str, Form()] = "",
) -> Any:
    """OAuth2 token endpoint: ``grant_type=password`` (username, password) or ``refresh_token``."""
    if grant_type == "refresh_token":
        return await refresh(request, refresh_token)
    if grant_type != "password":
        return JSONResponse({"error": "unsupported_grant_type", "detail": f"grant_type {grant_type!r}"}, status_code=400)
    if not username or not password:
        return JSONResponse({"error": "invalid_request", "detail": "username and password are required"}, status_code=400)
    user = await _login(request, username, password)
    if isinstance(user, Response):
        return user
    archive = _archive(request)
    tokens = await run_in_threadpool(archive.auth.issue, user)
    archive.record("login", object_type="user", object_ids=(user.username,), source=_source(request), detail={"method": "password"})
    return tokens


@router.post("/auth/refresh", response_model=TokenResponse, tags=["auth"])
async def refresh(request: Request, refresh_token: Annotated[str, Form()] = "") -> Any:
    """A new token pair for a refresh token (each refresh token works once)."""
    if not refresh_token:
        return JSONResponse({"error": "invalid_request", "detail": "refresh_token is required"}, status_code=400)
    try:
        return await run_in_threadpool(_archive(request).auth.refresh, refresh_token)
    except AuthenticationError as exc:
        return JSONResponse({"error": "invalid_grant", "detail": str(exc)}, status_code=401)


@router.post("/auth/login", tags=["auth"])
async def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> Any:
    """Browser log-in: sets an HttpOnly SameSite session cookie and a CSRF cookie (send it back as X-CSRF-Token)."""
    if not username or not password:
        return JSONResponse({"detail": "username and password are required"}, status_code=400)
    user = await _login(request, username, password)
    if isinstance(user, Response):
        return user
    archive = _archive(request)
    session, csrf = archive.auth.session(user)
    archive.record("login", object_type="user", object_ids=(user.username,), source=_source(request), detail={"method": "cookie"})
    resp = JSONResponse({"username": user.username, "csrf_token": csrf})
    secure = bool(archive.settings.secure_cookies)
    max_age = archive.auth.refresh_ttl
    resp.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", secure=secure, max_age=max_age, path="/")
    resp.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", secure=secure, max_age=max_age, path="/")
    return resp


@router.post("/auth/logout", tags=["auth"])
def logout() -> Any:
    """Clear the session cookies."""
    resp = JSONResponse({"detail": "logged out"})
    resp.delete_cookie(SESSION_COOKIE, path="/")
    resp.delete_cookie(CSRF_COOKIE, path="/")
    return resp


@router.get("/auth/me", tags=["auth"])
def me() -> dict[str, Any]:
    """Who the credential belongs to: name, organisation, roles, permissions."""
    p = current_principal()
    return {
        "kind": p.kind,
        "name": p.name,
        "org": p.org_code,
        "roles": sorted(p.roles),
        "permissions": sorted(x.value for x in p.permissions),
    }


# -- organisations ---------------------------------------------------------
class OrgIn(BaseModel):
    name: str
    kind: str = Field(description="requesting, reading or platform")
    code: str | None = None
    parent: str | None = None
    ae_titles: list[str] = []


class AeIn(BaseModel):
    ae_title: str


class DestinationIn(BaseModel):
    ae_title: str
    host: str
    port: int


@router.get("/orgs", tags=["admin"])
def list_orgs(request: Request) -> list[dict[str, Any]]:
    return [o.to_dict() for o in _admin(request).orgs()]


@router.post("/orgs", status_code=201, tags=["admin"])
def create_org(request: Request, body: OrgIn) -> Any:
    org = _admin(request).create_org(body.name, kind=body.kind, code=body.code, parent=body.parent, ae_titles=tuple(body.ae_titles))
    return org.to_dict()


@router.get("/orgs/{ref}", tags=["admin"])
def get_org(request: Request, ref: str) -> Any:
    return _admin(request).org(ref).to_dict()


@router.post("/orgs/{ref}/ae-titles", status_code=201, tags=["admin"])
def add_ae(request: Request, ref: str, body: AeIn) -> Any:
    _admin(request).add_ae(ref, body.ae_title)
    return {"org": ref, "ae_title": body.ae_title.strip()}


@router.post("/orgs/{ref}/destinations", status_code=201, tags=["admin"])
def add_destination(request: Request, ref: str, body: DestinationIn) -> Any:
    _admin(request).add_destination(ref, body.ae_title, body.host, body.port)
    return {"org": ref, **body.model_dump()}


# -- users -----------------------------------------------------------------
class UserIn(BaseModel):
    username: str
    password: str | None = Field(default=None, description="at least 10 characters; none for OIDC-only users")
    roles: list[str]
    org: str | None = Field(default=None, description="default: the caller's organisation")
    title: str = ""
    licences: list[str] = []
    keywords: list[str] = Field(default=[], description="up to three, in order: primary, secondary, third")
    oidc_subject: str | None = None


@router.get("/users", tags=["admin"])
def list_users(request: Request, org: str | None = None) -> Any:
    return [u.to_dict() for u in _admin(request).users(org)]


@router.post("/users", status_code=201, tags=["admin"])
def create_user(request: Request, body: UserIn) -> Any:
    user = _admin(request).create_user(
        body.org, body.username, body.password, roles=body.roles, title=body.title, licences=body.licences,
        keywords=body.keywords, oidc_subject=body.oidc_subject,
    )
    return user.to_dict()


@router.post("/users/{username}/disable", tags=["admin"])
def disable_user(request: Request, username: str) -> Any:
    return _admin(request).set_disabled(username, True).to_dict()


@router.post("/users/{username}/enable", tags=["admin"])
def enable_user(request: Request, username: str) -> Any:
    return _admin(request).set_disabled(username, False).to_dict()


# -- API keys --------------------------------------------------------------
class ApiKeyIn(BaseModel):
    name: str
    roles: list[str] = ["gateway"]
    org: str | None = None
    days: int | None = Field(default=None, ge=1, le=3650)


@router.get("/apikeys", tags=["admin"])
def list_keys(request: Request, org: str | None = None) -> Any:
    return [k.to_dict() for k in _admin(request).api_keys(org)]


@router.post("/apikeys", status_code=201, tags=["admin"])
def create_key(request: Request, body: ApiKeyIn) -> Any:
    """A new API key; its secret is in ``key`` and is shown only this once."""
    key, secret = _admin(request).create_api_key(body.org, body.name, roles=body.roles, days=body.days)
    return {**key.to_dict(), "key": secret}


@router.delete("/apikeys/{key_id}", tags=["admin"])
def revoke_key(request: Request, key_id: str) -> Any:
    _admin(request).revoke_api_key(key_id)
    return {"key_id": key_id, "revoked": True}


# -- shares ----------------------------------------------------------------
class ShareIn(BaseModel):
    study_uid: str
    org: str
    days: float = Field(default=30, gt=0, le=3650)
    reason: str = ""


@router.get("/shares", tags=["admin"])
def list_shares(request: Request) -> Any:
    return _admin(request).shares()


@router.post("/shares", status_code=201, tags=["admin"])
def create_share(request: Request, body: ShareIn) -> Any:
    return _admin(request).share(body.study_uid, body.org, days=body.days, reason=body.reason)


@router.delete("/shares/{share_id}", tags=["admin"])
def revoke_share(request: Request, share_id: int) -> Any:
    _admin(request).revoke_share(share_id)
    return {"id": share_id, "revoked": True}
