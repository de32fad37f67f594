"""The viewer benchmark's smoke run works end to end (real servers, real Chromium, real OHIF)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.archive._servers import orthanc_available
from benchmarks.viewer._browser import analyse, browser_problem
from benchmarks.viewer._cli import main as bench_main
from benchmarks.viewer._series import write_ct_study

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_prints_figures_for_every_arm(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.viewer", "run", "--smoke", "--root", str(tmp_path / "bench"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    text = proc.stdout

    # the study list: every query timed, on a 1k-study catalog, without and with log-in
    assert "STUDY LIST: GET /studies at 1,000 studies" in text
    results = figures["study_list"]["results"]
    assert [r["target"] for r in results] == ["radhub --no-auth", "radhub+auth (site user)"]
    for r in results:
        for name, q in r["queries"].items():
            assert q["n"] == 10 and q["p95_ms"] >= q["p50_ms"] > 0, (r["target"], name)
        assert r["queries"]["first_page"]["rows"] > 0 and r["queries"]["patient_name"]["rows"] > 0
        assert re.search(rf"\| {re.escape(r['target'])} \| \d+\.\d / \d+\.\d \(\d+\)", text)

    viewer = figures["viewer"]
    if browser_problem():
        assert "not run: viewer:" in text
        return
    arms = ["radhub", "orthanc"] if orthanc_available() else ["radhub"]
    assert viewer["arms"] == arms
    # alternating: warm-up radhub, warm-up orthanc, then radhub, orthanc, ...
    assert [o["arm"] for o in viewer["openings"]] == arms * 2
    for s in viewer["summary"]:
        assert s["failed"] == 0 and s["n"] == 1
        assert 0 < s["metadata_ms"] < s["first_image_ms"] <= s["all_slices_ms"], s
    for o in viewer["openings"]:
        assert o["slices_loaded"] == 20
    for arm in arms:
        assert re.search(rf"^\| {arm} \| [\d,]+ \| [\d,]+ \|", text, re.M), text
    if "orthanc" in arms:
        assert re.search(r"first image \d+\.\d\dx, all slices \d+\.\d\dx", text)
    else:
        assert "Orthanc is not installed here" in text


def test_the_generated_ct_is_a_volume(tmp_path):
    """CT Image Storage, one series, 512x512 int16, evenly spaced positions along z."""
    import pydicom

    study = write_ct_study(tmp_path, 4, seed=1)
    dss = [pydicom.dcmread(f) for f in study.files]
    assert {ds.SeriesInstanceUID for ds in dss} == {study.series_uid}
    assert {ds.SOPClassUID for ds in dss} == {"1.2.840.10008.5.1.4.1.1.2"}
    assert len({ds.SOPInstanceUID for ds in dss}) == 4
    zs = [float(ds.ImagePositionPatient[2]) for ds in dss]
    assert [round(b - a, 3) for a, b in zip(zs, zs[1:])] == [1.25] * 3
    px = dss[0].pixel_array
    assert px.shape == (512, 512) and px.dtype.name == "int16"
    hu = px * float(dss[0].RescaleSlope) + float(dss[0].RescaleIntercept)
    assert hu.min() < -900 and hu.max() > 500  # air and bone


def test_all_slices_is_the_last_of_one_response_per_slice():
    base = "http://h/dicomweb/studies/1/series/2/instances/"
    entries = [
        ["http://h/dicomweb/studies/1/series/2/metadata", 10.0, 20.0, 30.0, 100, 200],
        [base + "1.1/frames/1", 40.0, 50.0, 60.0, 10, 200],
        [base + "1.1/frames/1", 45.0, 55.0, 90.0, 10, 200],  # a second fetch of a slice counts once
        [base + "1.2/frames/1", 42.0, 52.0, 80.0, 10, 200],
    ]
    o = analyse("radhub", 70.0, entries, 2)
    assert (o.all_slices_ms, o.slices_loaded, o.metadata_ms, o.first_frame_ms) == (80.0, 2, 30.0, 60.0)
    assert analyse("radhub", 70.0, entries, 3).all_slices_ms is None


def test_cli_rejects_a_study_of_no_slices(capsys):
    assert bench_main(["run", "--slices", "0", "--only", "viewer"]) == 2
    assert "--slices must be at least 1, got 0" in capsys.readouterr().err


def test_smoke_script_runs_the_viewer_smoke():
    assert '"$PY" -m benchmarks.viewer run --smoke' in (REPO / "benchmarks" / "smoke.sh").read_text()
