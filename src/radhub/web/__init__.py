"""radhub's pages: log-in, study list, study page, DICOM header browser, admin, upload, and the OHIF viewer.

Server-rendered with Jinja2 (templates/), a little JavaScript (static/),
everything served from radhub's own origin (no CDN). Data comes from the
same engines the APIs use: the study list is a QIDO query
(:func:`radhub.catalog.search_json`), so the tenant filter applies to pages
as it does to DICOMweb; the viewer is OHIF v3's prebuilt ``dist``
(installed by ``scripts/setup.sh`` from npm into ``.web/``) with an
``app-config.js`` radhub generates, reading radhub's ``/dicomweb`` with the
browser's session cookie.
"""

from radhub.web._assets import WebAssets
from radhub.web._pages import PAGE_PREFIXES, STATIC_DIR, router

__all__ = ["PAGE_PREFIXES", "STATIC_DIR", "WebAssets", "router"]
