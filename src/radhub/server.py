"""Run radhub: the HTTP API and the DIMSE server in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

import uvicorn

from radhub.api import create_app, warm_up_routes
from radhub.archive import Archive
from radhub.config import Settings
from radhub.net import DicomServer

logger = logging.getLogger(__name__)

__all__ = ["run"]


def run(settings: Settings, *, on_ready: Any = None) -> None:
    """Open the archive, start the DIMSE server and serve HTTP until stopped."""
    archive = Archive.open(settings)
    # Start the parser processes (they import and exercise the parsing code)
    # while the app is built, and listen only once they are ready: otherwise
    # their second or two of start-up CPU lands on the first objects received.
    warm_up = threading.Thread(target=_warm_up, args=(archive,), name="parser-warm-up", daemon=True)
    warm_up.start()
    app = create_app(archive)
    asyncio.run(warm_up_routes(app))
    warm_up.join(timeout=_WARM_UP_TIMEOUT)
    dimse = DicomServer(archive)
    dimse.start()
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    logger.info(
        "radhub ready: http://%s:%d/dicomweb, DICOM %s@%s:%d, data in %s",
        settings.http_host,
        settings.http_port,
        settings.ae_title,
        settings.dicom_host,
        dimse.port,
        settings.data_dir,
    )
    terminated = False
    previous = _on_sigterm_raise()
    try:
        server.run()
    except _Terminated:
        terminated = True  # uvicorn has shut down gracefully and re-raised SIGTERM
    finally:
        dimse.stop()
        archive.ingestor.parser.shutdown()
        archive.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if terminated:  # end as a process terminated by SIGTERM does
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_WARM_UP_TIMEOUT = 120.0


def _warm_up(archive: Archive) -> None:
    try:
        archive.ingestor.parser.warm_up()
    except Exception:  # the pool falls back to parsing in-process
        logger.exception("parser processes failed to start; parsing in the server process")


class _Terminated(Exception):
    """SIGTERM arrived (raised once uvicorn has finished its graceful shutdown)."""


def _on_sigterm_raise() -> Any:
    """Make SIGTERM raise :class:`_Terminated`; return the previous handler (``None`` off the main thread).

    uvicorn handles SIGTERM itself during ``run`` and, after its graceful
    shutdown, restores the previous handler and raises the signal again;
    with Python's default handler the process would end there, skipping
    the clean-up (parser processes, DIMSE server, database connections).
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, handler)


