"""No patient name, ID or birth date in any log line or in the audit's syslog export (PRODUCT.md H3).

A real ``radhub serve`` (authentication on, INFO logging) receives a study with a
distinctive patient over STOW-RS and C-STORE, is searched for it over QIDO-RS and
C-FIND, gets a conflicting copy and a refused association; then every line it
logged and the syslog export of its audit trail are searched for the patient.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import dcmtk, free_port
from tests.identity.conftest import make_instance, uids_of
from tests.net.conftest import run_dcmtk, wait_listening

NAME = "ZQXJV^WUMBLEFORTH"
PATIENT_ID = "PHI-73519-XK"
BIRTH = "19010203"
SECRETS = ("ZQXJV", "WUMBLEFORTH", PATIENT_ID, BIRTH)


def _radhub(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "radhub", *args], input=input, capture_output=True, text=True, timeout=120, check=True)


def _stow(client: httpx.Client, data: bytes, token: str) -> httpx.Response:
    body = b"--XB\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--XB--\r\n"
    return client.post("/dicomweb/studies", content=body, headers={
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=XB', "Authorization": f"Bearer {token}"})


@pytest.mark.slow
def test_patient_identity_never_reaches_a_log_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = ["--data-dir", str(data)]
    _radhub("org", "create", "--kind", "requesting", "--name", "Site A", "--code", "site-a", "--ae", "MODALITY_A", *d)
    _radhub("user", "create", "--org", "site-a", "--username", "tech", "--role", "technologist", *d, input="a long password\n")
    http, dicom = free_port(), free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "RADHUB_AUTH": "true"}
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "radhub", "serve", *d, "--http-port", str(http), "--dicom-port", str(dicom), "-v"],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        wait_listening(http)
        wait_listening(dicom)
        with httpx.Client(base_url=f"http://127.0.0.1:{http}", timeout=30) as c:
            assert c.post("/api/v1/auth/token", data={"username": "tech", "password": "wrong password"}).status_code == 401
            token = c.post("/api/v1/auth/token", data={"username": "tech", "password": "a long password"}).json()["access_token"]
            first = make_instance(PatientName=NAME, PatientID=PATIENT_ID, PatientBirthDate=BIRTH)
            study, series, sop = uids_of(first)
            assert _stow(c, first, token).status_code == 200
            # the same SOP Instance UID with other bytes: a conflict, which is logged
            clash = make_instance(StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=sop,
                                  PatientName=NAME + "^JR", PatientID=PATIENT_ID, PatientBirthDate=BIRTH)
            assert _stow(c, clash, token).status_code in (200, 409)
            h = {"Authorization": f"Bearer {token}"}
            for q in ({"PatientName": "ZQXJV*"}, {"PatientID": PATIENT_ID}, {"PatientBirthDate": BIRTH}):
                assert c.get("/dicomweb/studies", params=q, headers=h).status_code == 200
            assert c.get("/dicomweb/studies", params={"PatientName": "ZQXJV*", "limit": "x"}, headers=h).status_code == 400
            assert c.get(f"/dicomweb/studies/{study}/metadata", headers=h).status_code == 200
        f = tmp_path / "f.dcm"
        f.write_bytes(make_instance(PatientName=NAME, PatientID=PATIENT_ID, PatientBirthDate=BIRTH, StudyInstanceUID=study))
        run_dcmtk("storescu", "-aet", "MODALITY_A", "-aec", "RADHUB", "127.0.0.1", str(dicom), str(f))
        found = run_dcmtk("findscu", "-v", "-S", "-aet", "MODALITY_A", "-aec", "RADHUB", "-k", "QueryRetrieveLevel=STUDY",
                          "-k", f"PatientName={NAME[:5]}*", "-k", f"PatientID={PATIENT_ID}", "-k", "StudyInstanceUID", "127.0.0.1", str(dicom))
        assert study in found.stdout  # the search reached the data: the logs had a chance to leak
        subprocess.run([dcmtk("storescu"), "-aet", "STRANGER", "-aec", "RADHUB", "127.0.0.1", str(dicom), str(f)],
                       capture_output=True, timeout=60)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text(errors="replace")
    assert "rejected" in text and "STRANGER" in text and "STOW-RS" in text and "failed login" in text  # the log says things
    for s in SECRETS:
        assert s not in text, f"{s!r} appears in the server log"
    out = tmp_path / "audit.syslog"
    _radhub("audit", "export", "--format", "syslog", "-q", "-o", str(out), *d)
    exported = out.read_text()
    assert exported.count("IHE+RFC-3881") >= 8 and study in exported
    for s in SECRETS:
        assert s not in exported, f"{s!r} appears in the audit's syslog export"
