"""The ingest benchmark counts radhub's STOW-RS answers as they are: stored, conflicts, failures."""

from __future__ import annotations

import uuid

from benchmarks.archive._ingest import _count_stow
from tests.dicomweb.conftest import make_instance, multipart_body, stow_headers


def test_a_conflict_is_processed_work_and_garbage_a_failure(client):
    sop = f"2.25.{uuid.uuid4().int}"
    first = make_instance(SOPInstanceUID=sop)
    r = client.post("/dicomweb/studies", content=multipart_body([first], "b1"), headers=stow_headers("b1"))
    assert _count_stow(r) == (1, 0, 0)
    other = make_instance(SOPInstanceUID=sop, PatientID="OTHER")  # same UID, other bytes
    new = make_instance()
    body = multipart_body([new, other, b"not DICOM"], "b2")
    r = client.post("/dicomweb/studies", content=body, headers=stow_headers("b2"))
    assert r.status_code == 202
    assert _count_stow(r) == (1, 1, 1)


def test_an_answer_without_a_response_module_is_all_failed(client):
    r = client.post("/dicomweb/studies", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert _count_stow(r) == (0, 0, -1)
