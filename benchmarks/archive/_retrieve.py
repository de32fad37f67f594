"""Retrieve workload: WADO-RS instance and rendered-frame throughput.

The server is first loaded with a corpus through STOW-RS (not timed). Then:

* ``instance``: every instance of the corpus is fetched once per client as
  ``multipart/related; type="application/dicom"``;
* ``rendered``: the first frame of every uncompressed CT/MR instance is
  fetched as ``image/jpeg`` (``.../frames/1/rendered``). Compressed objects
  are left out because Orthanc's built-in decoder has no JPEG 2000.

Figures are instances (frames) per second and MB/s of response bodies, with
1 client and with N clients each walking the whole list from a different
starting point.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pydicom

from benchmarks.archive._corpus import Corpus
from benchmarks.archive._ingest import run_ingest
from benchmarks.archive._servers import Server

_UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


def targets_of(corpus: Corpus) -> tuple[list[str], list[str]]:
    """Instance URLs (relative to the DICOMweb root) of the corpus, and those to render."""
    inst: list[str] = []
    render: list[str] = []
    for f in corpus.files:
        ds = pydicom.dcmread(f.path, stop_before_pixels=True)
        url = f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        inst.append(url)
        if ds.get("Modality") in ("CT", "MR") and ds.file_meta.TransferSyntaxUID in _UNCOMPRESSED:
            render.append(url + "/frames/1/rendered")
    return inst, render


def _fetch_all(base: str, urls: list[str], accept: str, clients: int, auth: dict[str, str]) -> dict[str, Any]:
    done = [0]
    nbytes = [0]
    errors: list[str] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        order = urls[k * len(urls) // clients :] + urls[: k * len(urls) // clients]
        with httpx.Client(base_url=base, timeout=120, headers={"Accept": accept, "Accept-Encoding": "identity", **auth}) as c:
            for u in order:
                r = c.get(u)
                with lock:
                    if r.status_code == 200:
                        done[0] += 1
                        nbytes[0] += len(r.content)
                    elif len(errors) < 5:
                        errors.append(f"HTTP {r.status_code} for {u[-60:]}: {r.text[:150]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "clients": clients,
        "requests": len(urls) * clients,
        "ok": done[0],
        "seconds": round(seconds, 3),
        "per_s": round(done[0] / seconds, 2) if seconds else 0.0,
        "mb_per_s": round(nbytes[0] / 1e6 / seconds, 2) if seconds else 0.0,
    }
    if errors:
        out["errors"] = errors
    return out


def load(server: Server, corpus: Corpus) -> dict[str, Any]:
    """Store the corpus through STOW-RS (4 clients); not part of the figures."""
    return run_ingest(server, corpus, protocol="stow", clients=4)


def run_retrieve(server: Server, urls: tuple[list[str], list[str]], *, clients: int) -> dict[str, Any]:
    """Throughput of instance retrieval and of rendered frames with ``clients`` clients."""
    inst, render = urls
    return {
        # transfer-syntax=*: as stored (Orthanc would otherwise transcode, and cannot decode JPEG 2000)
        "instance": _fetch_all(server.dicomweb, inst, 'multipart/related; type="application/dicom"; transfer-syntax=*', clients, server.headers),
        "rendered": _fetch_all(server.dicomweb, render, "image/jpeg", clients, server.headers),
    }
