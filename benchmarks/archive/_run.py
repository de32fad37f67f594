"""Run the workloads against every target in the same run, alternating, and report medians and ratios."""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.archive._catalogs import CatalogPlan, RadhubBulkLoader, TemplateSet, load_orthanc, site_of
from benchmarks.archive._corpus import Corpus, generated_corpus, real_corpus
from benchmarks.archive._ingest import run_ingest
from benchmarks.archive._measure import machine, median
from benchmarks.archive._query import QUERIES, query_set, run_queries
from benchmarks.archive._retrieve import load as load_retrieve
from benchmarks.archive._retrieve import run_retrieve, targets_of
from benchmarks.archive._servers import SITES, OrthancServer, RadhubServer, Server, Targets, available_targets

WORKLOADS = ("ingest", "query", "retrieve")
AUTH_SUFFIX = "+auth"
"""``--auth both``: the authenticated twin of a radhub target."""
SITE_SUFFIX = "+site"
"""Authenticated query mode: ``radhub-postgresql+site`` is the same server queried as one of 10 sites."""


def log(msg: str) -> None:
    """Progress on stderr (results go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Options:
    """What to run (see ``python -m benchmarks.archive run --help``)."""

    workloads: list[str]
    targets: list[str]
    workdir: Path
    data_dir: Path
    corpora: list[str] = field(default_factory=lambda: ["real", "small"])
    protocols: list[str] = field(default_factory=lambda: ["stow", "cstore"])
    clients: list[int] = field(default_factory=lambda: [1, 4])
    repeat: int = 3
    scales: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    orthanc_max_scale: int = 100_000
    rounds: int = 200
    retrieve_corpus: str = "small"
    keep: bool = False
    auth: str | None = None
    """``on``: radhub with authentication and tenancy on (API keys, 10 sites; query as one site and as the
    platform); ``both``: each radhub target also without (the authenticated one named ``<target>+auth``)."""


def _corpus(name: str, data_dir: Path) -> Corpus:
    if name == "real":
        return real_corpus()
    return generated_corpus(data_dir, name)


def _pair(target: str, targets: list[str]) -> str | None:
    """The Orthanc target a radhub target is compared with."""
    if not target.startswith("radhub"):
        return None
    same = "orthanc-" + target.split("-", 1)[1].removesuffix(SITE_SUFFIX).removesuffix(AUTH_SUFFIX)
    if same in targets:
        return same
    return "orthanc-sqlite" if "orthanc-sqlite" in targets else None


def _fmt_ratio(a: float, b: float) -> str:
    if not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}x"


# ---------------------------------------------------------------------------
def ingest(opts: Options, targets: Targets, out: dict[str, Any]) -> None:
    runs: list[dict[str, Any]] = []
    for corpus_name in opts.corpora:
        corpus = _corpus(corpus_name, opts.data_dir)
        log(f"ingest corpus {corpus.describe()}")
        for protocol, clients in itertools.product(opts.protocols, opts.clients):
            for rep in range(opts.repeat):
                # alternate: every repetition runs every target once, rotating the order
                order = opts.targets[rep % len(opts.targets):] + opts.targets[: rep % len(opts.targets)]
                for name in order:
                    server = targets.new(name, f"ingest-{corpus_name}-{protocol}-{clients}-{rep}")
                    server.start()
                    r: dict[str, Any] = {}
                    try:
                        r = run_ingest(server, corpus, protocol=protocol, clients=clients)
                    finally:
                        server.stop()
                        if protocol == "stow" and r.get("instances_failed"):
                            _keep_log(server, opts.workdir)  # a STOW-RS failure is a server error: keep its log
                        if not opts.keep:
                            _cleanup(server, targets)
                    r.update(target=name, repetition=rep)
                    runs.append(r)
                    log(
                        f"  {name:22s} {protocol:6s} x{clients} rep {rep}: {r['instances_per_s']:8.1f} inst/s "
                        f"{r['mb_per_s']:7.1f} MB/s peak RSS {r.get('rss_peak_mb', 0):.0f} MB"
                        + (f"  ERRORS {r['errors'][:1]}" if r.get("errors") else "")
                    )
    out["ingest"] = {"runs": runs, "summary": _ingest_summary(runs, opts.targets)}


def _ingest_summary(runs: list[dict[str, Any]], target_names: list[str]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["corpus"], r["protocol"], r["clients"], r["target"]), []).append(r)
    rows = []
    for (corpus, protocol, clients, target), rs in groups.items():
        rows.append(
            {
                "corpus": corpus,
                "protocol": protocol,
                "clients": clients,
                "target": target,
                "runs": len(rs),
                "instances": rs[0]["instances_sent"],
                "instances_per_s": round(median([r["instances_per_s"] for r in rs]), 2),
                "mb_per_s": round(median([r["mb_per_s"] for r in rs]), 2),
                "rss_peak_mb": round(max(r.get("rss_peak_mb", 0) for r in rs), 1),
                "rss_growth_after_q1_mb": round(median([r.get("rss_growth_after_q1_mb", 0) for r in rs]), 1),
                "conflicts": sum(r.get("instances_conflict", 0) for r in rs),
                "failed": sum(r["instances_failed"] for r in rs),
            }
        )
    by_key = {(r["corpus"], r["protocol"], r["clients"], r["target"]): r for r in rows}
    for r in rows:
        pair = _pair(r["target"], target_names)
        other = by_key.get((r["corpus"], r["protocol"], r["clients"], pair)) if pair else None
        r["vs"] = pair if other else None
        r["ratio"] = round(r["instances_per_s"] / other["instances_per_s"], 2) if other and other["instances_per_s"] else None
    return rows


def print_ingest(summary: list[dict[str, Any]]) -> None:
    print(
        "\nINGEST (medians; inst/s = objects processed per second: acknowledged, or refused as a conflict; "
        "ratio = radhub / Orthanc, >= 1.0 is the target)"
    )
    print(f"{'corpus':16s} {'proto':6s} {'cl':>2s} {'target':22s} {'inst':>6s} {'inst/s':>8s} {'MB/s':>7s} {'peakRSS':>8s} {'RSS+':>6s} {'confl':>5s} {'fail':>4s} {'ratio':>14s}")
    for r in sorted(summary, key=lambda r: (r["corpus"], r["protocol"], r["clients"], r["target"])):
        ratio = f"{r['ratio']:.2f}x {r['vs'].split('-')[1][:2]}" if r.get("ratio") is not None else ""
        print(
            f"{r['corpus']:16s} {r['protocol']:6s} {r['clients']:>2d} {r['target']:22s} {r['instances']:>6d} "
            f"{r['instances_per_s']:>8.1f} {r['mb_per_s']:>7.1f} {r['rss_peak_mb']:>8.0f} {r['rss_growth_after_q1_mb']:>6.1f} "
            f"{r.get('conflicts', 0):>5d} {r['failed']:>4d} {ratio:>14s}"
        )


# ---------------------------------------------------------------------------
def query(opts: Options, targets: Targets, out: dict[str, Any]) -> None:
    plan = CatalogPlan()
    templates = TemplateSet()
    stream = plan.instances()
    servers: dict[str, Server] = {}
    loaders: dict[str, RadhubBulkLoader] = {}
    results: list[dict[str, Any]] = []
    loaded = 0
    try:
        for name in opts.targets:
            s = targets.new(name, "query")
            if isinstance(s, RadhubServer):
                s.provision()
                loaders[name] = RadhubBulkLoader(s.catalog_url, s.data_dir, templates, org_pks=s.site_org_pks or None)
            s.start()
            servers[name] = s
        pushed_back: list[Any] = []
        for scale in sorted(opts.scales):
            planned = pushed_back + list(itertools.islice(stream, max(0, scale - loaded - len(pushed_back))))
            pushed_back = []
            # finish the last study so that every indexed study is complete
            last = planned[-1].study_uid if planned else None
            for p in stream:
                if p.study_uid != last:
                    pushed_back = [p]
                    break
                planned.append(p)
            loaded += len(planned)
            n_studies = len(plan.studies) - len(pushed_back)
            active: dict[str, tuple[str, dict[str, str]]] = {}
            for name, s in servers.items():
                t0 = time.perf_counter()
                if name in loaders:
                    info = loaders[name].load(planned)
                    log(f"  {name}: bulk-indexed {info['created']} instances in {time.perf_counter() - t0:.1f}s (total {loaded})")
                    if isinstance(s, RadhubServer) and s.auth:
                        active[name] = (s.dicomweb, s.platform_headers)  # authenticated, no tenant filter
                        active[name + SITE_SUFFIX] = (s.dicomweb, s.headers)  # as site 1 of 10
                    else:
                        active[name] = (s.dicomweb, s.headers)
                elif isinstance(s, OrthancServer):
                    if scale > opts.orthanc_max_scale:
                        log(f"  {name}: not loaded past --orthanc-max-scale={opts.orthanc_max_scale}")
                        continue
                    n = load_orthanc(s.base_url, templates, planned)
                    log(f"  {name}: stored {n} header-only instances via REST in {time.perf_counter() - t0:.1f}s (total {loaded})")
                    active[name] = (s.dicomweb, s.headers)
            site = (lambda uid: site_of(uid, SITES)) if any(getattr(x, "auth", False) for x in servers.values()) else None
            qs = query_set(plan, n_studies, opts.rounds + 5, site=site)
            log(f"query scale {loaded} instances ({n_studies} studies): {opts.rounds} rounds on {', '.join(active)}")
            res = run_queries(active, qs, warmup=5)
            for name, per in res.items():
                results.append({"scale": loaded, "studies": n_studies, "target": name, "queries": per})
                worst = max((per[q]["p95_ms"] for q in QUERIES), default=0)
                log(f"  {name:22s} worst p95 {worst:.1f} ms" + (f" ERRORS {per['errors'][:1]}" if per.get("errors") else ""))
    finally:
        for ld in loaders.values():
            ld.close()
        for s in servers.values():
            s.stop()
            if not opts.keep:
                _cleanup(s, targets)
    out["query"] = {"results": results}


def print_query(results: list[dict[str, Any]], target_names: list[str]) -> None:
    print("\nQUERY (QIDO-RS latency in ms, p50 / p95 / p99; ratio = radhub p95 / Orthanc p95, <= 1.0 is better)")
    print(f"{'scale':>8s} {'target':22s} " + " ".join(f"{q:>24s}" for q in QUERIES))
    by = {(r["scale"], r["target"]): r for r in results}
    for r in sorted(results, key=lambda r: (r["scale"], r["target"])):
        cells = []
        for q in QUERIES:
            v = r["queries"][q]
            cells.append(f"{v['p50_ms']:6.1f}/{v['p95_ms']:6.1f}/{v['p99_ms']:7.1f}")
        print(f"{r['scale']:>8d} {r['target']:22s} " + " ".join(f"{c:>24s}" for c in cells))
        pair = _pair(r["target"], target_names)
        other = by.get((r["scale"], pair)) if pair else None
        if other:
            ratios = [_fmt_ratio(r["queries"][q]["p95_ms"], other["queries"][q]["p95_ms"]) for q in QUERIES]
            print(f"{'':>8s} {'  p95 vs ' + pair.split('-')[1]:18s} " + " ".join(f"{x:>24s}" for x in ratios))
        unfiltered = by.get((r["scale"], r["target"].removesuffix(SITE_SUFFIX))) if r["target"].endswith(SITE_SUFFIX) else None
        if unfiltered:
            ratios = [_fmt_ratio(r["queries"][q]["p95_ms"], unfiltered["queries"][q]["p95_ms"]) for q in QUERIES]
            print(f"{'':>8s} {'  p95 vs no filter':18s} " + " ".join(f"{x:>24s}" for x in ratios))


# ---------------------------------------------------------------------------
def retrieve(opts: Options, targets: Targets, out: dict[str, Any]) -> None:
    corpus = _corpus(opts.retrieve_corpus, opts.data_dir)
    urls = targets_of(corpus)
    log(f"retrieve corpus {corpus.describe()}; {len(urls[1])} renderable frames")
    servers: dict[str, Server] = {}
    runs: list[dict[str, Any]] = []
    try:
        for name in opts.targets:
            s = targets.new(name, "retrieve")
            s.start()
            servers[name] = s
            info = load_retrieve(s, corpus)
            log(f"  {name}: loaded {info['instances_ok']} instances")
        for rep in range(opts.repeat):
            order = opts.targets[rep % len(opts.targets):] + opts.targets[: rep % len(opts.targets)]
            for clients in opts.clients:
                for name in order:
                    r = run_retrieve(servers[name], urls, clients=clients)
                    runs.append({"target": name, "clients": clients, "repetition": rep, **r})
                    log(
                        f"  {name:22s} x{clients} rep {rep}: instance {r['instance']['per_s']:.1f}/s "
                        f"{r['instance']['mb_per_s']:.1f} MB/s, rendered {r['rendered']['per_s']:.1f}/s"
                        + (f" ERRORS {r['instance'].get('errors', [])[:1]} {r['rendered'].get('errors', [])[:1]}" if r["instance"].get("errors") or r["rendered"].get("errors") else "")
                    )
    finally:
        for s in servers.values():
            s.stop()
            if not opts.keep:
                _cleanup(s, targets)
    summary = []
    for name in opts.targets:
        for clients in opts.clients:
            rs = [r for r in runs if r["target"] == name and r["clients"] == clients]
            if not rs:
                continue
            summary.append(
                {
                    "target": name,
                    "clients": clients,
                    "instance_per_s": round(median([r["instance"]["per_s"] for r in rs]), 2),
                    "instance_mb_per_s": round(median([r["instance"]["mb_per_s"] for r in rs]), 2),
                    "rendered_per_s": round(median([r["rendered"]["per_s"] for r in rs]), 2),
                }
            )
    out["retrieve"] = {"runs": runs, "summary": summary, "corpus": corpus.describe()}


def print_retrieve(summary: list[dict[str, Any]], target_names: list[str]) -> None:
    print("\nRETRIEVE (medians; ratio = radhub / Orthanc throughput, >= 1.0 is better)")
    print(f"{'target':22s} {'cl':>2s} {'inst/s':>8s} {'MB/s':>7s} {'rendered/s':>10s} {'ratio inst':>10s} {'ratio rend':>10s}")
    by = {(r["target"], r["clients"]): r for r in summary}
    for r in summary:
        pair = _pair(r["target"], target_names)
        other = by.get((pair, r["clients"])) if pair else None
        ri = _fmt_ratio(r["instance_per_s"], other["instance_per_s"]) if other else ""
        rr = _fmt_ratio(r["rendered_per_s"], other["rendered_per_s"]) if other else ""
        print(f"{r['target']:22s} {r['clients']:>2d} {r['instance_per_s']:>8.1f} {r['instance_mb_per_s']:>7.1f} {r['rendered_per_s']:>10.1f} {ri:>10s} {rr:>10s}")


# ---------------------------------------------------------------------------
def _keep_log(server: Server, workdir: Path) -> None:
    log_path = getattr(server, "log", None)
    if log_path is not None and Path(log_path).exists():
        dest = workdir / "failed-logs" / f"{Path(log_path).parent.name}.log"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, dest)
        log(f"  server log of the failed run kept at {dest}")


def _cleanup(server: Server, targets: Targets) -> None:
    wd = getattr(server, "workdir", None)
    if wd is not None:
        shutil.rmtree(wd, ignore_errors=True)
    db = getattr(server, "pg_database", None)
    url = getattr(server, "database_url", None)
    if url and targets._pg is not None:
        db = url.rsplit("/", 1)[-1]
    if db and targets._pg is not None:
        targets._pg.drop_database(db)


def run(opts: Options, requested_targets: list[str] | None) -> dict[str, Any]:
    """Run the selected workloads; prints tables on stdout and returns all figures."""
    ok, skipped = available_targets(requested_targets)
    for reason in skipped:
        log(f"skipping {reason}")
    if not ok:
        raise SystemExit("no target can run here")
    if opts.auth == "both":
        ok = ok + [t + AUTH_SUFFIX for t in ok if t.startswith("radhub")]
    opts.targets = ok
    opts.workdir.mkdir(parents=True, exist_ok=True)
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"machine_before": machine(), "targets": ok, "skipped": skipped, "options": _opts_dict(opts)}
    log(f"machine: {out['machine_before']}")
    targets = Targets(Path(tempfile.mkdtemp(prefix="run-", dir=opts.workdir)), ok, auth=opts.auth == "on")
    try:
        for w in opts.workloads:
            log(f"== workload {w}")
            {"ingest": ingest, "query": query, "retrieve": retrieve}[w](opts, targets, out)
    finally:
        targets.close()
        if not opts.keep:
            shutil.rmtree(targets.workdir, ignore_errors=True)
    out["machine_after"] = machine()
    if not any(t.startswith("orthanc") for t in ok):
        print("\nNOTE: Orthanc is not installed here; radhub only (no ratios). Install: bash benchmarks/archive/setup.sh")
    if "ingest" in out:
        print_ingest(out["ingest"]["summary"])
    if "query" in out:
        print_query(out["query"]["results"], ok)
    if "retrieve" in out:
        print_retrieve(out["retrieve"]["summary"], ok)
    print(f"\nload average before {out['machine_before']['loadavg']}, after {out['machine_after']['loadavg']}; "
          f"{out['machine_before']['cores']} cores, {out['machine_before']['cpu']}")
    return out


def _opts_dict(opts: Options) -> dict[str, Any]:
    d = dict(opts.__dict__)
    d["workdir"] = str(opts.workdir)
    d["data_dir"] = str(opts.data_dir)
    return d


def save(out: dict[str, Any], path: Path) -> None:
    """Write all figures as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str))
