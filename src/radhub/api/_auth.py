"""The HTTP side of identity: one ASGI middleware authenticates every request and applies the policy.

For each request it finds the credential (``Authorization: Bearer`` with a
radhub token, an OIDC token or an API key; ``X-API-Key``; the browser
session cookie), builds the :class:`radhub.identity.Principal`, checks the
one permission the route needs (:func:`required_permission`), checks the
CSRF token of cookie sessions on state-changing requests, and serves the
request inside :func:`radhub.identity.principal_context`, so that the
catalog's tenant filter, the retrieve path and ingest see the caller. No
handler checks access itself. It also sets security headers on every
response and audits reads of patient data.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool

from radhub.identity import ANONYMOUS, SYSTEM, AuthenticationError, Permission, Principal, principal_context

logger = logging.getLogger(__name__)

__all__ = ["AuthMiddleware", "SESSION_COOKIE", "CSRF_COOKIE", "required_permission"]

SESSION_COOKIE = "radhub_session"
CSRF_COOKIE = "radhub_csrf"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC = {
    "/healthz",
    "/openapi.json",
    "/api/docs",
    "/api/docs/oauth2-redirect",
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/",
    "/login",
    "/favicon.ico",
}
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
_CSP = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; style-src 'self' "
    b"'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; frame-ancestors 'none'"
)
_UIDS = re.compile(r"/(studies|series|instances)/([0-9.]{1,64})")


_PUBLIC_PREFIXES = ("/static/", "/vendor/", "/ohif")
"""The pages' own files and the OHIF viewer's (code, no data: the data comes over /dicomweb)."""


def _is_page(path: str) -> bool:
    """A page of radhub.web: without a valid session it redirects to the log-in page."""
    from radhub.web import PAGE_PREFIXES

    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def required_permission(method: str, path: str) -> Permission | None:
    """The one permission a request needs (``None``: public)."""
    if path in _PUBLIC or path.startswith(_PUBLIC_PREFIXES):
        return None
    safe = method in _SAFE
    if path.startswith("/dicomweb"):
        return Permission.READ if safe else Permission.WRITE
    if path.startswith("/upload"):
        return Permission.WRITE
    if path == "/metrics":
        return Permission.METRICS
    if path.startswith("/api/v1/audit"):
        return Permission.AUDIT
    if path.startswith("/api/v1/orgs"):
        return Permission.USE if safe else Permission.ORG_ADMIN
    if path.startswith(("/api/v1/users", "/api/v1/apikeys", "/api/v1/shares")):
        return Permission.ORG_ADMIN
    if path.startswith("/api/v1/studies"):
        return Permission.READ if safe else Permission.GRADE
    if path.startswith(("/api/checks", "/api/conflicts", "/api/archive")):
        return Permission.READ
    return Permission.USE


def _headers(scope: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", []):
        out[k.decode("latin-1").lower()] = v.decode("latin-1")
    return out


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


class AuthMiddleware:
    """See the module docstring. ``archive.settings.auth`` off serves everyone as :data:`SYSTEM`."""

    def __init__(self, app: Any, archive: Any, warm_up_key: str) -> None:
        self.app = app
        self.archive = archive
        self.enabled = bool(archive.settings.auth)
        self.secure = bool(archive.settings.secure_cookies)
        self._warm_up = warm_up_key

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._warm_up in scope.get("extensions", {}):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        client = scope.get("client") or ("", 0)
        source = str(client[0] or "")
        status = [0]
        docs = path.startswith("/api/docs")

        async def send_secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _DOCS_CSP if docs else _CSP))
                if path.startswith("/api/v1/auth"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        if not self.enabled:
            with principal_context(SYSTEM.with_source(source)):
                await self.app(scope, receive, send_secured)
            return
        need = required_permission(method, path)
        if need is None or (method == "OPTIONS" and "access-control-request-method" in _headers(scope)):
            await self.app(scope, receive, send_secured)
            return
        headers = _headers(scope)
        try:
            principal = await run_in_threadpool(self._authenticate, headers, source)
        except AuthenticationError as exc:
            self._audit_denied(path, method, source, str(exc))
            if method in ("GET", "HEAD") and _is_page(path):
                await _to_login(send_secured, scope, expired=SESSION_COOKIE in _cookies(headers.get("cookie", "")))
                return
            await _json(send_secured, 401, str(exc), [(b"www-authenticate", b'Bearer realm="radhub"')])
            return
        if principal.via == "cookie" and method not in _SAFE:
            sent = headers.get("x-csrf-token", "")
            if not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
                self._audit_denied(path, method, source, "csrf", principal)
                await _json(send_secured, 403, "missing or wrong X-CSRF-Token header for a cookie session")
                return
        if not principal.can(need):
            self._audit_denied(path, method, source, f"needs {need.value}", principal)
            await _json(send_secured, 403, f"your roles do not allow this ({need.value} is needed)")
            return
        with principal_context(principal):
            try:
                await self.app(scope, receive, send_secured)
            finally:
                self._audit_request(path, method, status[0], principal)

    def _authenticate(self, headers: dict[str, str], source: str) -> Principal:
        auth = self.archive.auth
        value = headers.get("authorization", "")
        if value:
            kind, _, token = value.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                raise AuthenticationError("use Authorization: Bearer <token or API key>")
            return auth.bearer(token.strip(), source=source)
        if headers.get("x-api-key"):
            return auth.api_key(headers["x-api-key"].strip(), source=source)
        session = _cookies(headers.get("cookie", "")).get(SESSION_COOKIE)
        if session:
            return auth.cookie(session, source=source)
        raise AuthenticationError("authentication required: log in, or send a bearer token or an API key")

    def _audit_denied(self, path: str, method: str, source: str, reason: str, principal: Principal | None = None) -> None:
        self.archive.record(
            "access.denied",
            outcome="denied",
            principal=principal or ANONYMOUS,
            source=source,
            object_type="http",
            object_ids=tuple(u for _, u in _UIDS.findall(path)),
            detail={"method": method, "path": _template(path), "reason": reason[:120]},
        )

    def _audit_request(self, path: str, method: str, status: int, principal: Principal) -> None:
        """Reads of patient data (DICOMweb, uploads' status, checks); writes are audited where they happen."""
        if method not in _SAFE or method == "OPTIONS":
            return
        if not path.startswith(("/dicomweb", "/api/checks", "/api/conflicts", "/upload")):
            return
        uids = _UIDS.findall(path)
        studies = tuple(u for level, u in uids if level == "studies")
        query = not uids or path.rstrip("/").endswith(("/studies", "/series", "/instances"))
        action = "query" if query and path.startswith("/dicomweb") else "study.read"
        self.archive.record(
            action,
            outcome="success" if status < 400 else "failure",
            object_type="http",
            object_ids=tuple(u for _, u in uids),
            study_uids=studies,
            detail={"method": method, "path": _template(path), "status": status},
        )


def _template(path: str) -> str:
    """The path with UIDs and ids replaced (``/dicomweb/studies/{uid}/...``): no identifiers in free text."""
    path = _UIDS.sub(lambda m: f"/{m.group(1)}/{{uid}}", path)
    return re.sub(r"/[0-9a-f]{32}(?=/|$)", "/{id}", path)[:200]


async def _to_login(send: Any, scope: Any, *, expired: bool) -> None:
    """A page without a (valid) session: log in, then come back to it."""
    from urllib.parse import quote

    target = scope.get("path", "/")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    location = "/login?" + ("expired=1&" if expired else "") + "next=" + quote(target, safe="")
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _json(send: Any, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
