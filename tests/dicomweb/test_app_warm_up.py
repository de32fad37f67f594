"""The server builds its routes before the first request, and the warm-up leaves no trace in the metrics."""

from __future__ import annotations

import asyncio

import pytest

from radhub.api import create_app, warm_up_routes


def test_warm_up_builds_every_route_so_requests_build_none(sqlite_archive, monkeypatch):
    routing = pytest.importorskip("fastapi.routing")
    included = getattr(routing, "_IncludedRouter", None)
    if included is None or not hasattr(included, "_build_effective_context"):
        pytest.skip("this FastAPI builds routes eagerly")
    builds: list[str] = []
    real = included._build_effective_context
    monkeypatch.setattr(
        included, "_build_effective_context", lambda self, route: (builds.append(repr(route)), real(self, route))[1]
    )
    app = create_app(sqlite_archive)
    asyncio.run(warm_up_routes(app))
    warmed = len(builds)
    assert warmed > 20  # DICOMweb, upload, archive and stats routes
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        assert c.get("/dicomweb/studies").status_code == 200
        assert c.get("/api/archive/totals").status_code == 200
        assert c.post("/upload/", headers={"Tus-Resumable": "1.0.0"}).status_code in (400, 412, 413, 201)
    assert len(builds) == warmed
    text = sqlite_archive.metrics.render().decode()
    assert "radhub-warm-up" not in text and 'status="404"' not in text
