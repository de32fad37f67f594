"""Run radhub: the HTTP API and the DIMSE server in one process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import uvicorn

from radhub.api import create_app
from radhub.archive import Archive
from radhub.config import Settings
from radhub.net import DicomServer

logger = logging.getLogger(__name__)

__all__ = ["run"]


def run(settings: Settings, *, on_ready: Any = None) -> None:
    """Open the archive, start the DIMSE server and serve HTTP until stopped."""
    archive = Archive.open(settings)
    # start the parser processes now rather than on the first object received
    threading.Thread(target=archive.ingestor.parser.warm_up, name="parser-warm-up", daemon=True).start()
    dimse = DicomServer(archive)
    dimse.start()
    app = create_app(archive)
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


