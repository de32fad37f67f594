"""Open the study in OHIF in a fresh Chromium context and time it from inside the page.

Every time is in milliseconds since the navigation started
(``performance.now()``, whose origin is the start of the navigation to
``/ohif/viewer?StudyInstanceUIDs=<uid>``):

* **first image**: the first animation frame at which the viewport's canvas
  (``canvas.cornerstone-canvas``) holds a non-black pixel. An init script
  copies the canvas into a 64x64 scratch canvas on every animation frame
  (``requestAnimationFrame``) and looks for any pixel brighter than 24/255;
  OHIF's viewport background is black and its overlays are HTML, so the first
  bright pixel is the first drawn CT image.
* **all slices**: the ``responseEnd`` (Resource Timing) of the last of the
  WADO-RS frame responses (``.../instances/<sop>/frames/1``) needed to have
  one complete response for each of the N SOP Instance UIDs of the series,
  i.e. every slice's pixel data is in the browser. OHIF's stack viewport
  prefetches the whole stack (cornerstone's ``stackContextPrefetch``).
* ``metadata``: ``responseEnd`` of the series ``/metadata`` response (what
  OHIF needs before it can ask for a frame), ``first frame``: of the first
  frame response; their durations too, for profiling; and ``dicomweb start``,
  the ``startTime`` of the viewer's first DICOMweb request: before it, the
  time is OHIF's own start-up (loading and compiling its bundles), the same
  in both arms, so first image and all slices are also given from there.

A context is fresh (no HTTP cache, no storage) for every opening; its
localStorage marks OHIF's onboarding tour (``basicViewerTour``) as shown, so
the tour's overlay is not drawn over the viewport (the investigational-use
dialog is off in radhub's app-config: ``investigationalUseDialog: never``).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

CHROMIUM = os.environ.get("RADHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}

INIT_SCRIPT = r"""
(() => {
  try { localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour'])); } catch (e) {}
  const bench = { firstImage: null, checks: 0 };
  window.__viewerBench = bench;
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  let scratch = null, sctx = null;
  function bright(canvas) {
    if (!scratch) {
      scratch = document.createElement('canvas');
      scratch.width = scratch.height = 64;
      sctx = scratch.getContext('2d', { willReadFrequently: true });
    }
    sctx.clearRect(0, 0, 64, 64);
    sctx.drawImage(canvas, 0, 0, 64, 64);
    const d = sctx.getImageData(0, 0, 64, 64).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] > 24 || d[i + 1] > 24 || d[i + 2] > 24) return true;
    }
    return false;
  }
  function tick() {
    if (bench.firstImage !== null) return;
    const now = performance.now();
    for (const c of document.querySelectorAll('canvas.cornerstone-canvas')) {
      if (c.width > 0 && c.height > 0) {
        bench.checks++;
        if (bright(c)) { bench.firstImage = now; return; }
      }
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
"""

RESOURCES_JS = r"""
() => performance.getEntriesByType('resource')
  .filter(e => e.name.includes('/dicomweb/') || e.name.includes('/dicom-web/'))
  .map(e => [e.name, e.startTime, e.responseStart, e.responseEnd, e.encodedBodySize, e.responseStatus || 0])
"""

_FRAME = re.compile(r"/instances/([0-9.]+)/frames/")


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing."""


def browser_problem() -> str | None:
    """Why the viewer benchmark cannot drive a browser here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@dataclass
class Opening:
    """One opening of the study in the viewer (times in ms since navigation start)."""

    arm: str
    first_image_ms: float | None
    all_slices_ms: float | None
    slices_loaded: int
    metadata_ms: float | None = None
    metadata_duration_ms: float | None = None
    first_frame_ms: float | None = None
    frame_duration_p50_ms: float | None = None
    frame_ttfb_p50_ms: float | None = None
    dicomweb_start_ms: float | None = None
    frame_requests: int = 0
    dicomweb_bytes: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def analyse(arm: str, first_image: float | None, entries: list[list[Any]], slices: int) -> Opening:
    """Turn the page's Resource Timing entries into an :class:`Opening`."""
    done: dict[str, float] = {}
    frames = []
    metadata = None
    total = 0
    for name, start, ttfb, end, size, status in entries:
        total += int(size or 0)
        m = _FRAME.search(name)
        if m:
            frames.append((start, ttfb, end))
            if status in (0, 200, 206) and end > 0:
                done[m.group(1)] = min(end, done.get(m.group(1), end))
        elif name.split("?")[0].endswith("/metadata") and metadata is None:
            metadata = (start, end)
    ends = sorted(done.values())
    opening = Opening(
        arm=arm,
        first_image_ms=first_image,
        all_slices_ms=ends[slices - 1] if len(ends) >= slices else None,
        slices_loaded=len(ends),
        metadata_ms=metadata[1] if metadata else None,
        metadata_duration_ms=(metadata[1] - metadata[0]) if metadata else None,
        first_frame_ms=min((f[2] for f in frames), default=None),
        frame_duration_p50_ms=_median([f[2] - f[0] for f in frames]),
        frame_ttfb_p50_ms=_median([f[1] - f[0] for f in frames if f[1] > 0]),
        dicomweb_start_ms=min((e[1] for e in entries), default=None),
        frame_requests=len(frames),
        dicomweb_bytes=total,
    )
    return opening


class Viewer:
    """One headless Chromium for the run; every :meth:`open` uses a fresh context."""

    def __init__(self) -> None:
        problem = browser_problem()
        if problem:
            raise BrowserUnavailable(problem)
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

    def open(self, arm: str, front_url: str, study_uid: str, slices: int, *, timeout_s: float = 180.0,
             screenshot: str | None = None) -> Opening:
        """Open ``study_uid`` through ``front_url`` and wait for the first image and all ``slices``."""
        context = self._browser.new_context(viewport=VIEWPORT)
        try:
            context.add_init_script(INIT_SCRIPT)
            page = context.new_page()
            page.goto(f"{front_url}/ohif/viewer?StudyInstanceUIDs={study_uid}", wait_until="commit")
            deadline = time.monotonic() + timeout_s
            first: float | None = None
            entries: list[list[Any]] = []
            while time.monotonic() < deadline:
                page.wait_for_timeout(100)
                first = page.evaluate("() => window.__viewerBench && window.__viewerBench.firstImage")
                entries = page.evaluate(RESOURCES_JS)
                loaded = {m.group(1) for e in entries if (m := _FRAME.search(e[0])) and e[3] > 0}
                if first is not None and len(loaded) >= slices:
                    break
            opening = analyse(arm, first, entries, slices)
            if opening.first_image_ms is None or opening.all_slices_ms is None:
                opening.error = (
                    f"after {timeout_s:.0f}s: first image {'seen' if first is not None else 'not drawn'}, "
                    f"{opening.slices_loaded} of {slices} slices loaded"
                )
            if screenshot:
                page.screenshot(path=screenshot)
            return opening
        finally:
            context.close()

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()
