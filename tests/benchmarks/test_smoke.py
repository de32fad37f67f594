"""The archive benchmark's smoke run works end to end (real servers, real clients)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.archive._cli import main as bench_main
from benchmarks.archive._servers import orthanc_available

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_covers_every_workload(tmp_path):
    if not os.path.exists("/usr/bin/dcmsend"):
        pytest.skip("dcmtk is not installed")
    targets = "radhub-sqlite,orthanc-sqlite" if orthanc_available() else "radhub-sqlite"
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.archive", "run", "--smoke", "--targets", targets,
         "--root", str(tmp_path / "bench"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    names = targets.split(",")
    assert figures["targets"] == names

    runs = figures["ingest"]["runs"]
    assert {(r["target"], r["protocol"]) for r in runs} == {(t, p) for t in names for p in ("stow", "cstore")}
    for r in runs:
        assert r["instances_ok"] == r["instances_sent"] == r["instances_in_server"] == 16, r
        assert r["instances_per_s"] > 0 and r["rss_peak_mb"] > 0

    for r in figures["query"]["results"]:
        for kind in ("patient_id", "patient_name", "date_modality", "study_series", "study_instances"):
            assert r["queries"][kind]["n"] > 0, (r["target"], kind)
        assert "errors" not in r["queries"]
        assert r["queries"]["patient_id"]["mean_results"] >= 1
        assert r["queries"]["study_instances"]["mean_results"] >= 1

    for r in figures["retrieve"]["runs"]:
        assert r["instance"]["ok"] == r["instance"]["requests"] > 0, r
        assert r["rendered"]["ok"] == r["rendered"]["requests"] > 0, r

    assert "INGEST" in proc.stdout and "QUERY" in proc.stdout and "RETRIEVE" in proc.stdout
    if "orthanc-sqlite" in names:
        assert "x sq" in proc.stdout  # radhub/Orthanc ratios are printed
    else:
        assert "Orthanc is not installed here; radhub only" in proc.stdout

    # the README's tables come from the same figures
    rep = subprocess.run(
        [sys.executable, "-m", "benchmarks.archive", "report", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert rep.returncode == 0, rep.stderr
    tables = rep.stdout
    assert tables.count("#### ") == 3  # ingest, query, retrieve
    for r in figures["ingest"]["summary"]:
        assert f"| {r['corpus']} | {r['protocol']} | {r['clients']} | {r['target']} | {r['instances_per_s']:.1f} |" in tables
    if "orthanc-sqlite" in names:
        ratio = next(r["ratio"] for r in figures["ingest"]["summary"] if r["target"] == "radhub-sqlite")
        assert f"**{ratio:.2f}x**" in tables


def test_cli_rejects_unknown_target(capsys):
    with pytest.raises(SystemExit) as exc:
        bench_main(["run", "--targets", "radhub-mysql"])
    assert exc.value.code == 2
    assert "unknown radhub-mysql; choose from radhub-sqlite" in capsys.readouterr().err


def test_smoke_script_is_a_plain_list_of_commands():
    script = (REPO / "benchmarks" / "smoke.sh").read_text()
    assert os.access(REPO / "benchmarks" / "smoke.sh", os.X_OK)
    assert "-m benchmarks.archive run --smoke" in script
    assert "apt-get" not in script and "pip install" not in script


@pytest.mark.slow
def test_smoke_run_with_authentication_beside_without(tmp_path):
    """``--auth both``: every radhub target also runs authenticated (API key, 10 sites), queried as a site too."""
    if not os.path.exists("/usr/bin/dcmsend"):
        pytest.skip("dcmtk is not installed")
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.archive", "run", "--smoke", "--auth", "both", "--targets", "radhub-sqlite",
         "--workload", "ingest,query", "--root", str(tmp_path / "bench"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["targets"] == ["radhub-sqlite", "radhub-sqlite+auth"]
    runs = figures["ingest"]["runs"]
    assert {(r["target"], r["protocol"]) for r in runs} == {
        (t, p) for t in ("radhub-sqlite", "radhub-sqlite+auth") for p in ("stow", "cstore")
    }
    for r in runs:  # the authenticated server stored everything: the key and the AE title were accepted
        assert r["instances_ok"] == r["instances_in_server"] == 16, r
    targets = {r["target"]: r for r in figures["query"]["results"]}
    assert set(targets) == {"radhub-sqlite", "radhub-sqlite+auth", "radhub-sqlite+auth+site"}
    for name, r in targets.items():
        assert "errors" not in r["queries"], name
        assert r["queries"]["patient_id"]["n"] > 0, name
    assert "p95 vs no filter" in proc.stdout
