"""The FastAPI application: a thin HTTP adapter over the archive.

Routers: ``/dicomweb`` (STOW/QIDO/WADO-RS, radhub.api.dicomweb),
``/upload`` (tus 1.0 resumable upload, radhub.api.upload),
``/api`` (radhub's own JSON API: checks, stats ...), plus ``/healthz`` and
``/metrics``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import Match

from radhub.archive import Archive

logger = logging.getLogger(__name__)

__all__ = ["create_app"]


def _route_name(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return getattr(route, "path", "unmatched")
    return "unmatched"


def create_app(archive: Archive) -> FastAPI:
    """Build the HTTP application for ``archive``."""
    app = FastAPI(title="radhub", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.archive = archive
    app.state.ready = True
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["*"],
    )

    @app.middleware("http")
    async def _latency(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        archive.metrics.request_latency.labels(
            method=request.method, route=_route_name(request), status=str(response.status_code)
        ).observe(time.perf_counter() - start)
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(archive.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    for include in _ROUTERS:
        include(app)
    return app


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


_ROUTERS = [_include_dicomweb, _include_upload, _include_api]
