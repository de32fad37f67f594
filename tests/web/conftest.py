"""The browser harness: Debian's Chromium driven by Playwright against a real ``radhub serve`` with log-in on.

- ``browser``: one headless Chromium per session (``executable_path``:
  Playwright's own browser download cannot work here). WebGL in headless
  Chromium needs SwiftShader: ``--use-gl=swiftshader --enable-unsafe-swiftshader``
  (without them OHIF's cornerstone3D finds no WebGL context and draws nothing).
- ``site``: a radhub server (SQLite, or PostgreSQL with ``site_pg``) with two
  requesting sites, ``site-a`` and ``site-b``, a technologist and a reader at
  each, and the studies a test module asks for imported as ``site-a``'s.
- ``shot(page, name)``: a screenshot kept in ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import RadhubProcess

CHROMIUM = os.environ.get("RADHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # radhub.test is this machine, reached as a host name: a page there is not a secure context
    # (as on a hospital network over plain http), see test_send_plain_http.py
    "--host-resolver-rules=MAP radhub.test 127.0.0.1",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

USERS = {  # username: (org, role)
    "tech_a": ("site-a", "technologist"),
    "reader_a": ("site-a", "reader"),
    "admin_a": ("site-a", "site_admin"),
    "reviewer_a": ("site-a", "reviewer"),
    "tech_b": ("site-b", "technologist"),
    "reader_b": ("site-b", "reader"),
}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("RADHUB_WITH_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/setup.sh installs it with RADHUB_WITH_BROWSER=1)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Site:
    """A running radhub with two sites and their users; ``studies`` maps a name a test gave to a StudyInstanceUID."""

    server: RadhubProcess
    passwords: dict[str, str]
    studies: dict[str, str] = field(default_factory=dict)
    backend: str = "sqlite"

    @property
    def url(self) -> str:
        return self.server.base_url

    def login(self, browser: object, username: str, *, next: str = "/studies") -> object:
        """A new browser context logged in as ``username`` through the log-in form; its page, at ``next``."""
        context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(self.url + "/login?next=" + next)
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", self.passwords[username])
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(re.escape(self.url + next.split("?")[0])))
        return page


def _ingest(archive: object, files: list[Path], org: str) -> dict[str, str]:
    """Import ``files`` as ``org``'s; {path: study uid} of what was stored."""
    org_pk = archive.directory.org(org).pk  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    with archive.ingestor.batch(source="import", org_pk=org_pk) as batch:  # type: ignore[attr-defined]
        for f in files:
            batch.add(iter([f.read_bytes()]))
        results = batch.finish()
    for f, r in zip(files, results):
        assert r.ok, (f, r.reason)
        out[str(f)] = str(r.study_instance_uid)
    return out


def make_site(tmp: Path, files_by_name: dict[str, list[Path]], *, database_url: str | None = None) -> Site:
    """Create the sites, users and studies offline, then start ``radhub serve`` with log-in on."""
    from radhub.archive import Archive
    from radhub.config import Settings

    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    kw = {"database_url": database_url} if database_url else {}
    archive = Archive.open(Settings(data_dir=data, auth=True, **kw))
    passwords: dict[str, str] = {}
    studies: dict[str, str] = {}
    try:
        d = archive.directory
        d.create_org("radhub platform", kind="platform", code="platform")
        d.create_org("Site A Hospital", kind="requesting", code="site-a")
        d.create_org("Site B Hospital", kind="requesting", code="site-b")
        for username, (org, role) in USERS.items():
            passwords[username] = secrets.token_urlsafe(12)
            d.create_user(org, username, passwords[username], roles=role, licences="CT,MR")
        for name, files in files_by_name.items():
            uids = set(_ingest(archive, files, "site-a").values())
            assert len(uids) == 1, (name, uids)
            studies[name] = uids.pop()
    finally:
        archive.close()
    args = ["--auth"] + (["--database-url", database_url] if database_url else [])
    server = RadhubProcess(data, extra_args=args, env={"RADHUB_AUTH": "true"})
    return Site(server, passwords, studies, backend="postgresql" if database_url else "sqlite")


def shot(page: object, name: str) -> Path:
    """Keep a screenshot of ``page`` as a test artefact; its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path


def copy_shot(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
