"""MB/s of the send page (/send) in Chromium against ``radhub serve`` on loopback.

The seed's target is 75 MB within 120 s over a 10 Mbit/s line (0.63 MB/s
after protocol overhead, the line itself carries 1.25 MB/s): the page must
never be the bottleneck, so on loopback it has to go many times faster than
the line. This tool generates a CT series of ``--mb`` megabytes (512 x 512
16-bit slices, pydicom, seeded noise), starts radhub with log-in on (one
site, one technologist) and a headless Chromium (driven over the DevTools
protocol without its Network domain, see :class:`Chromium`), logs in through
the log-in form, chooses the files on the page and times from the choice to
the page's summary (every chunk
checksummed, every file verified and ingested, the outcome fetched).
For comparison the same amount goes (a) from the same Chromium through a
bare ``fetch`` loop (one creation-with-upload POST per file and its status,
no tus-js-client, no checksums, no page updates): the browser's floor, so
page/floor says what the page's own work costs; (b) through radhub's Python
tus client (``radhub.ingest.upload_file``, as many threads as the page sends
files at a time) to the same server: what the server allows. Every send is a new series (new UIDs), so that every
object is stored, not a duplicate; page and client alternate. Usage::

    python -m benchmarks.send_page [--mb 75] [--repeats 3] [--chunk-mib 5] [--parallel 3] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from benchmarks.archive._servers import RadhubServer, free_port

CHROMIUM = os.environ.get("RADHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LINE_MBIT = 10.0
TARGET_MB, TARGET_S = 75.0, 120.0
SLICE_BYTES = 512 * 512 * 2
USER = "bench_tech"


def generate_series(folder: Path, megabytes: float, seed: int) -> list[Path]:
    """CT slices of about ``megabytes`` MB in total (one new study and series)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, round(megabytes * 1e6 / (SLICE_BYTES + 1500)))
    study, series = generate_uid(), generate_uid()
    files = []
    for i in range(count):
        ds = pydicom.Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientAge = (
            "Bench^Send",
            "BENCH-SEND",
            "O",
            "050Y",
        )
        ds.StudyDate, ds.Modality, ds.InstitutionName = "20260101", "CT", "Benchmark Hospital"
        ds.KVP, ds.Exposure, ds.InstanceNumber = "120", "200", i + 1
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = rng.integers(0, 4096, (512, 512), dtype=np.uint16).tobytes()
        path = folder / f"CT{i + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def start_radhub(workdir: Path) -> tuple[RadhubServer, str]:
    """radhub with log-in on and a technologist of the first site; the server and the password."""
    from radhub.catalog import Catalog
    from radhub.identity import Directory

    server = RadhubServer("radhub-sqlite", workdir, auth=True)
    server.provision()
    password = secrets.token_urlsafe(12)
    catalog = Catalog(server.catalog_url)
    try:
        Directory(catalog).create_user(
            "site-01", USER, password, roles="technologist", licences="CT"
        )
    finally:
        catalog.close()
    server.start()
    return server, password


class Chromium:
    """Headless Chromium driven over the DevTools protocol with Page, Runtime and DOM only.

    Not Playwright: Playwright enables the protocol's Network domain on every
    page, and Chromium then copies every request body for the inspector, which
    halved the upload rate here (4-5 against 8-9 MB/s). A user's browser has
    no inspector attached.
    """

    def __init__(self, profile: Path) -> None:
        import httpx
        from websockets.sync.client import connect

        port = free_port()
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                *CHROMIUM_ARGS,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration, ValueError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError(
                        "Chromium did not open its DevTools endpoint within 30 s"
                    ) from None
                time.sleep(0.1)
        self._exit = contextlib.ExitStack()
        self.ws = self._exit.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:  # events are not enabled: only answers come back
            message = json.loads(self.ws.recv())
            if message.get("id") == i:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message["result"])

    def eval(self, expression: str) -> Any:
        answer = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait(self, expression: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while not self.eval(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} was not true within {timeout:.0f} s")
            time.sleep(0.05)

    def goto(self, url: str, ready: str = "true") -> None:
        self.call("Page.navigate", url=url)
        self.wait(
            f"document.readyState === 'complete' && location.href === {json.dumps(url)} && ({ready})",
            60,
        )

    def choose(self, selector: str, files: list[Path]) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", files=[str(f) for f in files], nodeId=node)

    def log_in(self, base_url: str, username: str, password: str) -> None:
        """Through the log-in form, as a user does."""
        self.goto(base_url + "/login?next=/send", "!!document.getElementById('login-form')")
        self.eval(
            f"document.getElementById('username').value = {json.dumps(username)};"
            f"document.getElementById('password').value = {json.dumps(password)};"
            "document.querySelector('#login-form button[type=submit]').click()"
        )
        self.wait(
            f"location.href === {json.dumps(base_url + '/send')} && document.readyState === 'complete'",
            60,
        )

    def close(self) -> None:
        if hasattr(self, "_exit"):
            self._exit.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def send(
    browser: Chromium, base_url: str, files: list[Path], chunk: int, parallel: int
) -> dict[str, Any]:
    """Choose ``files`` on a fresh /send page; seconds until the summary, and what the page reported."""
    state = "document.getElementById('send').dataset.state"
    browser.goto(f"{base_url}/send?chunk={chunk}&parallel={parallel}", f"{state} === 'idle'")
    started = time.perf_counter()
    browser.choose("#files", files)
    browser.wait(f"{state} === 'done'")
    seconds = time.perf_counter() - started
    stored = int(browser.eval("document.querySelector('#summary [data-count=stored]').textContent"))
    if stored != len(files):
        summary = browser.eval("document.getElementById('summary').innerText")
        raise RuntimeError(
            f"the page reports {stored} stored of {len(files)} sent: {summary[:500]}"
        )
    return {
        "seconds": seconds,
        "page_says": browser.eval("document.getElementById('overall-text').textContent"),
    }


_FLOOR_JS = """(async (parallel) => {
  const files = Array.from(document.getElementById("bench-files").files);
  const csrf = window.radhub.csrf();
  let next = 0;
  async function one(f) {
    const headers = {"Tus-Resumable": "1.0.0", "Upload-Length": String(f.size), "X-CSRF-Token": csrf,
                     "Content-Type": "application/offset+octet-stream", "Upload-Metadata": "filename " + btoa(f.name)};
    const r = await fetch("/upload", {method: "POST", headers, body: await f.arrayBuffer()});
    if (r.status !== 201) throw new Error("POST /upload answered " + r.status);
    const status = await (await fetch(r.headers.get("location") + "/status")).json();
    return status.state;
  }
  async function worker(out) { while (next < files.length) out.push(await one(files[next++])); return out; }
  const states = [].concat(...await Promise.all(Array.from({length: parallel}, () => worker([]))));
  return states.filter((s) => s === "stored").length;
})"""


def send_floor(
    browser: Chromium, base_url: str, files: list[Path], parallel: int
) -> dict[str, Any]:
    """The browser's floor: the same files from the same Chromium through a bare fetch loop.

    No tus-js-client, no checksums, no page updates: one creation-with-upload
    POST per file and its status, ``parallel`` at a time.
    """
    browser.goto(
        base_url + "/studies", "!!window.radhub"
    )  # radhub.js (the CSRF token), no upload code
    browser.eval(
        "const i = document.createElement('input'); i.type = 'file'; i.id = 'bench-files';"
        " i.multiple = true; document.body.appendChild(i)"
    )
    started = time.perf_counter()
    browser.choose("#bench-files", files)
    stored = browser.eval(f"{_FLOOR_JS}({parallel})")
    seconds = time.perf_counter() - started
    if stored != len(files):
        raise RuntimeError(f"the bare fetch loop stored {stored} of {len(files)}")
    return {"seconds": seconds}


def send_with_client(
    base_url: str, headers: dict[str, str], files: list[Path], chunk: int, parallel: int
) -> dict[str, Any]:
    """The same files with radhub's Python tus client, ``parallel`` at a time: what the server allows."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from radhub.ingest import upload_file

    with httpx.Client(headers=headers, timeout=300) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            receipts = list(
                pool.map(
                    lambda f: upload_file(
                        base_url + "/upload", f, chunk_size=chunk, resume=False, client=client
                    ),
                    files,
                )
            )
        seconds = time.perf_counter() - started
    stored = sum(r.state == "stored" for r in receipts)
    if stored != len(files):
        raise RuntimeError(f"the Python client stored {stored} of {len(files)}")
    return {"seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.send_page", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--mb", type=float, default=TARGET_MB, help="megabytes of DICOM per repetition (default 75)"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--chunk-mib", type=float, default=5.0, help="tus chunk size in MiB (the page's default: 5)"
    )
    ap.add_argument(
        "--parallel", type=int, default=3, help="files sent at a time (the page's default: 3)"
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="8 MB, one repetition: seconds, to check that the tool works",
    )
    ap.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.mb, args.repeats = 8.0, 1
    if not os.path.exists(CHROMIUM):
        print(
            f"Chromium not found at {CHROMIUM}: the send-page benchmark needs it (apt-get install chromium)",
            file=sys.stderr,
        )
        return 0 if args.smoke else 1
    try:
        import websockets.sync.client  # noqa: F401  (the DevTools connection)
    except ImportError:
        print(
            "the websockets package is missing: the send-page benchmark needs it", file=sys.stderr
        )
        return 0 if args.smoke else 1

    chunk = int(args.chunk_mib * 1024 * 1024)
    targets = ("page", "browser-floor", "python-client")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    with tempfile.TemporaryDirectory(prefix="radhub-bench-send-") as tmp:
        work = Path(tmp)
        server, password = start_radhub(work / "radhub")
        try:
            browser = Chromium(work / "chromium-profile")
            try:
                browser.log_in(server.base_url, USER, password)
                for r in range(args.repeats):
                    # the order alternates, so that drift hits every target
                    order = targets if r % 2 == 0 else targets[::-1]
                    for target in order:
                        # new UIDs every time: every object is stored
                        files = generate_series(work / f"{target}-{r}", args.mb, seed=r)
                        megabytes = sum(f.stat().st_size for f in files) / 1e6
                        if target == "page":
                            run = send(browser, server.base_url, files, chunk, args.parallel)
                        elif target == "browser-floor":
                            run = send_floor(browser, server.base_url, files, args.parallel)
                        else:
                            run = send_with_client(
                                server.base_url, server.headers, files, chunk, args.parallel
                            )
                        run.update(
                            files=len(files),
                            megabytes=round(megabytes, 2),
                            mb_per_s=round(megabytes / run["seconds"], 2),
                        )
                        runs[target].append(run)
                        print(
                            f"  {target}: {len(files)} files, {megabytes:.1f} MB in {run['seconds']:.2f} s = "
                            f"{run['mb_per_s']:.1f} MB/s"
                            + (f" (the page says: {run['page_says']})" if target == "page" else ""),
                            file=sys.stderr,
                        )
                        for f in files:
                            f.unlink()
            finally:
                browser.close()
        finally:
            server.stop()
    rate = {t: statistics.median(r["mb_per_s"] for r in runs[t]) for t in targets}
    line_rate = LINE_MBIT / 8
    result = {
        "benchmark": "send_page",
        "smoke": args.smoke,
        "chunk_bytes": chunk,
        "parallel": args.parallel,
        "runs": runs,
        "median_mb_per_s": rate,
        "page_seconds_for_75_mb": round(TARGET_MB / rate["page"], 2),
        "page_vs_browser_floor": round(rate["page"] / rate["browser-floor"], 2),
        "page_vs_python_client": round(rate["page"] / rate["python-client"], 2),
        "target": f"{TARGET_MB:.0f} MB within {TARGET_S:.0f} s on {LINE_MBIT:.0f} Mbit/s",
        "page_x_line_rate_10_mbit": round(rate["page"] / line_rate, 1),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_1min": round(os.getloadavg()[0], 1),
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"send page, loopback: {rate['page']:.1f} MB/s (median of {len(runs['page'])}) = {TARGET_MB / rate['page']:.1f} s for 75 MB"
        )
        print(
            f"  the same Chromium with a bare fetch loop: {rate['browser-floor']:.1f} MB/s (page/floor {rate['page'] / rate['browser-floor']:.2f}); "
            f"radhub's Python tus client: {rate['python-client']:.1f} MB/s (page/client {rate['page'] / rate['python-client']:.2f})"
        )
        print(
            f"target: 75 MB within 120 s on 10 Mbit/s (the line alone: {TARGET_MB / line_rate:.0f} s); "
            f"the page goes {rate['page'] / line_rate:.1f}x the line's rate"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
