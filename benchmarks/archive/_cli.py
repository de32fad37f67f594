"""Command line of the archive benchmark.

``run``       run workloads against radhub and Orthanc, print medians and ratios
``generate``  write a generated corpus (also done on first use by ``run``)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.archive._corpus import SIZES, generated_corpus
from benchmarks.archive._run import WORKLOADS, Options, log, run, save
from benchmarks.archive._servers import TARGETS

DEFAULT_ROOT = Path(os.environ.get("RADHUB_BENCH_DIR", Path(tempfile.gettempdir()) / "radhub-bench"))


def _ints(value: str) -> list[int]:
    try:
        return [int(float(v)) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from exc


def _names(choices: tuple[str, ...]) -> object:
    def parse(value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from {', '.join(choices)}")
        return items

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.archive", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run workloads and print medians and radhub/Orthanc ratios")
    r.add_argument("--workload", default="all", type=_names((*WORKLOADS, "all")), help="ingest, query, retrieve or all (comma-separated)")
    r.add_argument("--targets", type=_names(TARGETS), default=None, help=f"default: every one installed of {', '.join(TARGETS)}")
    r.add_argument("--corpus", type=_names(("real", *SIZES)), default=["real", "small"], help="ingest corpora: real and/or a generated size (smoke, small, medium, full)")
    r.add_argument("--protocols", type=_names(("stow", "cstore")), default=["stow", "cstore"])
    r.add_argument("--clients", type=_ints, default=[1, 4], help="parallel clients, e.g. 1,4")
    r.add_argument("--repeat", type=int, default=3, help="repetitions (medians are reported)")
    r.add_argument("--scale", dest="scales", type=_ints, default=[10_000, 100_000, 1_000_000], help="catalog sizes of the query workload, e.g. 1e4,1e5,1e6")
    r.add_argument("--orthanc-max-scale", type=int, default=100_000, help="largest catalog loaded into Orthanc (it ingests header-only files at a few hundred per second)")
    r.add_argument("--rounds", type=int, default=200, help="query rounds per scale")
    r.add_argument("--retrieve-corpus", default="small", choices=["real", *SIZES])
    r.add_argument("--smoke", action="store_true", help="seconds-long run of every workload (what CI runs)")
    r.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"generated data and server directories (default {DEFAULT_ROOT})")
    r.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file (default <root>/results-<time>.json)")
    r.add_argument("--keep", action="store_true", help="keep server directories and databases")
    r.add_argument(
        "--auth", nargs="?", const="on", choices=["on", "both"], default=None,
        help="radhub with authentication and tenancy on (API keys; 10 sites; queries as one site and as the platform); "
        "'both' also runs each radhub target without (as radhub-...+auth beside radhub-...)",
    )

    rep = sub.add_parser("report", help="markdown tables of results JSON files (for benchmarks/README.md)")
    rep.add_argument("results", nargs="+", type=Path)
    g = sub.add_parser("generate", help="write a generated corpus")
    g.add_argument("--corpus", choices=list(SIZES), default="small")
    g.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "report":
        from benchmarks.archive._report import report

        print(report(args.results), end="")
        return 0
    if args.command == "generate":
        corpus = generated_corpus(args.root / "data", args.corpus)
        print(corpus.describe())
        return 0
    workloads = list(WORKLOADS) if "all" in args.workload else args.workload
    opts = Options(
        workloads=workloads,
        targets=[],
        workdir=args.root / "work",
        data_dir=args.root / "data",
        corpora=args.corpus,
        protocols=args.protocols,
        clients=args.clients,
        repeat=args.repeat,
        scales=args.scales,
        orthanc_max_scale=args.orthanc_max_scale,
        rounds=args.rounds,
        retrieve_corpus=args.retrieve_corpus,
        keep=args.keep,
        auth=args.auth,
    )
    targets = args.targets
    if args.smoke:
        # every workload and protocol once, 2 parallel clients, tiny data
        opts.corpora = ["smoke"]
        opts.clients = [2] if args.clients == [1, 4] else args.clients
        opts.repeat = 1
        opts.scales = [300]
        opts.rounds = 6
        opts.retrieve_corpus = "smoke"
        if targets is None:
            targets = ["radhub-sqlite", "radhub-postgresql", "orthanc-sqlite"]
    out = run(opts, targets)
    path = args.json or args.root / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    save(out, path)
    log(f"figures written to {path}")
    failed = [r for r in out.get("ingest", {}).get("runs", []) if r.get("instances_ok", 0) == 0]
    return 1 if failed else 0
