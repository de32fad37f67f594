"""The pages over HTTP (no browser): search criteria, paging and sorting through QIDO, the tenant filter, 404s,
the viewer's generated config and relocated files, and what the pages say when npm packages are missing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.uid import generate_uid

from tests.conftest import shared_data

PASSWORD = "a long enough password"


def _instance(**attrs: Any) -> bytes:
    ds = pydicom.dcmread(shared_data("dicom", "pydicom", "CT_small.dcm"))
    ds.StudyInstanceUID = attrs.pop("StudyInstanceUID", None) or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for k, v in attrs.items():
        setattr(ds, k, v)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


class Web:
    def __init__(self, archive: Any, client: TestClient, studies: dict[str, str]) -> None:
        self.archive, self.client, self.studies = archive, client, studies

    def login(self, username: str) -> TestClient:
        self.client.cookies.clear()
        r = self.client.post("/api/v1/auth/login", data={"username": username, "password": PASSWORD})
        assert r.status_code in (200, 204), r.text
        return self.client

    def rows(self, url: str) -> list[str]:
        """The StudyInstanceUIDs the study list shows, in order."""
        import re

        r = self.client.get(url)
        assert r.status_code == 200, r.text
        return re.findall(r'<tr data-study="([^"]+)"', r.text)


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Web]:
    from radhub.api import create_app
    from radhub.archive import Archive
    from radhub.config import Settings

    tmp = tmp_path_factory.mktemp("pages")
    archive = Archive.open(Settings(data_dir=tmp / "data", auth=True, ingest_workers=0))
    d = archive.directory
    d.create_org("Site A", kind="requesting", code="site-a")
    d.create_org("Site B", kind="requesting", code="site-b")
    d.create_user("site-a", "tech_a", PASSWORD, roles="technologist")
    d.create_user("site-b", "tech_b", PASSWORD, roles="technologist")
    studies: dict[str, str] = {}
    org_a = d.org("site-a").pk
    with archive.ingestor.batch(source="import", org_pk=org_a) as batch:
        for n in range(30):  # more than one page (25)
            uid = generate_uid()
            studies[f"a{n:02d}"] = uid
            batch.add(iter([_instance(
                StudyInstanceUID=uid, PatientName=f"PATIENT^N{n:02d}", PatientID=f"PID{n:02d}",
                StudyDate=f"2026{1 + n % 12:02d}{1 + n:02d}", AccessionNumber=f"ACC{n:02d}",
                Modality="MR" if n % 5 == 0 else "CT", InstitutionName="" if n == 7 else "Hospital A",
            )]))
        assert all(r.ok for r in batch.finish())
    with archive.ingestor.batch(source="import", org_pk=d.org("site-b").pk) as batch:
        studies["b"] = generate_uid()
        batch.add(iter([_instance(StudyInstanceUID=studies["b"], PatientName="OTHER^SITE", PatientID="PIDB")]))
        assert all(r.ok for r in batch.finish())
    client = TestClient(create_app(archive))
    yield Web(archive, client, studies)
    client.close()
    archive.close()


def test_pages_need_a_session_and_say_where_to_log_in(web: Web) -> None:
    web.client.cookies.clear()
    for path in ("/studies", f"/studies/{web.studies['a00']}", "/admin", "/send"):
        r = web.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    r = web.client.get("/login?next=//evil.example/x")
    assert 'data-next="/studies"' in r.text  # no open redirect


def test_study_list_search_criteria(web: Web) -> None:
    web.login("tech_a")
    s = web.studies
    assert web.rows("/studies?pid=PID03") == [s["a03"]]
    assert web.rows("/studies?name=n04") == [s["a04"]]  # part of the name, any case
    assert web.rows("/studies?accession=ACC05") == [s["a05"]]
    assert set(web.rows("/studies?modality=mr")) == {s[f"a{n:02d}"] for n in range(0, 30, 5)}
    # February 2026: n=1 (20260202), n=13 (20260214), n=25 (20260226)
    assert set(web.rows("/studies?from=2026-02-01&to=2026-02-28")) == {s["a01"], s["a13"], s["a25"]}
    assert set(web.rows("/studies?from=2026-02-10&to=2026-02-20")) == {s["a13"]}
    flagged = web.rows("/studies?flag=missing_institution")
    assert flagged == [s["a07"]]
    assert s["a07"] in web.rows("/studies?flag=any")
    # nothing of site B's, whatever the search
    assert s["b"] not in web.rows("/studies?name=*")
    assert web.rows("/studies?pid=PIDB") == []


def test_study_list_pages_and_sorts(web: Web) -> None:
    web.login("tech_a")
    first = web.rows("/studies?sort=id&dir=asc")
    second = web.rows("/studies?sort=id&dir=asc&page=2")
    assert len(first) == 25 and len(second) == 5
    order = [web.studies[f"a{n:02d}"] for n in range(30)]
    assert first + second == order
    assert web.rows("/studies?sort=id&dir=desc")[:3] == order[::-1][:3]
    r = web.client.get("/studies?sort=id&dir=asc")
    assert 'rel="next"' in r.text and 'rel="prev"' not in r.text
    # nonsense paging or sorting falls back, it does not fail
    assert len(web.rows("/studies?page=zero&sort=nonsense")) == 25


def test_study_page_and_header_are_404_for_another_site(web: Web) -> None:
    web.login("tech_b")
    a = web.studies["a00"]
    assert web.client.get(f"/studies/{a}").status_code == 404
    assert web.client.get(f"/studies/{a}/series/1.2/instances/1.3/header").status_code == 404
    assert web.client.get(f"/studies/{web.studies['b']}").status_code == 200


def test_study_page_shows_series_flags_and_the_header_browser(web: Web) -> None:
    web.login("tech_a")
    uid = web.studies["a07"]
    r = web.client.get(f"/studies/{uid}")
    assert r.status_code == 200
    assert "missing institution: 1" in r.text
    import re

    header = re.search(r'href="(/studies/[^"]+/header)"', r.text)
    assert header
    r = web.client.get(header.group(1))
    assert r.status_code == 200
    assert 'data-tag="(0010,0010)"' in r.text and "PATIENT^N07" in r.text
    assert "&lt;" in r.text or "bytes" in r.text  # binary values summarised, not dumped


def test_viewer_config_and_files(web: Web) -> None:
    web.login("tech_a")
    r = web.client.get("/ohif/app-config.js")
    if "not installed" in r.text:
        pytest.skip("OHIF is not installed here (scripts/setup.sh with npm)")
    assert r.headers["content-type"].startswith("text/javascript")
    assert '"routerBasename": "/ohif"' in r.text and "/dicomweb" in r.text
    assert '"ohif.tours"' in r.text  # no onboarding tour
    index = web.client.get("/ohif/viewer?StudyInstanceUIDs=1.2.3")
    assert index.status_code == 200
    assert "window.PUBLIC_URL = '/ohif/'" in index.text and "/static/ohif-guard.js" in index.text
    assert "wasm-unsafe-eval" in index.headers["content-security-policy"]
    assert web.client.get("/ohif/no-such-file.js").status_code == 404


def test_without_npm_packages_the_pages_say_how_to_get_them(web: Web, tmp_path: Path) -> None:
    from radhub.web import WebAssets

    app = web.client.app  # type: ignore[attr-defined]
    saved = app.state.web_assets
    app.state.web_assets = WebAssets(tmp_path / "empty")
    try:
        web.login("tech_a")
        r = web.client.get("/ohif/viewer?StudyInstanceUIDs=1.2.3")
        assert "The viewer is not installed" in r.text and "scripts/setup.sh" in r.text
        r = web.client.get("/send")
        assert "tus-js-client" in r.text and "scripts/setup.sh" in r.text
        assert web.client.get("/vendor/tus.min.js").status_code == 404
        assert web.client.get("/vendor/sha256.min.js").status_code == 404
    finally:
        app.state.web_assets = saved


def test_a_viewer_on_another_origin_reads_dicomweb_with_a_bearer_token(web: Web) -> None:
    """CORS: the preflight is answered before authentication; the answer carries the CORS headers."""
    web.client.cookies.clear()
    origin = "https://viewer.example.org"
    pre = web.client.options(
        "/dicomweb/studies",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization,accept"},
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] in ("*", origin)
    assert "authorization" in pre.headers["access-control-allow-headers"].lower() or pre.headers["access-control-allow-headers"] == "*"
    token = web.client.post("/api/v1/auth/token", data={"username": "tech_a", "password": PASSWORD}).json()["access_token"]
    r = web.client.get("/dicomweb/studies", headers={"Origin": origin, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] in ("*", origin)
    assert len(r.json()) == 30  # site A's own, nothing else
    # without a credential: 401, still readable by the other origin's script (so it can send the user to log in)
    r = web.client.get("/dicomweb/studies", headers={"Origin": origin})
    assert r.status_code == 401 and r.headers.get("access-control-allow-origin") in ("*", origin)
