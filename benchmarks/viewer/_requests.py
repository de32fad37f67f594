"""The viewer's DICOMweb requests replayed without a browser: where the server time goes.

The browser's figures include OHIF's own work (start-up, decoding, drawing),
which is the same in both arms and, on a shared machine, noisy. This replays
what the viewer asks the archive for, through the same front server, with
the same ``Accept`` headers:

* the series metadata (``GET .../series/<uid>/metadata``, ``application/dicom+json``),
  5 times one after the other: p50;
* every slice's frame (``GET .../instances/<sop>/frames/1``, ``multipart/related;
  type="application/octet-stream"; transfer-syntax=*``, what OHIF sends) on 6
  connections, as many as Chromium opens to one HTTP/1.1 origin: the wall
  time of all N, and the p50 of one frame.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import httpx

from benchmarks.viewer._series import CTStudy

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
CONNECTIONS = 6


def replay(front_url: str, study: CTStudy, sop_uids: list[str]) -> dict[str, Any]:
    """Metadata p50 and all-frames wall time through ``front_url``'s /dicomweb."""
    root = f"{front_url}/dicomweb/studies/{study.study_uid}/series/{study.series_uid}"
    meta: list[float] = []
    with httpx.Client(timeout=120) as client:
        for _ in range(5):
            t = time.perf_counter()
            r = client.get(root + "/metadata", headers={"Accept": "application/dicom+json"})
            r.raise_for_status()
            meta.append((time.perf_counter() - t) * 1000)
            if len(r.json()) != study.slices:
                raise RuntimeError(f"{front_url}: metadata of {len(r.json())} instances, expected {study.slices}")
    lock = threading.Lock()
    todo = iter(sop_uids)
    frames: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    sop = next(todo, None)
                if sop is None:
                    return
                t = time.perf_counter()
                r = client.get(f"{root}/instances/{sop}/frames/1", headers={"Accept": FRAME_ACCEPT})
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    if r.status_code == 200:
                        frames.append(dt)
                        sizes.append(len(r.content))
                    elif len(errors) < 3:
                        errors.append(f"{r.status_code} {r.text[:120]}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = (time.perf_counter() - t0) * 1000
    if errors:
        raise RuntimeError(f"{front_url}: frame requests failed: {errors}")
    return {
        "metadata_p50_ms": statistics.median(meta),
        "frames_wall_ms": wall,
        "frame_p50_ms": statistics.median(frames),
        "frames": len(frames),
        "frame_mb": sum(sizes) / 1e6,
    }
