"""C-ECHO and association acceptance: AE titles and allowed callers, with dcmtk's echoscu."""

from __future__ import annotations

import pydicom
import pytest

from radhub.config import Settings
from radhub.net import DicomServer
from tests.net.conftest import AE_TITLE, run_dcmtk, start_server


def test_echoscu_succeeds(dicom_server):
    result = run_dcmtk("echoscu", "-v", "-aec", AE_TITLE, "127.0.0.1", str(dicom_server.port))
    assert result.returncode == 0, result.stdout
    assert "Received Echo Response (Success)" in result.stdout


def test_caller_not_in_allowed_callers_is_rejected(sqlite_archive):
    server = start_server(sqlite_archive, allowed_callers=["MODALITY1", "ECHOSCU"])
    try:
        rejected = run_dcmtk(
            "echoscu", "-aet", "OTHER", "-aec", AE_TITLE, "127.0.0.1", str(server.port)
        )
        assert rejected.returncode != 0
        assert "Association Rejected" in rejected.stdout
        assert "Calling AE Title Not Recognized" in rejected.stdout
        accepted = run_dcmtk(
            "echoscu", "-aet", "MODALITY1", "-aec", AE_TITLE, "127.0.0.1", str(server.port)
        )
        assert accepted.returncode == 0, accepted.stdout
    finally:
        server.stop()


def test_allowed_callers_and_ae_title_come_from_settings(make_archive):
    archive = make_archive("settings", ae_title="ARCHIVE7", allowed_callers="MOD1, MOD2")
    server = DicomServer(archive, host="127.0.0.1", port=0)
    server.start()
    try:
        assert server.ae_title == "ARCHIVE7"
        assert server.allowed_callers == ["MOD1", "MOD2"]
        ok = run_dcmtk("echoscu", "-aet", "MOD2", "-aec", "ARCHIVE7", "127.0.0.1", str(server.port))
        assert ok.returncode == 0, ok.stdout
        bad = run_dcmtk(
            "echoscu", "-aet", "ECHOSCU", "-aec", "ARCHIVE7", "127.0.0.1", str(server.port)
        )
        assert "Calling AE Title Not Recognized" in bad.stdout
    finally:
        server.stop()


def test_called_ae_title_checked_on_request(sqlite_archive):
    server = start_server(sqlite_archive, require_called_ae=True)
    try:
        wrong = run_dcmtk("echoscu", "-aec", "SOMEONE", "127.0.0.1", str(server.port))
        assert wrong.returncode != 0
        assert "Called AE Title Not Recognized" in wrong.stdout
        right = run_dcmtk("echoscu", "-aec", AE_TITLE, "127.0.0.1", str(server.port))
        assert right.returncode == 0, right.stdout
    finally:
        server.stop()


@pytest.mark.parametrize("title", ["", "A" * 17, "BAD\\AE"])
def test_invalid_ae_title_is_refused(sqlite_archive, title):
    with pytest.raises(ValueError, match="ae_title must be 1-16 characters"):
        DicomServer(sqlite_archive, ae_title=title or " ")


def test_server_lifecycle_and_double_start(sqlite_archive):
    with DicomServer(sqlite_archive, host="127.0.0.1", port=0) as server:
        assert server.running and server.port > 0
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    assert not server.running


def test_settings_validate_ae_title():
    with pytest.raises(ValueError, match="ae_title must be 1-16"):
        Settings(ae_title="X" * 20)


def test_radhub_serve_end_to_end(tmp_path, storescp):
    """The CLI server with callers and peers from the environment, driven by dcmtk (docs/dimse.md)."""
    import json

    from tests.conftest import DICOM_DIR, RadhubProcess

    dest = storescp(tmp_path / "viewer", "+B", "+xa", ae_title="VIEWER")
    data = tmp_path / "data"
    data.mkdir()
    env = {
        "RADHUB_ALLOWED_CALLERS": "STORESCU,FINDSCU,MOVESCU,ECHOSCU",
        "RADHUB_DICOM_PEERS": json.dumps(
            [{"ae_title": "VIEWER", "host": "127.0.0.1", "port": dest.port}]
        ),
    }
    server = RadhubProcess(data, env=env)
    try:
        port = str(server.dicom_port)
        assert run_dcmtk("echoscu", "-aec", "RADHUB", "127.0.0.1", port).returncode == 0
        assert (
            "Calling AE Title Not Recognized"
            in run_dcmtk("echoscu", "-aet", "OTHER", "127.0.0.1", port).stdout
        )
        ge = sorted(str(p) for p in (DICOM_DIR / "dcm_qa_ct_GE").glob("*.dcm"))[:3]
        stored = run_dcmtk("storescu", "-R", "-aec", "RADHUB", "127.0.0.1", port, *ge)
        assert stored.returncode == 0, stored.stdout
        found = run_dcmtk(
            "findscu",
            "-v",
            "-S",
            "-aec",
            "RADHUB",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "StudyInstanceUID=",
            "127.0.0.1",
            port,
        )
        assert found.stdout.count("Find Response:") == 1 and "(Pending)" in found.stdout, (
            found.stdout
        )
        study = pydicom.dcmread(ge[0], stop_before_pixels=True).StudyInstanceUID
        moved = run_dcmtk(
            "movescu",
            "-v",
            "-S",
            "-aec",
            "RADHUB",
            "-aem",
            "VIEWER",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={study}",
            "127.0.0.1",
            port,
        )
        assert "Received Final Move Response (Success)" in moved.stdout, moved.stdout
        assert len(dest.files()) == 3
    finally:
        server.stop()
