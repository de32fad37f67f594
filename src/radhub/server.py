"""Run radhub: the HTTP API and the DIMSE server in one process."""

from __future__ import annotations

import logging
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
    try:
        server.run()
    finally:
        dimse.stop()
        archive.close()


