"""The web UI once on PostgreSQL: log in, find the study by patient name, OHIF draws it; another site sees nothing."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DICOM_DIR
from tests.web.conftest import Site, make_site, shot
from tests.web.test_viewer_browser import VIEWPORT, _changed, _viewport_image, _wait_drawn


@pytest.fixture(scope="module")
def site(tmp_path_factory, postgres_server) -> Site:
    ct = sorted((DICOM_DIR / "dcm_qa_ct_GE").glob("*.dcm"))
    if not ct:
        pytest.skip("the GE CT series of the shared corpus is missing")
    s = make_site(tmp_path_factory.mktemp("pg"), {"ct": ct}, database_url=postgres_server.create_database())
    yield s
    s.server.stop()


def test_find_and_view_on_postgresql(site: Site, browser) -> None:
    assert site.backend == "postgresql"
    uid = site.studies["ct"]
    page = site.login(browser, "reader_a")
    page.goto(site.url + "/studies/" + uid)
    name = page.locator("[data-field=name]").inner_text().strip()
    page.goto(site.url + "/studies")
    page.fill("input[name=name]", re.split(r"[\^ ,]", name)[0][:4].lower())
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"name="))
    page.click(f"a[href='/studies/{uid}']")
    page.click("a.open-viewer")
    page.wait_for_url(re.compile(r"/ohif/viewer"))
    first = _wait_drawn(page)
    box = page.locator(VIEWPORT).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 600)
    page.wait_for_timeout(1000)
    assert _changed(first, _viewport_image(page)) > 0.5
    shot(page, "20-postgresql-ohif-ct")
    page.context.close()


def test_another_site_sees_nothing_on_postgresql(site: Site, browser) -> None:
    uid = site.studies["ct"]
    page = site.login(browser, "reader_b")
    assert page.locator(f"a[href='/studies/{uid}']").count() == 0
    assert page.goto(site.url + "/studies/" + uid).status == 404
    page.goto(f"{site.url}/ohif/viewer?StudyInstanceUIDs={uid}")
    page.get_by_text("not available").wait_for(timeout=30_000)
    assert page.locator(VIEWPORT).count() == 0
    page.context.close()
