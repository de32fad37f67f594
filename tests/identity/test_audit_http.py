"""Every read and write of patient data and every administrative change leaves an audit record; admins query it."""

from __future__ import annotations

from tests.identity.conftest import World, make_instance, stow


def _records(world: World, who: str, **params: str) -> list[dict]:
    r = world.client.get("/api/v1/audit", params=params, headers=world.auth(who))
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_stores_reads_denials_and_admin_changes_are_recorded(world: World) -> None:
    study = world.studies["site-a"][0]
    c = world.client
    assert c.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth("reader_a")).status_code == 200
    assert c.get(f"/dicomweb/studies/{study}/metadata", headers=world.auth("tech_b")).status_code == 404
    assert c.get("/api/v1/users", headers=world.auth("reader_a")).status_code == 403
    assert c.post("/api/v1/users", json={"username": "new_tech", "password": "a long password", "roles": ["technologist"]},
                  headers=world.auth("admin_a")).status_code == 201
    recs = _records(world, "platform", limit="500")
    by = {(r["action"], r["user"], r["outcome"]) for r in recs}
    assert ("instance.store", "gateway A", "success") in by  # the STOW of the fixture
    assert ("study.read", "reader_a", "success") in by
    assert ("study.read", "tech_b", "failure") in by  # a probe of another site's study: recorded, answered 404
    assert ("access.denied", "reader_a", "denied") in by
    assert ("user.create", "admin_a", "success") in by
    read = next(r for r in recs if r["action"] == "study.read" and r["user"] == "reader_a")
    assert read["org"] == "site-a" and read["study_uids"] == [study] and read["source"] == "testclient"
    assert read["detail"]["path"] == "/dicomweb/studies/{uid}/metadata"
    store = next(r for r in recs if r["action"] == "instance.store" and r["user"] == "gateway A")
    assert store["org"] == "site-a" and store["study_uids"] == [study]


def test_a_site_admin_sees_only_the_sites_records_and_cannot_verify(world: World) -> None:
    stow(world.client, make_instance(), world.auth("tech_b"))
    mine = _records(world, "admin_a", limit="1000")
    assert mine and {r["org"] for r in mine} == {"site-a"}
    # asking for another organisation's records gives the admin's own, not B's
    assert {r["org"] for r in _records(world, "admin_a", org="site-b")} <= {"site-a"}
    assert world.client.get("/api/v1/audit/verify", headers=world.auth("admin_a")).status_code == 403
    everything = _records(world, "platform", limit="1000")
    assert {"site-a", "site-b"} <= {r["org"] for r in everything}
    v = world.client.get("/api/v1/audit/verify", headers=world.auth("platform")).json()
    assert v["ok"] is True and v["checked"] >= len(everything) and not v["problems"]


def test_reading_the_trail_is_itself_recorded(world: World) -> None:
    _records(world, "admin_a")
    assert any(r["action"] == "audit.read" and r["user"] == "admin_a" for r in _records(world, "platform"))


def test_audit_query_validates_its_parameters(world: World) -> None:
    r = world.client.get("/api/v1/audit", params={"limit": "0"}, headers=world.auth("platform"))
    assert r.status_code == 422
    r = world.client.get("/api/v1/audit", params={"since": "not a date"}, headers=world.auth("platform"))
    assert r.status_code == 422
