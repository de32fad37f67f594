"""Image-quality grades 1-3 (A8): reviewers and experts grade what they may see; audited; kept; tenant-checked."""

from __future__ import annotations

from tests.identity.conftest import World


def _put(world: World, who: str, study: str, body: object):
    return world.client.put(f"/api/v1/studies/{study}/quality", json=body, headers=world.auth(who))


def test_a_reviewer_grades_a_shared_study_and_the_grades_are_kept(world: World) -> None:
    study = world.studies["site-a"][0]
    # not shared yet: the reading centre's reviewer does not see it (404, as for a UID that does not exist)
    assert _put(world, "reviewer_r", study, {"grade": 2}).status_code == 404
    world.archive.directory.share(study, "reading", days=1, granted_by="test")
    r = _put(world, "reviewer_r", study, {"grade": 1, "note": "motion artefacts"})
    assert r.status_code == 200, r.text
    assert r.json()["grade"] == 1 and r.json()["graded_by"] == "reviewer_r"
    assert _put(world, "expert_r", study, {"grade": 3}).status_code == 200
    r = world.client.get(f"/api/v1/studies/{study}/quality", headers=world.auth("reader_a"))
    assert r.status_code == 200
    body = r.json()
    assert body["grade"] == 3  # the latest grade is the study's
    assert [g["grade"] for g in body["history"]] == [3, 1]
    assert body["history"][1]["note"] == "motion artefacts"
    assert set(body["scale"]) == {"1", "2", "3"}
    # audited, with the grade and no patient data
    world.archive.audit.flush()
    events = world.archive.audit.query(action="study.grade")
    assert sorted(e["user"] for e in events) == ["expert_r", "reviewer_r"]
    assert all(study in e["study_uids"] for e in events)
    assert all("TENANT" not in str(e) for e in events)


def test_only_graders_grade_and_bad_grades_are_refused(world: World) -> None:
    study = world.studies["site-a"][0]
    for who in ("tech_a", "reader_a", "admin_a", "gateway_a"):
        assert _put(world, who, study, {"grade": 2}).status_code == 403, who
    assert _put(world, "anonymous", study, {"grade": 2}).status_code == 401
    world.archive.directory.share(study, "reading", days=1, granted_by="test")
    for bad in ({"grade": 0}, {"grade": 4}, {"grade": "2x"}, {"grade": True}, {}, {"grade": 2, "note": "x" * 501}):
        r = _put(world, "reviewer_r", study, bad)
        assert r.status_code in (400, 422), (bad, r.status_code)
        assert r.json()["detail"]
    # nothing was recorded by the refusals
    assert world.client.get(f"/api/v1/studies/{study}/quality", headers=world.auth("reader_a")).json()["history"] == []
    # another site's reader: the study is not there
    assert world.client.get(f"/api/v1/studies/{study}/quality", headers=world.auth("tech_b")).status_code == 404
