"""Query workload: QIDO-RS latency percentiles at growing catalog sizes.

Queries (the same values for every server, drawn from the plan with a fixed seed):

* ``patient_id``: ``/studies?PatientID=<an existing patient>``
* ``patient_name``: ``/studies?PatientName=<SURNAME>*``
* ``date_modality``: ``/studies?StudyDate=<one month>&ModalitiesInStudy=CT``
* ``study_series``: ``/studies/{uid}/series`` of a CT study
* ``study_instances``: ``/studies/{uid}/instances`` of a CT study (150-350 instances)

Each round sends one query of each kind to each server in turn (the order
of servers rotates every round), over one keep-alive connection per server,
after a warm-up of 5 rounds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.archive._catalogs import CatalogPlan, PlannedStudy
from benchmarks.archive._measure import percentile

QUERIES = ("patient_id", "patient_name", "date_modality", "study_series", "study_instances")


def query_set(
    plan: CatalogPlan, n_studies: int, rounds: int, seed: int = 11, *, site: Callable[[str], int] | None = None
) -> list[dict[str, tuple[str, dict[str, str]]]]:
    """``rounds`` rounds of (path, params) per query kind, using studies of the first ``n_studies``.

    With ``site`` (study UID -> site index), the values come from site 0's studies only: the
    authenticated mode queries as that site.
    """
    rng = random.Random(seed)
    studies: list[PlannedStudy] = plan.studies[:n_studies]
    if site is not None:
        studies = [s for s in studies if site(s.study_uid) == 0] or studies
    ct = [s for s in studies if s.modality == "CT"] or studies
    out = []
    for _ in range(rounds):
        s = rng.choice(studies)
        surname = rng.choice(studies).surname
        year, month = rng.randint(2015, 2024), rng.randint(1, 12)
        c = rng.choice(ct)
        out.append(
            {
                "patient_id": ("/studies", {"PatientID": s.patient_id}),
                "patient_name": ("/studies", {"PatientName": f"{surname}*"}),
                "date_modality": (
                    "/studies",
                    {"StudyDate": f"{year}{month:02d}01-{year}{month:02d}28", "ModalitiesInStudy": "CT"},
                ),
                "study_series": (f"/studies/{c.study_uid}/series", {}),
                "study_instances": (f"/studies/{c.study_uid}/instances", {}),
            }
        )
    return out


def run_queries(
    servers: dict[str, tuple[str, dict[str, str]]],
    queries: list[dict[str, tuple[str, dict[str, str]]]],
    *,
    warmup: int = 5,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Latency percentiles (ms) per server (name -> (DICOMweb root URL, auth headers)) and query kind."""
    clients = {
        name: httpx.Client(
            base_url=url, timeout=120, headers={"Accept": "application/dicom+json", "Accept-Encoding": "identity", **auth}
        )
        for name, (url, auth) in servers.items()
    }
    lat: dict[str, dict[str, list[float]]] = {n: {q: [] for q in QUERIES} for n in servers}
    counts: dict[str, dict[str, list[int]]] = {n: {q: [] for q in QUERIES} for n in servers}
    errors: dict[str, list[str]] = {n: [] for n in servers}
    names = list(servers)
    try:
        for i, round_ in enumerate(queries):
            order = names[i % len(names):] + names[: i % len(names)]
            for name in order:
                client = clients[name]
                for kind in QUERIES:
                    path, params = round_[kind]
                    t0 = time.perf_counter()
                    r = client.get(path, params=params)
                    body = r.content
                    dt = (time.perf_counter() - t0) * 1000
                    if r.status_code != 200:
                        if len(errors[name]) < 5:
                            errors[name].append(f"{kind}: HTTP {r.status_code} {body[:200]!r}")
                        continue
                    if i >= warmup:
                        lat[name][kind].append(dt)
                        counts[name][kind].append(len(r.json()))
            if on_round is not None:
                on_round(i)
    finally:
        for c in clients.values():
            c.close()
    out: dict[str, dict[str, Any]] = {}
    for name in servers:
        out[name] = {
            kind: {
                "n": len(v),
                "p50_ms": round(percentile(v, 50), 2),
                "p95_ms": round(percentile(v, 95), 2),
                "p99_ms": round(percentile(v, 99), 2),
                "mean_results": round(sum(counts[name][kind]) / len(counts[name][kind]), 1) if counts[name][kind] else 0,
            }
            for kind, v in lat[name].items()
        }
        if errors[name]:
            out[name]["errors"] = errors[name]
    return out
