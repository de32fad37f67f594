"""Command line of the viewer benchmark.

``run``  open a generated CT study in OHIF against radhub and Orthanc (alternating),
         then time the study-list page on a large catalog; print the table
``report`` print the table of a run's ``--json`` file again
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.viewer._run import Options, log, run, table


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.viewer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the viewer and study-list benchmarks, print medians and ratios")
    r.add_argument("--smoke", action="store_true", help="seconds-long run: 20 slices, 1 repetition, 1k studies, 10 rounds")
    r.add_argument("--slices", type=int, default=None, help="slices of the CT study (default 300)")
    r.add_argument("--repeat", type=int, default=None, help="openings per arm after the warm-up (default 3)")
    r.add_argument("--studies", type=int, default=None, help="studies in the study-list catalog (default 100000)")
    r.add_argument("--rounds", type=int, default=None, help="study-list rounds (every query once each; default 100)")
    r.add_argument("--no-auth-list", action="store_true", help="time the study list without authentication only")
    r.add_argument("--only", choices=["viewer", "study-list"], default=None, help="run one part only")
    r.add_argument("--root", type=Path, default=None, help="work directory (default: a new temporary one, deleted)")
    r.add_argument("--keep", action="store_true", help="keep the work directory (servers' data, logs, screenshots)")
    r.add_argument("--screenshots", action="store_true", help="a screenshot after every opening (in the work directory)")
    r.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    rep = sub.add_parser("report", help="print the table of the figures a run wrote with --json")
    rep.add_argument("figures", type=Path)
    return p


def _given(value: int | None, default: int) -> int:
    return default if value is None else value


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if a.command == "report":
        out = json.loads(a.figures.read_text())
        print(f"machine: {out['machine']}; {out['started']}; load average {out['load_before']:.2f} before, {out['load_after']:.2f} after")
        print(table(out))
        return 0
    smoke = a.smoke
    opts = Options(
        slices=_given(a.slices, 20 if smoke else 300),
        repeat=_given(a.repeat, 1 if smoke else 3),
        studies=_given(a.studies, 1000 if smoke else 100_000),
        rounds=_given(a.rounds, 10 if smoke else 100),
        auth=not a.no_auth_list,
        viewer=a.only in (None, "viewer"),
        study_list=a.only in (None, "study-list"),
        root=a.root,
        keep=a.keep,
        screenshots=a.screenshots,
        timeout_s=120.0 if smoke else 300.0,
    )
    for name, value in (("--slices", opts.slices), ("--repeat", opts.repeat), ("--studies", opts.studies), ("--rounds", opts.rounds)):
        if value < 1:
            print(f"{name} must be at least 1, got {value}", file=sys.stderr)
            return 2
    out = run(opts)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1, default=str))
        log(f"figures written to {a.json}")
    print(f"machine: {out['machine']}; {out['started']}; load average {out['load_before']:.2f} before, {out['load_after']:.2f} after")
    print(table(out))
    failed = [s for s in out.get("viewer", {}).get("summary", []) if s["failed"]]
    return 1 if failed else 0
