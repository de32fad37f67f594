"""The viewer benchmark's run: OHIF against radhub and Orthanc, then the study-list page.

Viewer part: one generated CT study is stored in a radhub (``serve
--no-auth``, SQLite, offline import before start) and in an Orthanc 1.10 +
DICOMweb plugin (REST ``POST /instances``). Two front servers
(:mod:`benchmarks.viewer._front`) serve the same OHIF files from that radhub,
one passing DICOMweb to radhub, one to Orthanc. One opening per arm is a
warm-up (not counted); then each repetition opens the study once per arm,
radhub first, in a fresh browser context.

Study-list part: a second radhub whose catalog holds N studies (bulk
indexed), ``GET /studies`` timed without authentication and, with
``--auth``-on, as a logged-in technologist of one of 10 sites.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pydicom

from benchmarks.archive._servers import OrthancServer, RadhubServer, ServerError, _terminate, _wait_http, free_port, orthanc_available
from benchmarks.viewer._browser import CHROMIUM, BrowserUnavailable, Opening, Viewer, browser_problem
from benchmarks.viewer._requests import CONNECTIONS, replay
from benchmarks.viewer._series import CTStudy, write_ct_study
from benchmarks.viewer._studylist import QUERIES, load_catalog, time_queries

REPO = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Options:
    """What to run (see ``python -m benchmarks.viewer run --help``)."""

    slices: int = 300
    repeat: int = 3
    studies: int = 100_000
    rounds: int = 100
    auth: bool = True
    viewer: bool = True
    study_list: bool = True
    root: Path | None = None
    keep: bool = False
    screenshots: bool = False
    timeout_s: float = 300.0
    notes: list[str] = field(default_factory=list)


class ViewerOrthanc(OrthancServer):
    """The archive benchmark's Orthanc, with the DICOMweb plugin's ``Host`` left to the request.

    Orthanc then writes the address the browser used (the front server's,
    whose ``Host`` header it receives) into BulkDataURI and RetrieveURL
    values, as radhub does.
    """

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["DicomWeb"].pop("Host", None)
        return cfg


class FrontServer:
    """A :mod:`benchmarks.viewer._front` process: /ohif/ from ``ohif``, DICOMweb to ``dicomweb``."""

    def __init__(self, name: str, ohif: str, dicomweb: str, log_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.viewer._front", "--port", str(self.port), "--ohif", ohif,
                 "--dicomweb", dicomweb],
                cwd=REPO, stdout=out, stderr=out,
            )
        _wait_http(self.url + "/healthz", self.proc, log_path, 60)

    def stop(self) -> None:
        _terminate(self.proc)


def _store_in_orthanc(orthanc: OrthancServer, study: CTStudy) -> None:
    with httpx.Client(timeout=120) as client:
        for f in study.files:
            r = client.post(orthanc.base_url + "/instances", content=f.read_bytes(),
                            headers={"Content-Type": "application/dicom"})
            if r.status_code != 200:
                raise ServerError(f"Orthanc refused {f.name}: {r.status_code} {r.text[:200]}")
    if orthanc.instance_count() != study.slices:
        raise ServerError(f"Orthanc holds {orthanc.instance_count()} instances, expected {study.slices}")


def _import_offline(server: RadhubServer, study: CTStudy) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "radhub.cli", "import", str(study.directory), "--data-dir", str(server.data_dir), "--json"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise ServerError(f"radhub import failed ({proc.returncode}): {proc.stderr[-1000:]}")
    stored = json.loads(proc.stdout)["stored"]
    if stored != study.slices:
        raise ServerError(f"radhub import stored {stored} of {study.slices} slices: {proc.stdout[:500]}")


def _value(o: Opening, key: str) -> float | None:
    if key.endswith("_after_start_ms"):
        t = getattr(o, key.replace("_after_start", ""))
        return None if t is None or o.dicomweb_start_ms is None else t - o.dicomweb_start_ms
    return getattr(o, key)  # type: ignore[no-any-return]


def _summary(openings: list[Opening], key: str) -> float | None:
    values = [v for o in openings if (v := _value(o, key)) is not None]
    return statistics.median(values) if values else None


def run_viewer(opts: Options, work: Path) -> dict[str, Any]:
    """Time OHIF's first image and all slices against radhub and (if installed) Orthanc."""
    out: dict[str, Any] = {"slices": opts.slices, "repeat": opts.repeat, "arms": [], "openings": [], "skipped": []}
    problem = browser_problem()
    if problem:
        out["skipped"].append(f"viewer: {problem}")
        return out
    if not (REPO / ".web" / "ohif" / "dist" / "index.html").is_file() and not os.environ.get("RADHUB_WEB_ASSETS"):
        out["skipped"].append("viewer: OHIF's dist is not unpacked (scripts/setup.sh)")
        return out
    t = time.perf_counter()
    study = write_ct_study(work / "ct", opts.slices)
    out["study"] = {"study_uid": study.study_uid, "slices": study.slices, "mb": round(study.bytes / 1e6, 1),
                    "generate_s": round(time.perf_counter() - t, 1)}
    log(f"viewer: wrote a {study.slices}-slice CT ({study.bytes / 1e6:.0f} MB)")
    servers: list[Any] = []
    fronts: list[FrontServer] = []
    viewer: Viewer | None = None
    try:
        radhub = RadhubServer("radhub", work / "radhub")
        _import_offline(radhub, study)
        radhub.start()
        servers.append(radhub)
        arms = [("radhub", radhub.dicomweb)]
        if orthanc_available():
            orthanc = ViewerOrthanc("orthanc", work / "orthanc")
            orthanc.start()
            servers.append(orthanc)
            _store_in_orthanc(orthanc, study)
            arms.append(("orthanc", orthanc.dicomweb))
        else:
            out["skipped"].append("orthanc: Orthanc is not installed here (bash benchmarks/archive/setup.sh); radhub only")
        log("viewer: study stored in " + " and ".join(a for a, _ in arms))
        for name, dicomweb in arms:
            fronts.append(FrontServer(name, radhub.base_url, dicomweb, work / f"front-{name}.log"))
        out["arms"] = [a for a, _ in arms]
        viewer = Viewer()
        shots = work / "screenshots"
        shots.mkdir(exist_ok=True)
        for rep in range(-1, opts.repeat):  # -1: the warm-up opening of each arm
            for front in fronts:
                shot = str(shots / f"{front.name}-{rep + 1}.png") if opts.screenshots or rep == -1 else None
                o = viewer.open(front.name, front.url, study.study_uid, study.slices, timeout_s=opts.timeout_s,
                                screenshot=shot)
                label = "warm-up" if rep < 0 else f"{rep + 1}/{opts.repeat}"
                log(f"viewer {label} {front.name}: first image {o.first_image_ms and round(o.first_image_ms)} ms, "
                    f"all {o.slices_loaded} slices {o.all_slices_ms and round(o.all_slices_ms)} ms"
                    + (f" ({o.error})" if o.error else ""))
                d = o.to_dict()
                d["warmup"] = rep < 0
                out["openings"].append(d)
        viewer.close()
        viewer = None
        sops = [str(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
                for f in study.files]
        out["requests"] = []
        for rep in range(opts.repeat):
            for front in fronts:
                figures = replay(front.url, study, sops)
                log(f"requests {rep + 1}/{opts.repeat} {front.name}: metadata {figures['metadata_p50_ms']:.0f} ms, "
                    f"{figures['frames']} frames in {figures['frames_wall_ms']:.0f} ms")
                out["requests"].append({"arm": front.name, **figures})
    except BrowserUnavailable as exc:
        out["skipped"].append(f"viewer: {exc}")
    finally:
        if viewer is not None:
            viewer.close()
        for f in fronts:
            f.stop()
        for s in servers:
            s.stop()
    counted = [o for o in out["openings"] if not o["warmup"]]
    summary = []
    for arm in out["arms"]:
        mine = [Opening(**{k: v for k, v in o.items() if k != "warmup"}) for o in counted if o["arm"] == arm]
        summary.append({
            "arm": arm,
            "n": len(mine),
            "failed": sum(1 for o in mine if o.error),
            **{k: _summary(mine, k) for k in ("first_image_ms", "all_slices_ms", "metadata_ms", "metadata_duration_ms",
                                              "first_frame_ms", "frame_duration_p50_ms", "frame_ttfb_p50_ms",
                                              "dicomweb_start_ms", "first_image_after_start_ms", "all_slices_after_start_ms")},
            "frame_requests": _summary(mine, "frame_requests"),
        })
    out["summary"] = summary
    out["requests_summary"] = [
        {"arm": arm, **{k: statistics.median(r[k] for r in out.get("requests", []) if r["arm"] == arm)
                        for k in ("metadata_p50_ms", "frames_wall_ms", "frame_p50_ms")}}
        for arm in out["arms"] if any(r["arm"] == arm for r in out.get("requests", []))
    ]
    return out


def _login_cookies(base_url: str, username: str, password: str) -> dict[str, str]:
    r = httpx.post(base_url + "/api/v1/auth/login", data={"username": username, "password": password}, timeout=30)
    if r.status_code != 200:
        raise ServerError(f"log-in as {username} answered {r.status_code}: {r.text[:200]}")
    return dict(r.cookies)


def run_study_list(opts: Options, work: Path) -> dict[str, Any]:
    """``GET /studies`` p50/p95 at ``opts.studies`` studies, without and (optionally) with authentication."""
    out: dict[str, Any] = {"studies": opts.studies, "rounds": opts.rounds, "results": []}
    modes = [False, True] if opts.auth else [False]
    for auth in modes:
        name = "radhub+auth (site user)" if auth else "radhub --no-auth"
        server = RadhubServer(name, work / ("list-auth" if auth else "list"), auth=auth)
        try:
            cookies = None
            if auth:
                server.provision()
                password = secrets.token_urlsafe(12)
                from radhub.catalog import Catalog
                from radhub.identity import Directory

                catalog = Catalog(server.catalog_url)
                try:
                    Directory(catalog).create_user("site-01", "tech01", password, roles="technologist")
                finally:
                    catalog.close()
            log(f"study list: bulk-indexing {opts.studies:,} studies ({name})")
            load = load_catalog(server.catalog_url, server.data_dir, opts.studies,
                                org_pks=server.site_org_pks if auth else None)
            log(f"study list: {load['instances']:,} instances indexed in {load['seconds']:.0f} s")
            server.start()
            if auth:
                cookies = _login_cookies(server.base_url, "tech01", password)
            figures = time_queries(server.base_url, rounds=opts.rounds, cookies=cookies, studies=opts.studies)
            out["results"].append({"target": name, "load": load, "queries": figures,
                                   "visible_studies": opts.studies // 10 if auth else opts.studies})
        finally:
            server.stop()
    return out


def run(opts: Options) -> dict[str, Any]:
    """Everything the options ask for; the figures as one JSON-able dict."""
    root = opts.root or Path(tempfile.mkdtemp(prefix="radhub-viewer-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=root))
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_before": os.getloadavg()[0],
    }
    try:
        if opts.viewer:
            out["viewer"] = run_viewer(opts, work)
        if opts.study_list:
            out["study_list"] = run_study_list(opts, work)
    finally:
        out["load_after"] = os.getloadavg()[0]
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
            if opts.root is None:
                shutil.rmtree(root, ignore_errors=True)
    return out


def machine() -> str:
    """CPU model, cores, memory, OS, Python and Chromium versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        mem = 0.0
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "no Chromium"
    return f"{cpu}, {os.cpu_count()} vCPU, {mem:.0f} GB, Python {platform.python_version()}, {chromium}"


def table(out: dict[str, Any]) -> str:
    """The figures as the text table the command prints (and the README quotes)."""
    lines: list[str] = []
    v = out.get("viewer")
    if v is not None:
        lines.append(f"VIEWER: OHIF, {v['slices']}-slice CT, median of {v['repeat']} openings per arm (after 1 warm-up), ms since navigation start")
        for s in v.get("skipped", []):
            lines.append(f"  not run: {s}")
        rows = {s["arm"]: s for s in v.get("summary", [])}
        if rows:
            lines.append("| arm | first image | all slices | DICOMweb start | first image from there | all slices from there "
                         "| series metadata (duration) | first frame | frame p50 (TTFB) | failed |")
            lines.append("| --- |" + " ---: |" * 9)
            for arm, s in rows.items():
                lines.append(
                    f"| {arm} | {_ms(s.get('first_image_ms'))} | {_ms(s.get('all_slices_ms'))} | {_ms(s.get('dicomweb_start_ms'))} "
                    f"| {_ms(s.get('first_image_after_start_ms'))} | {_ms(s.get('all_slices_after_start_ms'))} | {_ms(s.get('metadata_ms'))} "
                    f"({_ms(s.get('metadata_duration_ms'))}) | {_ms(s.get('first_frame_ms'))} | {_ms(s.get('frame_duration_p50_ms'))} "
                    f"({_ms(s.get('frame_ttfb_p50_ms'))}) | {s['failed']}/{s['n']} |"
                )
            if "radhub" in rows and "orthanc" in rows:
                r, o = rows["radhub"], rows["orthanc"]
                lines.append(f"radhub / Orthanc time (below 1.00x: radhub faster): first image {_ratio(r.get('first_image_ms'), o.get('first_image_ms'))}, "
                             f"all slices {_ratio(r.get('all_slices_ms'), o.get('all_slices_ms'))}; from the first DICOMweb request: "
                             f"first image {_ratio(r.get('first_image_after_start_ms'), o.get('first_image_after_start_ms'))}, "
                             f"all slices {_ratio(r.get('all_slices_after_start_ms'), o.get('all_slices_after_start_ms'))}; "
                             f"series metadata duration {_ratio(r.get('metadata_duration_ms'), o.get('metadata_duration_ms'))}, "
                             f"frame p50 {_ratio(r.get('frame_duration_p50_ms'), o.get('frame_duration_p50_ms'))}")
    req = {r["arm"]: r for r in (v or {}).get("requests_summary", [])}
    if req:
        lines.append("")
        lines.append(f"VIEWER REQUESTS without the browser (through the same front server), median of {v['repeat']}: "
                     f"series metadata p50 of 5; all {v['slices']} frames on {CONNECTIONS} connections, ms")
        lines.append("| arm | series metadata | all frames | one frame p50 |")
        lines.append("| --- | ---: | ---: | ---: |")
        for arm, r in req.items():
            lines.append(f"| {arm} | {r['metadata_p50_ms']:.0f} | {r['frames_wall_ms']:,.0f} | {r['frame_p50_ms']:.1f} |")
        if "radhub" in req and "orthanc" in req:
            r, o = req["radhub"], req["orthanc"]
            lines.append(f"radhub / Orthanc time: series metadata {_ratio(r['metadata_p50_ms'], o['metadata_p50_ms'])}, "
                         f"all frames {_ratio(r['frames_wall_ms'], o['frames_wall_ms'])}, one frame {_ratio(r['frame_p50_ms'], o['frame_p50_ms'])}")
    sl = out.get("study_list")
    if sl is not None:
        lines.append("")
        lines.append(f"STUDY LIST: GET /studies at {sl['studies']:,} studies, {sl['rounds']} rounds, ms p50 / p95 (rows on the page)")
        lines.append("| target | " + " | ".join(QUERIES) + " |")
        lines.append("| --- |" + " ---: |" * len(QUERIES))
        for r in sl["results"]:
            cells = [f"{q['p50_ms']:.1f} / {q['p95_ms']:.1f} ({q['rows']})" for q in r["queries"].values()]
            lines.append(f"| {r['target']} | " + " | ".join(cells) + " |")
        worst = max((q["p95_ms"] for r in sl["results"] for q in r["queries"].values()), default=None)
        if worst is not None:
            lines.append(f"largest p95 {worst:.1f} ms (target < 100 ms: {'met' if worst < 100 else 'NOT met'})")
    return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"
