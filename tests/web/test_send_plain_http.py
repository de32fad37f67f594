"""The send page over plain http to a host name (not this machine): no Web Crypto, still SHA-256 checksums.

Chromium treats http://127.0.0.1 as a secure context, a hospital's
http://radhub.lan not. The test browser maps ``radhub.test`` to 127.0.0.1
(``--host-resolver-rules``, tests/web/conftest.py), so the page runs as it would on such a network:
``crypto.subtle`` is absent and js-sha256 (npm) computes the checksums. The
server verifies every chunk's Upload-Checksum and the declared file
checksum, so a wrong digest would be refused (460), not stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import Site, make_site, shot
from tests.web.test_send_browser import count, synthetic, wait_done

HOST = "radhub.test"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = make_site(tmp_path_factory.mktemp("send-http"), {})
    yield s
    s.server.stop()


def test_checksums_without_web_crypto(site: Site, browser: Any, tmp_path: Path) -> None:
    base = f"http://{HOST}:{site.server.http_port}"
    if not (Path(__file__).resolve().parents[2] / ".web" / "sha256" / "build" / "sha256.min.js").exists():
        pytest.skip("js-sha256 is not installed (scripts/setup.sh with npm)")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(base + "/login?next=/send?chunk=65536")
    page.fill("#username", "tech_a")
    page.fill("#password", site.passwords["tech_a"])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base) + r"/send"))
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("!!(window.crypto && window.crypto.subtle)") is False
    assert page.evaluate("typeof window.sha256.arrayBuffer") == "function"

    checksums: list[tuple[str, str | None]] = []
    page.on("request", lambda r: checksums.append((r.method, r.headers.get("upload-checksum")))
            if r.method in ("POST", "PATCH") and "/upload" in r.url else None)
    files = synthetic(tmp_path / "syn", 3)
    page.set_input_files("#files", [str(f) for f in files])
    wait_done(page)
    shot(page, "send-plain-http")
    assert count(page, "stored") == 3 and count(page, "rejected") == 0
    # every request with a body carried a SHA-256 the page computed
    with_body = [c for m, c in checksums if c is not None or m == "PATCH"]
    assert with_body and all(c and c.startswith("sha256 ") for c in with_body), checksums
    # the digests are right: the server checked them, and the archive holds the files bit for bit
    token = httpx.post(site.url + "/api/v1/auth/token",
                       data={"username": "tech_a", "password": site.passwords["tech_a"]}).json()["access_token"]
    import pydicom

    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        r = httpx.get(
            f"{site.url}/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom; transfer-syntax=*"},
        )
        assert r.status_code == 200
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(f.read_bytes()).digest()
    # and one of them, computed here, equals what the page sent for a one-chunk file
    digests = {base64.b64encode(hashlib.sha256(f.read_bytes()).digest()).decode() for f in files}
    assert digests & {c.split(" ", 1)[1] for _, c in checksums if c}
    context.close()
