"""OIDC: tokens of a configured issuer, signed by a key in its JWKS (a file, or a URL served here), map to users."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.identity.conftest import World, build_world

ISSUER = "https://idp.example.test/realms/radhub"


def _key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*keys: tuple[str, Any]) -> dict[str, Any]:
    out = []
    for kid, private in keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": out}


def _token(private: Any, kid: str, **claims: Any) -> str:
    body = {"iss": ISSUER, "sub": "idp-subject-1", "aud": "radhub", "iat": int(time.time()), "exp": int(time.time()) + 300,
            "preferred_username": "reader_a", **claims}
    return jwt.encode(body, private, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"good": _key(), "other": _key()}


@pytest.fixture
def jwks_url(keys: dict[str, Any]) -> Iterator[str]:
    body = json.dumps(_jwks(("k1", keys["good"]))).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/certs"
    server.shutdown()


@pytest.fixture(params=["file", "url"])
def oidc_world(request: Any, tmp_path: Path, keys: dict[str, Any]) -> Iterator[World]:
    if request.param == "file":
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(_jwks(("k1", keys["good"]))))
        jwks = str(path)
    else:
        jwks = request.getfixturevalue("jwks_url")
    w = build_world(tmp_path, oidc_issuer=ISSUER, oidc_jwks=jwks, oidc_audience="radhub")
    yield w
    w.client.close()
    w.archive.close()


def _me(w: World, token: str) -> Any:
    return w.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def test_an_issuers_token_maps_to_the_user_and_the_users_tenancy(oidc_world: World, keys: dict[str, Any]) -> None:
    w = oidc_world
    token = _token(keys["good"], "k1")
    r = _me(w, token)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "reader_a" and r.json()["org"] == "site-a"
    study = w.studies["site-a"][0]
    b_study = w.studies["site-b"][0]
    h = {"Authorization": f"Bearer {token}"}
    assert w.client.get(f"/dicomweb/studies/{study}/metadata", headers=h).status_code == 200
    assert w.client.get(f"/dicomweb/studies/{b_study}/metadata", headers=h).status_code == 404
    # the subject is now bound: another subject claiming the same username is refused
    assert _me(w, _token(keys["good"], "k1", sub="idp-subject-2")).status_code == 401


@pytest.mark.parametrize(
    "case",
    ["other_key", "unknown_kid", "wrong_audience", "expired", "other_issuer", "unknown_user", "hs256_with_public_key"],
)
def test_bad_oidc_tokens_are_refused(oidc_world: World, keys: dict[str, Any], case: str) -> None:
    good = keys["good"]
    token = {
        "other_key": lambda: _token(keys["other"], "k1"),
        "unknown_kid": lambda: _token(keys["other"], "k9"),
        "wrong_audience": lambda: _token(good, "k1", aud="someone-else"),
        "expired": lambda: _token(good, "k1", exp=int(time.time()) - 10, iat=int(time.time()) - 400),
        "other_issuer": lambda: _token(good, "k1", iss="https://evil.example.test"),
        "unknown_user": lambda: _token(good, "k1", sub="nobody", preferred_username="nobody"),
        # the algorithm-confusion attack: an HS256 token keyed with the issuer's public key
        "hs256_with_public_key": lambda: jwt.encode(
            {"iss": ISSUER, "sub": "x", "aud": "radhub", "exp": int(time.time()) + 60, "preferred_username": "reader_a"},
            "not-the-private-key-" * 3, algorithm="HS256", headers={"kid": "k1"},
        ),
    }[case]()
    r = _me(oidc_world, token)
    assert r.status_code == 401, (case, r.text)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_disabled_users_oidc_token_stops_working(oidc_world: World, keys: dict[str, Any]) -> None:
    token = _token(keys["good"], "k1")
    assert _me(oidc_world, token).status_code == 200
    oidc_world.archive.directory.set_disabled("reader_a", True)
    assert _me(oidc_world, token).status_code == 401
