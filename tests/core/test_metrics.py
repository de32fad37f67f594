"""/healthz and /metrics (Prometheus text) of the HTTP app."""

from __future__ import annotations


from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from radhub.api import create_app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_healthz_and_metrics(sqlite_archive, make_instance):
    client = TestClient(create_app(sqlite_archive))
    assert client.get("/healthz").json() == {"status": "ok"}
    data = make_instance()
    sqlite_archive.ingestor.ingest_bytes(data, source="stow")
    sqlite_archive.ingestor.ingest_bytes(data, source="stow")
    sqlite_archive.ingestor.ingest_bytes(b"junk" * 50, source="import")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("radhub_instances_stored", ())] == 1
    assert m[("radhub_bytes_stored", ())] == len(data)
    assert m[("radhub_ingest_total", (("source", "stow"), ("status", "stored")))] == 1
    assert m[("radhub_ingest_total", (("source", "stow"), ("status", "duplicate")))] == 1
    assert m[("radhub_ingest_rejects_total", (("reason", "not_dicom"),))] == 1
    assert m[("radhub_ingest_bytes_total", (("source", "stow"),))] == len(data)
    # the /healthz request above was timed
    assert m[("radhub_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] >= 1
    # routes are labelled by their template, statuses as sent; unknown paths are "unmatched"
    sop = client.get("/dicomweb/instances").json()[0]["00080018"]["Value"][0]
    assert client.get(f"/dicomweb/studies/1.2.3/series/4.5/instances/{sop}").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    m = _samples(client.get("/metrics").text)
    key = "radhub_http_request_duration_seconds_count"
    assert m[(key, (("method", "GET"), ("route", "/dicomweb/instances"), ("status", "200")))] == 1
    route = "/dicomweb/studies/{study}/series/{series}/instances/{sop}"
    assert m[(key, (("method", "GET"), ("route", route), ("status", "404")))] == 1
    assert m[(key, (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    flagged = {k[1][0][1]: v for k, v in m.items() if k[0] == "radhub_instances_flagged"}
    assert all(v >= 0 for v in flagged.values())


def test_checks_api(sqlite_archive, make_instance):
    client = TestClient(create_app(sqlite_archive))
    res = sqlite_archive.ingestor.ingest_bytes(make_instance(PatientName=None, InstitutionName=None), source="test")
    rows = client.get("/api/checks", params={"code": "missing_patient_name"}).json()
    assert [r["sop_uid"] for r in rows] == [res.sop_instance_uid]
    assert "missing_institution" in rows[0]["checks"]
    summary = client.get("/api/checks/summary").json()
    assert summary["missing_patient_name"] == 1
    bad = client.get("/api/checks", params={"code": "no_such_check"})
    assert bad.status_code == 400 and "known codes" in bad.json()["detail"]
    assert client.get("/api/archive/totals").json()["instances"] == 1
