"""Markdown tables of a results JSON, as the results section of benchmarks/README.md shows them.

``python -m benchmarks.archive report results.json [...]`` prints one table
per workload found in the files, with the date, the load average before and
after, and the radhub/Orthanc ratios, ready to paste into the README.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.archive._query import QUERIES

__all__ = ["report"]


def _ratio(x: float | None) -> str:
    return f"**{x:.2f}x**" if x is not None else ""


def _header(out: dict[str, Any], title: str) -> str:
    before, after = out["machine_before"], out["machine_after"]
    return (
        f"#### {title} ({before['date']}; load average {before['loadavg'][0]} before, "
        f"{after['loadavg'][0]} after)\n"
    )


def _ingest(out: dict[str, Any]) -> list[str]:
    rows = sorted(out["ingest"]["summary"], key=lambda r: (r["corpus"], r["protocol"], r["clients"], r["target"]))
    corpora = sorted({r["corpus"] for r in rows})
    lines = [_header(out, f"Ingest, corpus {', '.join(corpora)}")]
    lines.append(
        "| corpus | protocol | clients | target | instances/s | MB/s | radhub / Orthanc | peak RSS MB | "
        "RSS growth after 1st quarter MB | conflicts | failed |"
    )
    lines.append("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['protocol']} | {r['clients']} | {r['target']} | {r['instances_per_s']:.1f} | "
            f"{r['mb_per_s']:.1f} | {_ratio(r.get('ratio'))} | {r['rss_peak_mb']:.0f} | "
            f"{r['rss_growth_after_q1_mb']:.1f} | {r.get('conflicts', 0)} | {r['failed']} |"
        )
    return lines


def _query(out: dict[str, Any]) -> list[str]:
    results = sorted(out["query"]["results"], key=lambda r: (r["scale"], r["target"]))
    lines = [_header(out, "Query: QIDO-RS latency in ms, p50 / p95 / p99")]
    lines.append("| instances | target | " + " | ".join(QUERIES) + " |")
    lines.append("| ---: | --- | " + " | ".join("---:" for _ in QUERIES) + " |")
    for r in results:
        cells = []
        for q in QUERIES:
            v = r["queries"][q]
            if not v.get("n"):
                cells.append("")
            elif v.get("mean_results") == 0:
                cells.append("(no results)")
            else:
                cells.append(f"{v['p50_ms']:.0f} / {v['p95_ms']:.0f} / {v['p99_ms']:.0f}")
        lines.append(f"| {r['scale']:,} | {r['target']} | " + " | ".join(cells) + " |")
    top = max(r["scale"] for r in results)
    means = {
        q: [r["queries"][q].get("mean_results", 0) for r in results if r["scale"] == top and r["target"].startswith("radhub")]
        for q in QUERIES
    }
    lines.append("")
    lines.append(
        "Mean number of results at the largest scale: "
        + ", ".join(f"{q} {max(v):.1f}" for q, v in means.items() if v)
        + "."
    )
    return lines


def _retrieve(out: dict[str, Any]) -> list[str]:
    summary = out["retrieve"]["summary"]
    lines = [_header(out, f"Retrieve ({out['retrieve'].get('corpus', '')})")]
    lines.append(
        "| target | clients | WADO-RS instances/s | MB/s | rendered frames/s | radhub / Orthanc instances | "
        "radhub / Orthanc rendered |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    by = {(r["target"], r["clients"]): r for r in summary}
    for r in summary:
        other = None
        if r["target"].startswith("radhub-"):
            other = by.get((r["target"].replace("radhub-", "orthanc-"), r["clients"]))
        ri = _ratio(r["instance_per_s"] / other["instance_per_s"]) if other and other["instance_per_s"] else ""
        rr = _ratio(r["rendered_per_s"] / other["rendered_per_s"]) if other and other["rendered_per_s"] else ""
        lines.append(
            f"| {r['target']} | {r['clients']} | {r['instance_per_s']:.1f} | {r['instance_mb_per_s']:.1f} | "
            f"{r['rendered_per_s']:.1f} | {ri} | {rr} |"
        )
    return lines


def report(paths: list[Path]) -> str:
    """The markdown of every workload in the results files, in the order given."""
    parts: list[str] = []
    for path in paths:
        out = json.loads(Path(path).read_text())
        for key, render in (("ingest", _ingest), ("query", _query), ("retrieve", _retrieve)):
            if key in out:
                parts.append("\n".join(render(out)))
    return "\n\n".join(parts) + "\n"
