"""radhub's own pages in Chromium: log in, find a study, its page, its header, admin; another site sees nothing."""

from __future__ import annotations

import re
import pytest

from tests.conftest import DICOM_DIR
from tests.web.conftest import Site, make_site, shot


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    ct = sorted((DICOM_DIR / "dcm_qa_ct_GE").glob("*.dcm"))
    if not ct:
        pytest.skip("the GE CT series of the shared corpus is missing")
    s = make_site(tmp_path_factory.mktemp("pages"), {"ct": ct})
    yield s
    s.server.stop()


def test_root_is_the_login_page_and_a_bad_password_says_so(site: Site, browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(site.url + "/")
    assert page.locator("h1").inner_text() == "Log in to radhub"
    page.fill("#username", "tech_a")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert error.inner_text().strip()  # a message in words, on the same page
    assert page.url.startswith(site.url + "/login") or page.url == site.url + "/"
    shot(page, "01-login-error")
    context.close()


def test_find_the_study_by_patient_name_and_open_its_pages(site: Site, browser) -> None:
    page = site.login(browser, "tech_a")
    rows = page.locator("table.list tbody tr")
    assert rows.count() >= 1
    shot(page, "02-study-list")
    # the CT's patient name, searched by a part of it
    uid = site.studies["ct"]
    page.goto(site.url + "/studies/" + uid)
    name = page.locator("[data-field=name]").inner_text().strip()
    assert name
    part = re.split(r"[\^ ,]", name)[0][:4]
    page.goto(site.url + "/studies")
    page.fill("input[name=name]", part.lower())
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"name="))
    links = page.locator(f"a[href='/studies/{uid}']")
    assert links.count() >= 1
    shot(page, "03-study-list-search")
    # a name nobody has: an empty list that says so
    page.goto(site.url + "/studies?name=zzzznobody")
    assert page.locator(f"a[href='/studies/{uid}']").count() == 0
    assert "No study matches" in page.locator("#studies").inner_text()

    # the study page: one series of 28 instances, thumbnails drawn, a viewer link
    page.goto(site.url + "/studies/" + uid)
    series = page.locator("div.series figure")
    assert series.count() == 1
    assert "28" in series.first.inner_text()
    thumb = page.locator("img.thumb").first
    thumb.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    viewer = page.locator("a.open-viewer")
    assert viewer.get_attribute("href") == f"/ohif/viewer?StudyInstanceUIDs={uid}"
    shot(page, "04-study-page")

    # the header browser: search by keyword and by tag
    page.locator("a.header-link").first.click()
    page.wait_for_url(re.compile(r"/header$"))
    assert page.locator("tr[data-tag='(0008,0060)']").inner_text().count("CT") >= 1
    page.fill("#header-filter", "Modality")
    visible = page.locator("table.header tbody tr:visible")
    assert 1 <= visible.count() < 10
    page.fill("#header-filter", "0028,0010")
    assert "Rows" in page.locator("table.header tbody tr:visible").first.inner_text()
    shot(page, "05-header")
    page.context.close()


def test_another_site_sees_neither_the_study_nor_its_pages(site: Site, browser) -> None:
    uid = site.studies["ct"]
    page = site.login(browser, "tech_b")
    assert page.locator(f"a[href='/studies/{uid}']").count() == 0
    response = page.goto(site.url + "/studies/" + uid)
    assert response is not None and response.status == 404
    # and its images: not over DICOMweb with this session either
    r = page.request.get(site.url + f"/dicomweb/studies/{uid}/metadata")
    assert r.status == 404
    page.context.close()


def test_an_expired_session_goes_to_login_and_back(site: Site, browser) -> None:
    uid = site.studies["ct"]
    page = site.login(browser, "tech_a")
    target = f"/studies/{uid}"
    # the session ends (the cookie is gone: as after its expiry): the page sends the user to log in
    page.context.clear_cookies()
    page.goto(site.url + target)
    page.wait_for_url(re.compile(r"/login\?"))
    assert "session" in page.locator("section.login").inner_text().lower() or page.locator("#username").count() == 1
    page.fill("#username", "tech_a")
    page.fill("#password", site.passwords["tech_a"])
    page.click("button[type=submit]")
    page.wait_for_url(site.url + target)
    assert page.locator("div.series figure").count() == 1
    page.context.close()


def test_admin_page_lists_the_sites_users_and_ae_titles(site: Site, browser) -> None:
    page = site.login(browser, "admin_a", next="/admin")
    text = page.locator("main").inner_text()
    assert "site-a" in text and "tech_a" in text and "admin_a" in text
    assert "tech_b" not in text and "site-b" not in text  # a site admin sees their own site only
    shot(page, "06-admin")
    page.context.close()
    # a technologist is told, in words, that the page is for administrators
    page = site.login(browser, "tech_a", next="/admin")
    assert "administrator" in page.locator("main").inner_text()
    assert "tech_b" not in page.locator("main").inner_text()
    page.context.close()


def test_a_reviewer_grades_the_image_quality(site: Site, browser) -> None:
    uid = site.studies["ct"]
    page = site.login(browser, "reviewer_a", next=f"/studies/{uid}")
    assert "not graded" in page.locator("#quality-grade").inner_text()
    page.check("#grade-form input[name=grade][value='2']")
    page.fill("#grade-form input[name=note]", "slight motion at the skull base")
    page.click("#grade-form button[type=submit]")
    page.locator("#quality-grade .grade-2").wait_for()
    assert "reviewer_a" in page.locator("#quality-grade").inner_text()
    assert "slight motion" in page.locator(".grade-note").inner_text()
    shot(page, "07-quality-grade")
    page.context.close()
    # a technologist sees the grade in the list and on the page, and has no form to change it
    page = site.login(browser, "tech_a")
    assert page.locator(f"tr[data-study='{uid}'] .grade-2").count() == 1
    page.goto(site.url + f"/studies/{uid}")
    assert page.locator("#quality-grade .grade-2").count() == 1
    assert page.locator("#grade-form").count() == 0
    page.context.close()
