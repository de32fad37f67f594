"""Server time of radhub's study-list page (``GET /studies``) on a catalog of many studies.

The catalog is built by the archive benchmark's bulk path
(:class:`benchmarks.archive._catalogs.RadhubBulkLoader`: header-only template
objects parsed by radhub's own reader, turned into records by the ingest
pipeline's ``build_record``, indexed in batches by ``Catalog.register_many``).
The plan here is study-heavy rather than instance-heavy: N studies of 1-4
series of one instance each (CT 30 %: 2 series, MR 20 %: 4, CR 20 %, DX 15 %,
MG 15 %: 1), about 1.3 studies per patient, surnames from a pool of 300,
dates 2015-2024, so that 100k studies take a minute to load.

Each round requests every query once, the order rotating, over one
keep-alive httpx connection; the time is the client's wall time of the whole
response (the rendered HTML page).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.archive._catalogs import PlannedInstance, RadhubBulkLoader, TemplateSet, _uid
from benchmarks.archive._corpus import surnames

_GIVEN = ["ALEX", "SAM", "KIM", "LEE", "PAT", "ROBIN", "JORDAN", "TAYLOR", "CASEY", "MORGAN"]
_NAME_LEN = len("ZZPLACEHOLDERZZPATIENTZZNAMEZZZ")  # the template's fixed-length name slot


@dataclass(frozen=True)
class StudyListPlan:
    """The deterministic content: ``studies`` studies; ``surname`` is one to search for."""

    studies: int
    seed: int = 14

    def instances(self) -> Iterator[PlannedInstance]:
        rng = random.Random(self.seed)
        pool = surnames(300, seed=self.seed)
        patients: list[tuple[str, str]] = []
        for n in range(1, self.studies + 1):
            if patients and rng.random() < 0.25:
                pid, pname = rng.choice(patients)
            else:
                surname = rng.choice(pool)
                pid = f"PID{len(patients) + 1:010d}"
                pname = (f"{surname}^{rng.choice(_GIVEN)}" + "X" * _NAME_LEN)[:_NAME_LEN]
                patients.append((pid, pname))
            r = rng.random()
            modality, n_series = ("CT", 2) if r < 0.3 else ("MR", 4) if r < 0.5 else ("CR", 1) if r < 0.7 else (
                ("DX", 1) if r < 0.85 else ("MG", 1))
            date = f"{rng.randint(2015, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            study_uid = _uid(rng)
            for s in range(1, n_series + 1):
                yield PlannedInstance(modality, study_uid, _uid(rng), _uid(rng), pid, pname, date,
                                      f"ACC{n:010d}", 1, s)

    def search_surname(self) -> str:
        """The first patient's surname (the search types its first four letters, as a user would)."""
        return next(self.instances()).patient_name.split("^")[0]


QUERIES: dict[str, str] = {
    "first_page": "/studies",
    "patient_name": "/studies?name={name}",
    "modality_date": "/studies?modality=CT&from=2020-01-01&to=2020-03-31",
    "sort_name": "/studies?sort=name&dir=asc",
    "page_50": "/studies?page=50",
}
"""The study list's typical requests: what the page's search form and links send."""


def load_catalog(database_url: str, data_dir: Path, studies: int, *, org_pks: list[int] | None = None) -> dict[str, Any]:
    """Bulk-index the plan's studies into a (stopped) radhub's catalog; figures of the load."""
    plan = StudyListPlan(studies)
    t0 = time.perf_counter()
    loader = RadhubBulkLoader(database_url, data_dir, TemplateSet(), org_pks=org_pks)
    try:
        planned = list(plan.instances())
        result = loader.load(planned)
    finally:
        loader.close()
    return {"studies": studies, "instances": len(planned), "seconds": time.perf_counter() - t0, **result}


def time_queries(base_url: str, *, rounds: int, warmup: int = 3, cookies: dict[str, str] | None = None,
                 studies: int) -> dict[str, dict[str, float]]:
    """p50 / p95 / max in ms of every query of :data:`QUERIES` over ``rounds`` rounds."""
    name = StudyListPlan(studies).search_surname()[:4].lower()
    paths = {k: v.format(name=name) for k, v in QUERIES.items()}
    times: dict[str, list[float]] = {k: [] for k in paths}
    rows: dict[str, int] = {}
    with httpx.Client(base_url=base_url, timeout=120, cookies=cookies, follow_redirects=False) as client:
        order = list(paths)
        for i in range(warmup + rounds):
            for kind in order[i % len(order):] + order[: i % len(order)]:
                t = time.perf_counter()
                r = client.get(paths[kind])
                dt = (time.perf_counter() - t) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"GET {paths[kind]} answered {r.status_code}: {r.text[:200]}")
                if i >= warmup:
                    times[kind].append(dt)
                    rows[kind] = r.text.count('<a href="/studies/2.25.')
    out: dict[str, dict[str, float]] = {}
    for kind, ts in times.items():
        ts.sort()
        out[kind] = {
            "n": len(ts),
            "p50_ms": statistics.median(ts),
            "p95_ms": ts[min(len(ts) - 1, int(round(0.95 * (len(ts) - 1))))],
            "max_ms": ts[-1],
            "rows": rows.get(kind, 0),
        }
    return out
