"""`radhub import`, `radhub serve` and `radhub demo` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

import httpx
import pytest

from radhub.cli import main
from tests.conftest import DICOM_DIR, free_port, shared_data


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "radhub.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_import_folder_and_zip_json_summary(tmp_path):
    src = shared_data("dicom", "dcm_qa_ct_GE")
    z = tmp_path / "study.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(shared_data("dicom", "dcmqi", "segmentations", "ct-3slice").iterdir()):
            zf.write(f, f"ct/{f.name}")
        zf.writestr("notes.txt", "not a DICOM file")
    p = run_cli("import", str(src), str(z), "--data-dir", str(tmp_path / "d"), "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["stored"] == 28 + 3
    assert summary["duplicates"] == 0
    assert [r["path"].endswith("!notes.txt") for r in summary["rejected"]] == [True]
    assert "not_dicom" in summary["rejected"][0]["reason"]
    assert "import" in p.stderr  # the progress bar goes to stderr
    again = json.loads(run_cli("import", str(src), "--data-dir", str(tmp_path / "d"), "--json").stdout)
    assert again["stored"] == 0 and again["duplicates"] == 28


def test_import_missing_path_is_bad_input(tmp_path):
    assert main(["import", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d")]) == 2
    p = run_cli("import", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d"))
    assert p.returncode == 2
    assert "no such file or folder" in p.stderr


def test_import_only_rejects_fails_with_1(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"garbage" * 100)
    p = run_cli("import", str(bad), "--data-dir", str(tmp_path / "d"))
    assert p.returncode == 1
    assert "rejected" in p.stdout and "not_dicom" in p.stdout


def test_usage_errors_exit_2(tmp_path):
    assert main(["import", "x", "--url", "http://127.0.0.1:1", "--data-dir", str(tmp_path)]) == 2
    assert main(["serve", "--http-port", "99999"]) == 2
    assert main(["no-such-command"]) == 2


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "radhub exited early"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("not ready")


@pytest.mark.parametrize("with_data", [True, False], ids=["demo-data", "no-shared-data"])
def test_demo_starts_with_or_without_demo_data(tmp_path, with_data):
    port, dport = free_port(), free_port()
    demo_data = str(DICOM_DIR) if with_data else str(tmp_path / "absent")
    log = tmp_path / "demo.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "radhub.cli", "demo", "--data-dir", str(tmp_path / "d"), "--http-port", str(port), "--dicom-port", str(dport), "--demo-data", demo_data],
            stdout=fh,
            stderr=fh,
            env={**os.environ},
        )
    try:
        _wait_health(f"http://127.0.0.1:{port}", proc)
        totals = httpx.get(f"http://127.0.0.1:{port}/api/archive/totals").json()
        text = log.read_text()
        if with_data:
            assert totals["instances"] > 200
            assert "stored" in text
        else:
            assert totals["instances"] == 0
            assert "not found" in text and "empty archive" in text
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_options_reach_the_server(tmp_path):
    """--max-request-bytes and --public-url are applied by `radhub serve`."""
    from tests.conftest import RadhubProcess

    data = tmp_path / "data"
    data.mkdir()
    server = RadhubProcess(data, extra_args=["--max-request-bytes", "1000", "--public-url", "https://pacs.example.org"])
    try:
        big = b"x" * 5000
        r = httpx.post(
            server.dicomweb + "/studies",
            content=big,
            headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'},
        )
        assert r.status_code == 413
        assert "1000" in r.text
        server.stop()
        server.args[server.args.index("--max-request-bytes") + 1] = str(10**8)
        server.start()
        ct = (DICOM_DIR / "pydicom" / "CT_small.dcm").read_bytes()
        assert httpx.post(server.dicomweb + "/studies", content=ct, headers={"Content-Type": "application/dicom"}).status_code == 200
        studies = httpx.get(server.dicomweb + "/studies").json()
        assert studies and studies[0]["00081190"]["Value"][0].startswith("https://pacs.example.org/")
    finally:
        server.stop()
