"""Tenancy over DIMSE with real associations: registered AE titles only, scoped C-FIND/C-MOVE/C-GET."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet

from radhub.net import DicomServer
from tests.conftest import dcmtk, free_port
from tests.identity.conftest import make_instance, uids_of
from tests.net.conftest import run_dcmtk, storescp  # noqa: F401 - fixture

SERVER_AE = "RADHUB"


@pytest.fixture
def dimse(tmp_path: Path, database_url: str) -> Iterator[tuple[Any, DicomServer]]:
    """An authenticating DIMSE server with sites A and B, on SQLite and on PostgreSQL."""
    from radhub.archive import Archive
    from radhub.config import Settings

    archive = Archive.open(Settings(data_dir=tmp_path / "data", database_url=database_url, auth=True, ingest_workers=0))
    d = archive.directory
    d.create_org("Site A", kind="requesting", code="site-a")
    d.create_org("Site B", kind="requesting", code="site-b")
    d.add_ae("site-a", "MODALITY_A")
    d.add_ae("site-b", "MODALITY_B")
    server = DicomServer(archive, host="127.0.0.1", port=0, ae_title=SERVER_AE)
    server.start()
    yield archive, server
    server.stop()
    archive.close()


def _store(port: int, calling: str, data: bytes) -> int | None:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=SERVER_AE)
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_store(pydicom.dcmread(io.BytesIO(data)))
        return int(status.Status)
    finally:
        assoc.release()


def _find(port: int, calling: str, **keys: str) -> list[Dataset] | None:
    ae = AE(ae_title=calling)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title=SERVER_AE)
    if not assoc.is_established:
        return None
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = ""
    ident.PatientName = ""
    for k, v in keys.items():
        setattr(ident, k, v)
    out = []
    try:
        for status, found in assoc.send_c_find(ident, StudyRootQueryRetrieveInformationModelFind):
            if status and status.Status in (0xFF00, 0xFF01) and found is not None:
                out.append(found)
    finally:
        assoc.release()
    return out


def test_an_unregistered_ae_title_is_rejected_and_logged(dimse: tuple[Any, DicomServer], caplog: Any) -> None:
    archive, server = dimse
    ae = AE(ae_title="STRANGER")
    ae.add_requested_context(CTImageStorage)
    with caplog.at_level("WARNING", logger="radhub"):
        assoc = ae.associate("127.0.0.1", server.port, ae_title=SERVER_AE)
    assert assoc.is_rejected
    assert any("STRANGER" in r.getMessage() and "rejected" in r.getMessage() for r in caplog.records)
    deadline = time.monotonic() + 5  # the server records the rejection after sending it
    while True:
        archive.audit.flush()
        rejected = archive.audit.query(action="association.rejected")
        if rejected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rejected and rejected[0]["outcome"] == "denied"
    # dcmtk's echoscu with an unregistered title is rejected too
    out = run_dcmtk("echoscu", "-aet", "NOBODY", "-aec", SERVER_AE, "127.0.0.1", str(server.port))
    assert out.returncode != 0 and "Rejected" in out.stdout


def test_stores_are_owned_by_the_calling_aes_organisation_and_finds_are_scoped(dimse: tuple[Any, DicomServer]) -> None:
    archive, server = dimse
    a, b = make_instance(PatientName="DIMSE^A"), make_instance(PatientName="DIMSE^B")
    assert _store(server.port, "MODALITY_A", a) == 0
    assert _store(server.port, "MODALITY_B", b) == 0
    found_a = _find(server.port, "MODALITY_A")
    found_b = _find(server.port, "MODALITY_B")
    assert [str(d.PatientName) for d in found_a or []] == ["DIMSE^A"]
    assert [str(d.PatientName) for d in found_b or []] == ["DIMSE^B"]
    # B asking for A's study by UID finds nothing
    assert _find(server.port, "MODALITY_B", StudyInstanceUID=uids_of(a)[0]) == []
    # a registered AE sending another site's UIDs is refused, A's object is unchanged
    clash = make_instance(
        StudyInstanceUID=uids_of(a)[0], SeriesInstanceUID=uids_of(a)[1], SOPInstanceUID=uids_of(a)[2], PatientName="X^Y"
    )
    assert _store(server.port, "MODALITY_B", clash) == 0x0111
    assert [str(d.PatientName) for d in _find(server.port, "MODALITY_A") or []] == ["DIMSE^A"]


def test_c_get_of_another_sites_study_sends_nothing(dimse: tuple[Any, DicomServer]) -> None:
    archive, server = dimse
    a = make_instance(PatientName="GET^A")
    assert _store(server.port, "MODALITY_A", a) == 0
    received: list[str] = []

    def on_store(event: Any) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return 0

    def get(calling: str) -> list[int]:
        ae = AE(ae_title=calling)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        ae.add_requested_context(CTImageStorage)
        from pynetdicom import build_role

        role = build_role(CTImageStorage, scp_role=True)
        assoc = ae.associate("127.0.0.1", server.port, ae_title=SERVER_AE, ext_neg=[role], evt_handlers=[(evt.EVT_C_STORE, on_store)])
        assert assoc.is_established
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = uids_of(a)[0]
        statuses = [int(s.Status) for s, _ in assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet) if s]
        assoc.release()
        return statuses

    get("MODALITY_B")
    assert received == []
    get("MODALITY_A")
    assert received == [uids_of(a)[2]]


def test_c_move_goes_only_to_destinations_of_the_callers_organisation(dimse: tuple[Any, DicomServer], storescp: Any) -> None:
    archive, server = dimse
    a = make_instance(PatientName="MOVE^A")
    assert _store(server.port, "MODALITY_A", a) == 0
    dest = storescp(ae_title="DEST_A")
    archive.directory.add_destination("site-a", "DEST_A", "127.0.0.1", dest.port)

    def movescu(calling: str, destination: str) -> str:
        args = ["-v", "-S", "-aet", calling, "-aec", SERVER_AE, "-aem", destination,
                "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uids_of(a)[0]}"]
        return run_dcmtk("movescu", *args, "127.0.0.1", str(server.port)).stdout

    # B may not use A's destination, even for B's own studies: the destination is unknown to B
    out_b = movescu("MODALITY_B", "DEST_A")
    assert "movedestinationunknown" in out_b.lower()
    assert dest.files() == []
    out_a = movescu("MODALITY_A", "DEST_A")
    assert "Completed Suboperations    : 1" in out_a or len(dest.files()) == 1
    assert len(dest.files()) == 1


def test_dcmtk_storescu_with_a_registered_title_stores(dimse: tuple[Any, DicomServer], tmp_path: Path) -> None:
    archive, server = dimse
    f = tmp_path / "a.dcm"
    f.write_bytes(make_instance(PatientName="DCMTK^A"))
    dcmtk("storescu")
    out = run_dcmtk("storescu", "-aet", "MODALITY_A", "-aec", SERVER_AE, "127.0.0.1", str(server.port), str(f))
    assert out.returncode == 0, out.stdout
    from radhub.catalog import TenantScope, search_json, tenant_scope

    with tenant_scope(TenantScope(frozenset({archive.directory.org("site-a").pk}))):
        assert len(search_json(archive.catalog, "STUDY").items) == 1
    with tenant_scope(TenantScope(frozenset({archive.directory.org("site-b").pk}))):
        assert search_json(archive.catalog, "STUDY").items == []
    _ = free_port
