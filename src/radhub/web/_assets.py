"""Where the browser-side packages from npm live, and the OHIF files radhub generates or rewrites."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

__all__ = ["WebAssets", "OHIF_BASE"]

OHIF_BASE = "/ohif"
"""Where the viewer is served (its own routes, /ohif/viewer?StudyInstanceUIDs=..., live under it)."""


VENDOR = {
    "tus.min.js": "tus/dist/tus.min.js",  # tus-js-client: the send page's uploads
    "sha256.min.js": "sha256/build/sha256.min.js",  # js-sha256: its checksums where there is no Web Crypto
}
"""The npm scripts the pages load from ``/vendor/``, by name: their place under the assets root."""


def _default_root() -> Path:
    env = os.environ.get("RADHUB_WEB_ASSETS")
    if env:
        return Path(env)
    # an editable install (a checkout): <checkout>/.web, where scripts/setup.sh unpacks them
    return Path(__file__).resolve().parents[3] / ".web"


@dataclass
class WebAssets:
    """The unpacked npm packages: ``ohif/`` (@ohif/app), ``tus/`` (tus-js-client) and ``sha256/`` (js-sha256)."""

    root: Path
    _relocated: dict[tuple[Path, int], bytes | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def default(cls) -> WebAssets:
        return cls(_default_root())

    @property
    def ohif_dist(self) -> Path:
        return self.root / "ohif" / "dist"

    @property
    def has_ohif(self) -> bool:
        return (self.ohif_dist / "index.html").is_file()

    @property
    def ohif_version(self) -> str | None:
        try:
            return (self.root / "ohif" / ".version").read_text().strip()
        except OSError:
            return None

    def vendor(self, name: str) -> Path | None:
        """A browser script from npm served at ``/vendor/<name>`` (:data:`VENDOR`), or None if not installed."""
        rel = VENDOR.get(name)
        path = self.root / rel if rel else None
        return path if path is not None and path.is_file() else None

    def ohif_file(self, rel: str) -> Path | None:
        """A file of the dist (None for anything outside it or missing: the viewer's routes)."""
        if not rel or rel.endswith("/"):
            return None
        dist = self.ohif_dist.resolve()
        path = (dist / rel).resolve()
        if dist not in path.parents or not path.is_file():
            return None
        return path

    def ohif_relocated(self, path: Path) -> bytes | None:
        """``path`` (a file of the dist) moved from / to /ohif/, or None if it names nothing at the root.

        The dist is built with PUBLIC_URL '/': webpack's runtime in a few bundles
        sets its public path to "/" and the CSS loads fonts from url(/...). Those
        files are rewritten once and kept; every other file is served as it is.
        """
        if path.suffix not in (".js", ".css"):
            return None
        key = (path, path.stat().st_mtime_ns)
        if key not in self._relocated:
            data = path.read_bytes()
            if path.suffix == ".js":
                moved = data.replace(b'__webpack_require__.p = "/";', b'__webpack_require__.p = "%s/";' % OHIF_BASE.encode())
            else:
                moved = data.replace(b"url(/", b"url(%s/" % OHIF_BASE.encode())
            self._relocated[key] = moved if moved != data else None
        return self._relocated[key]

    @cached_property
    def ohif_index(self) -> bytes:
        """OHIF's index.html, moved from / to /ohif/ (the dist is built with PUBLIC_URL '/')."""
        html = (self.ohif_dist / "index.html").read_text(encoding="utf-8")
        html = html.replace("window.PUBLIC_URL = '/'", f"window.PUBLIC_URL = '{OHIF_BASE}/'")
        html = re.sub(r'(href|src)="/(?!/)', rf'\1="{OHIF_BASE}/', html)
        # radhub's guard: a message, not a blank viewport, for a study with nothing to display
        html = html.replace("</body>", '<script src="/static/ohif-guard.js" defer></script></body>', 1)
        return html.encode("utf-8")


def ohif_app_config(*, dicomweb_path: str = "/dicomweb", login_path: str = "/login") -> str:
    """OHIF's ``app-config.js``: one DICOMweb data source, radhub's, read with the session cookie.

    The roots are made absolute in the browser (``window.location.origin``):
    same origin, so XHR and fetch send the HttpOnly session cookie and the
    viewer shows exactly what the logged-in user may see.
    """
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "radhub",
        "configuration": {
            "friendlyName": "radhub",
            "name": "radhub",
            "qidoSupportsIncludeField": True,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": True,
            "supportsWildcard": True,
            "supportsReject": False,
            "dicomUploadEnabled": False,
            "omitQuotationForMultipartRequest": True,
            "bulkDataURI": {"enabled": True},
        },
    }
    config = {
        "routerBasename": OHIF_BASE,
        "showStudyList": True,
        "extensions": [],
        "modes": [],
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": False,
        "strictZSpacingForVolumeViewport": True,
        "defaultDataSourceName": "radhub",
        "investigationalUseDialog": {"option": "never"},
        # no onboarding tour popping over the first image of every new browser
        "customizationService": {"ohif.tours": {"$set": []}},
        "dataSources": [source],
    }
    return (
        "// generated by radhub (radhub.web): OHIF reads radhub's DICOMweb with the browser session\n"
        "(function () {\n"
        f"  var root = window.location.origin + {json.dumps(dicomweb_path)};\n"
        f"  var config = {json.dumps(config, indent=2)};\n"
        "  var c = config.dataSources[0].configuration;\n"
        "  c.qidoRoot = root; c.wadoRoot = root; c.wadoUriRoot = root;\n"
        "  config.httpErrorHandler = function (error) {\n"
        "    if (error && (error.status === 401)) {\n"
        f"      window.location.href = {json.dumps(login_path)} + '?expired=1&next=' + encodeURIComponent(window.location.pathname + window.location.search);\n"
        "    }\n"
        "  };\n"
        "  window.config = config;\n"
        "})();\n"
    )
