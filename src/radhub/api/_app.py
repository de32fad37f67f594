"""The FastAPI application: a thin HTTP adapter over the archive.

Routers: ``/dicomweb`` (STOW/QIDO/WADO-RS, radhub.api.dicomweb),
``/upload`` (tus 1.0 resumable upload, radhub.api.upload),
``/api`` (radhub's own JSON API: checks, stats ...), plus ``/healthz`` and
``/metrics``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware

from radhub.archive import Archive

logger = logging.getLogger(__name__)

__all__ = ["create_app", "warm_up_routes"]


def _template(scope: Any) -> str:
    """The path template of the route that served the request (``unmatched`` if none did).

    The matched route may sit in an included router whose prefix is not part
    of its own template: the prefix is the part of the request path before
    what the route's pattern matches.
    """
    route = scope.get("route")
    template, regex = getattr(route, "path", None), getattr(route, "path_regex", None)
    if not template or regex is None:
        return "unmatched"
    path = scope.get("path", "")
    if regex.match(path):
        return str(template)
    for i, ch in enumerate(path):
        if ch == "/" and i and regex.match(path[i:]):
            return path[:i] + str(template)
    return str(template)


class _LatencyMiddleware:
    """Observe each HTTP request's latency by method, route template and status (plain ASGI).

    The route is the one FastAPI matched (``scope["route"]``), so nothing is
    matched twice; the time runs until the last body byte has been sent.
    """

    def __init__(self, app: Any, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _WARM_UP in scope.get("extensions", {}):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _template(scope)
            self.metrics.request_latency.labels(
                method=scope.get("method", ""), route=route, status=str(status[0])
            ).observe(time.perf_counter() - start)


def create_app(archive: Archive) -> FastAPI:
    """Build the HTTP application for ``archive``."""
    app = FastAPI(
        title="radhub", version="0.1.0", docs_url="/api/docs", redoc_url=None, openapi_url="/openapi.json",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect"
    )
    app.state.archive = archive
    app.state.ready = True
    from radhub.api._auth import AuthMiddleware

    app.add_middleware(AuthMiddleware, archive=archive, warm_up_key=_WARM_UP)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
    )

    app.add_middleware(_LatencyMiddleware, metrics=archive.metrics)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        # only the platform's admins and monitor keys get here (metrics.read): the figures are
        # the whole archive's, and carry no UIDs or patient data as labels
        from radhub.catalog import tenant_scope

        with tenant_scope(None):
            body = archive.metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    for include in _ROUTERS:
        include(app)
    _declare_security(app)
    return app


def _declare_security(app: FastAPI) -> None:
    """OpenAPI names the credentials the middleware takes (Swagger UI's "Authorize" then works)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "oauth2": {
                "type": "oauth2",
                "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "refreshUrl": "/api/v1/auth/refresh", "scopes": {}}},
            },
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "session": {"type": "apiKey", "in": "cookie", "name": "radhub_session"},
        }
        schema["security"] = [{"oauth2": []}, {"apiKey": []}, {"session": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _include_dicomweb(app: FastAPI) -> None:
    from radhub.api.dicomweb import router

    app.include_router(router, prefix="/dicomweb")


def _include_upload(app: FastAPI) -> None:
    from radhub.api.upload import router

    app.include_router(router, prefix="/upload")


def _include_api(app: FastAPI) -> None:
    from radhub.api.archive import router as archive_router
    from radhub.api.stats import router as stats_router

    app.include_router(archive_router, prefix="/api")
    app.include_router(stats_router, prefix="/api")


def _include_v1(app: FastAPI) -> None:
    from radhub.api.audit import router as audit_router
    from radhub.api.identity import identity_error
    from radhub.api.identity import router as identity_router
    from radhub.api.studies import router as studies_router
    from radhub.identity import IdentityError

    app.add_exception_handler(IdentityError, identity_error)
    app.include_router(identity_router, prefix="/api/v1")
    app.include_router(audit_router, prefix="/api/v1")
    app.include_router(studies_router, prefix="/api/v1")


def _include_web(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    from radhub.web import STATIC_DIR, WebAssets
    from radhub.web import router as web_router

    app.state.web_assets = WebAssets.default()
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(web_router)


_ROUTERS = [_include_dicomweb, _include_upload, _include_api, _include_v1, _include_web]
_WARM_UP = "radhub.warm_up"


async def warm_up_routes(app: Any) -> None:
    """Match one request that no route serves, before serving.

    FastAPI builds an included router's routes (dependency analysis,
    pydantic adapters) when the first request is matched against them:
    tens of milliseconds of CPU (more on a loaded machine) that would land
    on the first clients. A path that matches nothing makes every router try,
    and so build, every route; the answer (404) is dropped and not counted
    in the metrics.
    """

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    path = "/.radhub-warm-up"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "extensions": {_WARM_UP: True},
    }
    await app(scope, receive, send)
