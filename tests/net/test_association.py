"""C-ECHO and association acceptance: AE titles and allowed callers, with dcmtk's echoscu."""

from __future__ import annotations

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
