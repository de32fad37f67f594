"""ROIs per second of feature extraction on mini-MIAS circle ROIs.

Targets, on the same ROIs and the same parameters (mammography_2d, 102 features):

- ``pyradiomics-serial``: a plain loop (Pillow -> SimpleITK image, numpy disc
  mask, ``RadiomicsFeatureExtractor.execute``), no radhub code;
- ``radhub-local-1`` / ``radhub-local-2``: :func:`radhub.radiomics.extract_features`
  in-process / on a 2-process pool;
- ``radhub-dask-1`` / ``radhub-dask-2``: the same on a local Dask cluster of 1 / 2
  single-threaded workers (cluster start-up timed separately).

Each repetition runs every target once, the order rotating; medians are printed
with the ratios to the serial loop. Usage::

    python -m benchmarks.radiomics [--rois 40] [--repeats 3] [--smoke] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
MIAS = Path(os.environ.get("RADHUB_SHARED_DATA", REPO.parent / "shared" / "data")) / "mias"
TARGETS = (
    "pyradiomics-serial",
    "radhub-local-1",
    "radhub-local-2",
    "radhub-dask-1",
    "radhub-dask-2",
)


def _rois(n: int) -> list[Any]:
    from radhub.radiomics import mias_rois

    specs, _ = mias_rois(MIAS, "mass")
    calcs, _ = mias_rois(MIAS, "calcification")
    return (specs + calcs)[:n]


def _plain_loop(specs: list[Any], params: dict[str, Any]) -> int:
    """What a user would write with pyradiomics alone."""
    import SimpleITK as sitk
    from PIL import Image

    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(40)
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    done = 0
    for spec in specs:
        arr = np.asarray(Image.open(spec.image)).astype(np.int32)  # widened: see radhub _widen
        image = sitk.GetImageFromArray(arr)
        image.SetSpacing((0.2, 0.2))
        x, y, r = (float(v) for v in spec.mask.split(":")[1].split(","))
        yy, xx = np.mgrid[0 : arr.shape[0], 0 : arr.shape[1]]
        mask = sitk.GetImageFromArray(((xx - x) ** 2 + (yy - y) ** 2 <= r * r).astype(np.uint8))
        mask.CopyInformation(image)
        extractor.execute(image, mask, label=1)
        done += 1
    return done


def _radhub(specs: list[Any], params: Any, executor: Any) -> int:
    from radhub.radiomics import extract_features

    result = extract_features(specs, params, executor=executor, progress=False)
    if result.failures:
        raise RuntimeError(f"failures: {result.failures[:3]}")
    return result.n_ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.radiomics", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--rois",
        type=int,
        default=40,
        help="number of mini-MIAS ROIs (masses, then calcifications)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--smoke", action="store_true", help="4 ROIs, 1 repetition, local targets only (CI smoke)"
    )
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    args = ap.parse_args(argv)
    if not (MIAS / "Info.txt").is_file():
        print(f"mini-MIAS not found at {MIAS}; nothing to measure", file=sys.stderr)
        return 0
    from radhub.radiomics import DaskExecutor, LocalExecutor, load_params

    n, repeats = (4, 1) if args.smoke else (args.rois, args.repeats)
    targets = TARGETS[:3] if args.smoke else TARGETS
    specs = _rois(n)
    params = load_params("mammography_2d")
    executors: dict[str, Any] = {
        "radhub-local-1": LocalExecutor(1),
        "radhub-local-2": LocalExecutor(2),
    }
    startup: dict[str, float] = {}
    for name, workers in (("radhub-dask-1", 1), ("radhub-dask-2", 2)):
        if name in targets:
            t0 = time.perf_counter()
            executors[name] = DaskExecutor(workers=workers)
            startup[name] = time.perf_counter() - t0
    # warm-up: start the process pools, import pyradiomics everywhere
    for name in targets[1:]:
        _radhub(specs[:2], params, executors[name])
    times: dict[str, list[float]] = {t: [] for t in targets}
    load_before = os.getloadavg()
    try:
        for rep in range(repeats):
            order = targets[rep % len(targets) :] + targets[: rep % len(targets)]
            for name in order:
                t0 = time.perf_counter()
                done = (
                    _plain_loop(specs, params.params)
                    if name == "pyradiomics-serial"
                    else _radhub(specs, params, executors[name])
                )
                times[name].append(time.perf_counter() - t0)
                if done != len(specs):
                    raise RuntimeError(f"{name} extracted {done} of {len(specs)} ROIs")
    finally:
        for ex in executors.values():
            ex.close()
    base = statistics.median(times["pyradiomics-serial"])
    rows = []
    for name in targets:
        med = statistics.median(times[name])
        rows.append(
            {
                "target": name,
                "median_seconds": round(med, 3),
                "rois_per_second": round(len(specs) / med, 3),
                "speedup_vs_serial_pyradiomics": round(base / med, 3),
                "runs_seconds": [round(t, 3) for t in times[name]],
                "startup_seconds": round(startup[name], 2) if name in startup else None,
            }
        )
    report = {
        "rois": len(specs),
        "repeats": repeats,
        "params": "mammography_2d",
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "results": rows,
    }
    print(f"{'target':<20} {'median s':>9} {'ROIs/s':>8} {'x serial':>9}")
    for r in rows:
        print(
            f"{r['target']:<20} {r['median_seconds']:>9.2f} {r['rois_per_second']:>8.2f} {r['speedup_vs_serial_pyradiomics']:>9.2f}"
        )
    print(
        f"load average before/after: {report['load_average_before']} / {report['load_average_after']}"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
