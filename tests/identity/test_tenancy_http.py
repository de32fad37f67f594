"""Tenancy over HTTP: the permission matrix, cross-tenant probes (404, never 403), shares, STOW and tus."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from tests.identity.conftest import World, make_instance, stow, uids_of

ACTORS = [
    "tech_a", "reader_a", "admin_a", "gateway_a", "tech_b", "admin_b", "gateway_b",
    "reader_r", "reviewer_r", "expert_r", "platform", "monitor", "anonymous",
]
# expected HTTP statuses, written out by hand (not derived from the policy table)
SEE_A = {"tech_a": 200, "reader_a": 200, "admin_a": 200, "gateway_a": 200, "platform": 200,
         "tech_b": 404, "admin_b": 404, "gateway_b": 404, "reader_r": 404, "reviewer_r": 404, "expert_r": 404,
         "monitor": 403, "anonymous": 401}
STORE = {"tech_a": 200, "admin_a": 200, "gateway_a": 200, "tech_b": 200, "admin_b": 200, "gateway_b": 200,
         "platform": 200, "reader_a": 403, "reader_r": 403, "reviewer_r": 403, "expert_r": 403, "monitor": 403,
         "anonymous": 401}
LIST_USERS = {a: 403 for a in ACTORS} | {"admin_a": 200, "admin_b": 200, "platform": 200, "anonymous": 401}
CREATE_ORG = {a: 403 for a in ACTORS} | {"platform": 201, "anonymous": 401}
AUDIT = {a: 403 for a in ACTORS} | {"admin_a": 200, "admin_b": 200, "platform": 200, "anonymous": 401}
METRICS = {a: 403 for a in ACTORS} | {"platform": 200, "monitor": 200, "anonymous": 401}


def _study_a_metadata(world: World, who: str) -> int:
    study = world.studies["site-a"][0]
    return world.client.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth(who)).status_code


@pytest.mark.parametrize("who", ACTORS)
def test_permission_matrix(world: World, who: str) -> None:
    c, h = world.client, world.auth(who)
    assert _study_a_metadata(world, who) == SEE_A[who]
    r = stow(c, make_instance(), h)
    assert r.status_code == STORE[who], r.text
    assert c.get("/api/v1/users", headers=h).status_code == LIST_USERS[who]
    org = {"name": f"New {who}", "kind": "requesting", "code": f"new-{who}"}
    assert c.post("/api/v1/orgs", json=org, headers=h).status_code == CREATE_ORG[who]
    assert c.get("/api/v1/audit", headers=h).status_code == AUDIT[who]
    assert c.get("/metrics", headers=h).status_code == METRICS[who]


@pytest.mark.parametrize("who", ["reader_r", "reviewer_r", "expert_r", "tech_b"])
def test_a_share_grants_the_study_until_it_is_revoked(world: World, who: str) -> None:
    study = world.studies["site-a"][0]
    target = "reading" if who != "tech_b" else "site-b"
    assert _study_a_metadata(world, who) == 404
    # a site admin can share only their own studies: B's admin cannot share A's study
    denied = world.client.post("/api/v1/shares", json={"study_uid": study, "org": target}, headers=world.auth("admin_b"))
    assert denied.status_code == 404
    r = world.client.post("/api/v1/shares", json={"study_uid": study, "org": target, "days": 1}, headers=world.auth("admin_a"))
    assert r.status_code == 201, r.text
    assert _study_a_metadata(world, who) == 200
    found = world.client.get("/dicomweb/studies", headers=world.auth(who)).json()
    assert study in {s["0020000D"]["Value"][0] for s in found}
    assert world.client.delete(f"/api/v1/shares/{r.json()['id']}", headers=world.auth("admin_a")).status_code == 200
    assert _study_a_metadata(world, who) == 404


def test_an_expired_share_grants_nothing(world: World) -> None:
    from datetime import datetime, timedelta

    from sqlalchemy import update

    from radhub.catalog._models import Share

    study = world.studies["site-a"][0]
    world.archive.directory.share(study, "reading", days=1)
    assert _study_a_metadata(world, "reader_r") == 200
    with world.archive.catalog.engine.begin() as conn:
        conn.execute(update(Share.__table__).values(expires_at=datetime.utcnow() - timedelta(seconds=1)))
    assert _study_a_metadata(world, "reader_r") == 404


def _probe_urls(study: str, series: str, sop: str) -> list[str]:
    base = f"/dicomweb/studies/{study}"
    inst = f"{base}/series/{series}/instances/{sop}"
    return [
        base,
        f"{base}/metadata",
        f"{base}/series",
        f"{base}/instances",
        f"{base}/thumbnail",
        f"{base}/series/{series}",
        f"{base}/series/{series}/metadata",
        f"{base}/series/{series}/instances",
        f"{base}/series/{series}/thumbnail",
        inst,
        f"{inst}/metadata",
        f"{inst}/frames/1",
        f"{inst}/frames/1/rendered",
        f"{inst}/rendered",
        f"{inst}/thumbnail",
        f"{inst}/bulk/7FE00010",
        f"/dicomweb/studies?StudyInstanceUID={study}",
        f"/dicomweb/series?SeriesInstanceUID={series}",
        f"/dicomweb/instances?SOPInstanceUID={sop}",
        f"/api/checks?study_uid={study}",
    ]


def test_cross_tenant_probes_answer_exactly_as_for_uids_that_do_not_exist(world: World) -> None:
    """Site B guessing site A's UIDs learns nothing: every answer equals the one for random UIDs."""
    c = world.client
    fake_uids = (generate_uid(), generate_uid(), generate_uid())
    real = _probe_urls(*world.studies["site-a"])
    fake = _probe_urls(*fake_uids)
    for who in ("tech_b", "gateway_b", "admin_b", "reader_r"):
        for url_real, url_fake in zip(real, fake):
            a = c.get(url_real, headers=world.auth(who))
            b = c.get(url_fake, headers=world.auth(who))
            assert a.status_code == b.status_code, (who, url_real, a.status_code, b.status_code)
            assert a.status_code in (200, 204, 404), (who, url_real, a.status_code)
            assert a.status_code != 403
            # the same body, but for the UIDs the caller itself sent (echoed in a 404's message)
            echoed = a.text
            for uid, fake_uid in zip(world.studies["site-a"], fake_uids):
                echoed = echoed.replace(uid, fake_uid)
            assert echoed == b.text, (who, url_real)
            assert "TENANT^SITE-A" not in a.text
    # the owner sees them
    own = c.get(real[1], headers=world.auth("reader_a"))
    assert own.status_code == 200 and "TENANT^SITE-A" in own.text


def test_qido_and_checks_list_only_the_callers_studies(world: World) -> None:
    c = world.client
    a = {s["0020000D"]["Value"][0] for s in c.get("/dicomweb/studies", headers=world.auth("reader_a")).json()}
    assert a == {world.studies["site-a"][0]}
    every = {s["0020000D"]["Value"][0] for s in c.get("/dicomweb/studies", headers=world.auth("platform")).json()}
    assert every == {world.studies["site-a"][0], world.studies["site-b"][0]}
    totals = c.get("/api/archive/totals", headers=world.auth("tech_b")).json()
    assert totals["studies"] == 1 and totals["instances"] == 1
    assert c.get("/dicomweb/studies?PatientName=TENANT*", headers=world.auth("tech_b")).json()[0]["00100010"]["Value"][0]["Alphabetic"] == "TENANT^SITE-B"


def test_the_same_uids_from_two_sites_neither_show_nor_overwrite(world: World) -> None:
    """Site B sends an object with site A's Study/Series/SOP UIDs (a misconfigured modality)."""
    c = world.client
    study, series, sop = world.studies["site-a"]
    clash = make_instance(StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=sop, PatientName="INTRUDER^B")
    r = stow(c, clash, world.auth("gateway_b"))
    assert r.status_code == 409, r.text
    assert "another organisation" in r.text
    # only the study UID reused, with new series and SOP UIDs: refused too
    r2 = stow(c, make_instance(StudyInstanceUID=study, PatientName="INTRUDER^B"), world.auth("gateway_b"))
    assert r2.status_code == 409
    meta = c.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth("reader_a"))
    assert meta.status_code == 200 and "INTRUDER" not in meta.text and len(meta.json()) == 1
    assert c.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth("tech_b")).status_code == 404


def test_the_same_patient_id_at_two_sites_is_two_patients(world: World) -> None:
    c = world.client
    r = stow(c, make_instance(PatientID="PID-site-a", PatientName="OTHER^PERSON"), world.auth("gateway_b"))
    assert r.status_code == 200
    a = c.get("/dicomweb/studies?PatientID=PID-site-a", headers=world.auth("reader_a")).json()
    assert [s["00100010"]["Value"][0]["Alphabetic"] for s in a] == ["TENANT^SITE-A"]
    b = c.get("/dicomweb/studies?PatientID=PID-site-a", headers=world.auth("tech_b")).json()
    assert [s["00100010"]["Value"][0]["Alphabetic"] for s in b] == ["OTHER^PERSON"]


def test_stored_objects_belong_to_the_senders_organisation(world: World) -> None:
    data = make_instance()
    assert stow(world.client, data, world.auth("tech_b")).status_code == 200
    study = uids_of(data)[0]
    assert _meta(world, study, "tech_b") == 200
    assert _meta(world, study, "tech_a") == 404


def _meta(world: World, study: str, who: str) -> int:
    return world.client.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth(who)).status_code


def test_another_sites_upload_is_not_found(world: World) -> None:
    c = world.client
    data = make_instance()
    tus = {"Tus-Resumable": "1.0.0"}
    r = c.post("/upload", headers={**tus, "Upload-Length": str(len(data)), **world.auth("tech_a")})
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    path = url[url.index("/upload"):]
    for method in ("HEAD", "PATCH", "DELETE"):
        headers = {**tus, **world.auth("tech_b"), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        probe = c.request(method, path, headers=headers, content=data if method == "PATCH" else None)
        assert probe.status_code == 404, (method, probe.status_code)
    assert c.get(f"{path}/status", headers=world.auth("tech_b")).status_code == 404
    done = c.patch(
        path, content=data,
        headers={**tus, **world.auth("tech_a"), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert done.status_code == 204, done.text
    status = c.get(f"{path}/status", headers=world.auth("tech_a")).json()
    assert status["summary"]["stored"] == 1
    assert _meta(world, uids_of(data)[0], "reader_a") == 200
    assert _meta(world, uids_of(data)[0], "tech_b") == 404


def test_metrics_are_the_platforms_and_carry_no_identifiers(world: World) -> None:
    import pytest as _pytest

    from radhub.identity import IdentityError

    body = world.client.get("/metrics", headers=world.auth("monitor")).text
    assert "radhub_studies_stored 2.0" in body  # every site's studies, for the platform's monitor
    for uid in (*world.studies["site-a"], *world.studies["site-b"]):
        assert uid not in body
    assert "TENANT^" not in body and "PID-site" not in body
    with _pytest.raises(IdentityError, match="platform"):
        world.archive.directory.create_api_key("site-a", "own prometheus", roles="monitor")
    r = world.client.post("/api/v1/apikeys", json={"name": "p", "roles": ["monitor"]}, headers=world.auth("admin_a"))
    assert r.status_code == 400, r.text
