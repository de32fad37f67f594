"""The viewer's front server: one origin that serves OHIF and passes DICOMweb to the archive under test.

Both arms of the benchmark open the viewer through this server, started once
per arm with a different ``--dicomweb`` backend and nothing else different:

* ``/ohif/*`` (the viewer's files, its ``app-config.js``, its routes) is
  passed to the running radhub, so the browser gets byte-identical viewer
  files and configuration in both arms (the config points the viewer at
  ``window.location.origin + "/dicomweb"``, i.e. this server);
* ``/dicomweb/*`` and ``/dicom-web/*`` are passed to the backend's DICOMweb
  root (radhub's ``/dicomweb`` or Orthanc's ``/dicom-web``); the ``Host``
  header is kept so that both archives write this server's address into
  RetrieveURL / BulkDataURI values.

Requests and responses are streamed (no buffering), over a pool of keep-alive
connections to each backend. Run as ``python -m benchmarks.viewer._front
--port P --ohif URL --dicomweb URL`` (its own process: the browser's requests
must not share a GIL with the benchmark's driver).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from typing import Any

import httpx

_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade",
}


def make_app(ohif: str, dicomweb: str) -> Any:
    """The ASGI app: ``ohif`` is the base URL serving /ohif/, ``dicomweb`` the archive's DICOMweb root."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    client = httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits)
    dicomweb = dicomweb.rstrip("/")
    ohif = ohif.rstrip("/")

    async def forward(request: Request) -> Response:
        path = request.url.path
        if path.startswith("/ohif"):
            target = ohif + path
        elif path.startswith("/dicomweb/") or path.startswith("/dicom-web/"):
            target = dicomweb + "/" + path.split("/", 2)[2]
        elif path == "/healthz":
            return PlainTextResponse("ok")
        else:
            return PlainTextResponse("not found", status_code=404)
        if request.url.query:
            target += "?" + request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"]
        body = await request.body()
        upstream = await client.send(
            client.build_request(request.method, target, headers=headers, content=body or None), stream=True
        )
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw(256 * 1024):
                    yield chunk
            finally:
                await upstream.aclose()

        return StreamingResponse(chunks(), status_code=upstream.status_code, headers=out)

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m benchmarks.viewer._front", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ohif", required=True, help="base URL that serves /ohif/ (a running radhub)")
    p.add_argument("--dicomweb", required=True, help="the DICOMweb root of the archive under test")
    a = p.parse_args(argv)
    uvicorn.run(make_app(a.ohif, a.dicomweb), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
