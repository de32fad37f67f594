"""Authentication over HTTP: tokens, refresh, API keys, cookie sessions with CSRF, throttling, headers."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.identity.conftest import PASSWORD, World


def test_password_flow_returns_the_oauth2_token_response(world: World) -> None:
    r = world.client.post("/api/v1/auth/token", data={"username": "reader_a", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert r.headers["cache-control"] == "no-store"
    me = world.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["name"] == "reader_a" and me.json()["org"] == "site-a" and me.json()["roles"] == ["reader"]


def test_wrong_password_and_unknown_user_get_the_same_answer(world: World) -> None:
    a = world.client.post("/api/v1/auth/token", data={"username": "reader_a", "password": "wrong password!"})
    b = world.client.post("/api/v1/auth/token", data={"username": "nobody", "password": "wrong password!"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    missing = world.client.post("/api/v1/auth/token", data={"username": "reader_a"})
    assert missing.status_code == 400


def test_passwords_are_stored_as_argon2_hashes(world: World) -> None:
    from sqlalchemy import text

    with world.archive.catalog.engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(text("SELECT password_hash FROM users"))]
        key_hashes = [h for (h,) in conn.execute(text("SELECT key_hash FROM api_keys"))]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    assert all(k.split("_")[-1] not in key_hashes for k in world.keys.values())


def test_every_route_but_the_public_ones_needs_a_credential(world: World) -> None:
    c = world.client
    for method, path in [
        ("GET", "/dicomweb/studies"),
        ("GET", f"/dicomweb/studies/{world.studies['site-a'][0]}/metadata"),
        ("POST", "/dicomweb/studies"),
        ("POST", "/upload"),
        ("GET", "/api/checks"),
        ("GET", "/api/archive/totals"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/auth/me"),
        ("POST", "/api/stats/accuracy"),
    ]:
        r = c.request(method, path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert c.get("/healthz").status_code == 200
    assert c.get("/openapi.json").status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert "/api/v1/auth/token" in paths and "/api/v1/users" in paths
    schemes = c.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


def _forge(world: World, **claims: object) -> str:
    body = {"iss": "radhub", "sub": str(world.archive.directory.user("platform").pk), "typ": "access",
            "iat": int(time.time()), "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, world.archive.auth.secret, algorithm="HS256")


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong_signature", "alg_none", "other_issuer", "refresh_as_access", "session_as_access", "garbage", "not_bearer"],
)
def test_bad_tokens_are_refused(world: World, case: str) -> None:
    c = world.client
    if case == "expired":
        token = _forge(world, exp=int(time.time()) - 5, iat=int(time.time()) - 900)
    elif case == "wrong_signature":
        token = jwt.encode({"iss": "radhub", "sub": "1", "typ": "access", "iat": 1, "exp": int(time.time()) + 60}, "x" * 40, algorithm="HS256")
    elif case == "alg_none":
        token = jwt.encode({"iss": "radhub", "sub": "1", "typ": "access", "iat": 1, "exp": int(time.time()) + 60}, None, algorithm="none")
    elif case == "other_issuer":
        token = _forge(world, iss="https://evil.example")
    elif case == "refresh_as_access":
        token = c.post("/api/v1/auth/token", data={"username": "platform", "password": PASSWORD}).json()["refresh_token"]
    elif case == "session_as_access":
        token = world.archive.auth.session(world.archive.directory.user("platform"))[0]
    elif case == "garbage":
        token = "not.a.token"
    else:
        r = c.get("/api/v1/auth/me", headers={"Authorization": "Basic cGxhdGZvcm06eA=="})
        assert r.status_code == 401
        return
    r = c.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, case
    assert "Value" not in r.text


def test_a_disabled_users_token_stops_working_at_once(world: World) -> None:
    headers = world.auth("reader_a")
    assert world.client.get("/dicomweb/studies", headers=headers).status_code == 200
    r = world.client.post("/api/v1/users/reader_a/disable", headers=world.auth("admin_a"))
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert world.client.get("/dicomweb/studies", headers=headers).status_code == 401
    again = world.client.post("/api/v1/auth/token", data={"username": "reader_a", "password": PASSWORD})
    assert again.status_code == 401


def test_refresh_tokens_rotate_and_work_once(world: World) -> None:
    c = world.client
    first = c.post("/api/v1/auth/token", data={"username": "reader_a", "password": PASSWORD}).json()
    second = c.post("/api/v1/auth/refresh", data={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"}).status_code == 200
    replay = c.post("/api/v1/auth/refresh", data={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    via_grant = c.post("/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]})
    assert via_grant.status_code == 200
    access_as_refresh = c.post("/api/v1/auth/refresh", data={"refresh_token": first["access_token"]})
    assert access_as_refresh.status_code == 401


def test_api_keys_authenticate_and_revoked_or_malformed_keys_do_not(world: World) -> None:
    c = world.client
    key = world.keys["gateway_a"]
    assert c.get("/dicomweb/studies", headers={"X-API-Key": key}).status_code == 200
    assert c.get("/dicomweb/studies", headers={"Authorization": f"Bearer {key[:-2]}xx"}).status_code == 401
    assert c.get("/dicomweb/studies", headers={"X-API-Key": "rh_0000000000000000_" + "a" * 43}).status_code == 401
    key_id = key.split("_")[1]
    assert c.delete(f"/api/v1/apikeys/{key_id}", headers=world.auth("admin_b")).status_code == 404  # not B's key
    assert c.delete(f"/api/v1/apikeys/{key_id}", headers=world.auth("admin_a")).status_code == 200
    assert c.get("/dicomweb/studies", headers={"X-API-Key": key}).status_code == 401


def test_cookie_sessions_need_the_csrf_token_on_state_changing_requests(world: World) -> None:
    from fastapi.testclient import TestClient

    from radhub.api import create_app

    browser = TestClient(create_app(world.archive))
    r = browser.post("/api/v1/auth/login", data={"username": "admin_a", "password": PASSWORD})
    assert r.status_code == 200
    set_cookie = r.headers.get_list("set-cookie")
    session = next(h for h in set_cookie if h.startswith("radhub_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    csrf = r.json()["csrf_token"]
    assert browser.get("/api/v1/auth/me").json()["name"] == "admin_a"
    body = {"username": "new_reader", "password": PASSWORD, "roles": ["reader"]}
    assert browser.post("/api/v1/users", json=body).status_code == 403
    assert browser.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    ok = browser.post("/api/v1/users", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    browser.post("/api/v1/auth/logout")
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_repeated_failed_logins_are_throttled_and_audited(world: World) -> None:
    c = world.client
    for _ in range(5):
        assert c.post("/api/v1/auth/token", data={"username": "tech_b", "password": "wrong password!"}).status_code == 401
    r = c.post("/api/v1/auth/token", data={"username": "tech_b", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    world.archive.audit.flush()
    actions = [e["action"] for e in world.archive.audit.query(limit=50)]
    assert actions.count("login.failed") == 5 and "login.throttled" in actions
    # other accounts from the same address are not, until the address's own limit (4x) is reached
    assert c.post("/api/v1/auth/token", data={"username": "tech_a", "password": PASSWORD}).status_code == 200
    for i in range(15):
        c.post("/api/v1/auth/token", data={"username": f"guess{i}", "password": "wrong password!"})
    assert c.post("/api/v1/auth/token", data={"username": "tech_a", "password": PASSWORD}).status_code == 429


def test_security_headers_on_every_response(world: World) -> None:
    for r in (world.client.get("/healthz"), world.client.get("/dicomweb/studies"), world.client.get("/api/docs")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"


PUBLIC = {"/healthz", "/openapi.json", "/api/docs", "/api/docs/oauth2-redirect", "/api/v1/auth/token",
          "/api/v1/auth/refresh", "/api/v1/auth/login", "/api/v1/auth/logout", "/favicon.ico"}


def _routes(routes: list, prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route, through included routers and mounts."""
    from starlette.routing import Mount, Route

    out: list[tuple[str, set[str]]] = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            out += _routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            out.append((prefix + route.path + "/x", {"GET", "POST"}))
        elif isinstance(route, Route) or hasattr(route, "methods"):
            out.append((prefix + route.path, set(route.methods or {"GET"}) - {"HEAD"}))
    return out


def test_every_registered_route_refuses_an_anonymous_caller(world: World) -> None:
    """Walk the application's routes (so a route added later is covered): all but the public few answer 401."""
    import re

    c = world.client
    checked = 0
    for template, methods in _routes(c.app.routes):  # type: ignore[attr-defined]
        path = re.sub(r"\{[^}]+\}", "1.2.3", template)
        for method in methods:
            r = c.request(method, path, follow_redirects=False)
            if template in PUBLIC or template in ("/", "/login") or template.startswith(("/ohif", "/vendor/", "/static")):
                continue  # the log-in page and the viewer's code: no data (that comes over /dicomweb)
            if method == "GET" and template.startswith(("/studies", "/admin", "/send")):
                assert r.status_code == 303 and r.headers["location"].startswith("/login?"), (template, r.status_code)
                checked += 1
                continue
            assert r.status_code == 401, (method, template, r.status_code)
            checked += 1
    assert checked > 40


def test_the_signing_secret_is_made_once_when_many_start_together(tmp_path) -> None:
    """Threads that need the secret at the same moment get one, complete secret (it used to race: a 500)."""
    import threading

    from radhub.config import Settings
    from radhub.identity._auth import load_secret

    for attempt in range(20):
        settings = Settings(data_dir=tmp_path / f"d{attempt}")
        got: list[str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def load() -> None:
            barrier.wait()
            try:
                got.append(load_secret(settings))
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(set(got)) == 1 and len(got[0]) >= 32
        assert [p.name for p in (tmp_path / f"d{attempt}").iterdir()] == ["auth-secret"]
        assert (tmp_path / f"d{attempt}" / "auth-secret").stat().st_mode & 0o777 == 0o600


def test_an_empty_secret_file_is_refused(tmp_path) -> None:
    from radhub.config import Settings
    from radhub.identity._auth import load_secret

    (tmp_path / "auth-secret").write_text("")
    with pytest.raises(RuntimeError, match="no usable secret"):
        load_secret(Settings(data_dir=tmp_path))
