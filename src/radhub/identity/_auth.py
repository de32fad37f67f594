"""Credentials to principals: passwords, bearer tokens (JWT), refresh tokens, API keys, OIDC, sessions.

Access and refresh tokens are JWTs signed with HS256 by radhub's own secret
(``Settings.auth_secret``, else ``<data_dir>/auth-secret``, made on first
use); only HS256 is accepted for them, so ``alg: none`` and key-confusion
tokens are refused. Each token is checked against the user row on every
request, so a disabled user's tokens stop working at once. With
``oidc_issuer`` and ``oidc_jwks`` set, access tokens of that issuer signed
by a key of its JWKS (RS256/ES256) are accepted too and mapped to the user
whose ``oidc_subject`` is the token's ``sub`` (or whose username is its
``oidc_username_claim``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from radhub.config import Settings
from radhub.identity._directory import Directory, User
from radhub.identity._policy import Principal
from radhub.identity.errors import AuthenticationError, Throttled

logger = logging.getLogger(__name__)

__all__ = ["Authenticator", "LoginThrottle"]

_ISSUER = "radhub"


class LoginThrottle:
    """Failed logins per account and per address; too many in ``window`` seconds lock out for a while.

    After ``limit`` failures for an account (four times as many for an
    address, which a hospital's NAT shares) the next attempt waits ``base``
    seconds, doubling with each further failure up to ``window`` (in memory,
    per process).
    """

    def __init__(self, limit: int = 5, window: float = 900.0, base: float = 30.0) -> None:
        self.limit, self.window, self.base = limit, window, base
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.limit * 4 if key.startswith("ip:") else self.limit

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] < now - self.window:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """Raise :class:`Throttled` if any key is locked out now."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                limit = self._limit(key)
                if len(q) >= limit:
                    wait = min(self.window, self.base * 2 ** (len(q) - limit))
                    left = q[-1] + wait - now
                    if left > 0:
                        raise Throttled(int(left) + 1)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._fails.pop(key, None)


def load_secret(settings: Settings) -> str:
    """The token signing secret: the setting, else ``<data_dir>/auth-secret`` (created 0600).

    Safe when several threads or processes start at once: the secret is
    written to a private temporary file and linked into place (which fails
    if another got there first, whose secret is then used); a partly
    written or empty secret is never read.
    """
    if settings.auth_secret:
        return settings.auth_secret
    path = Path(settings.data_dir) / "auth-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".auth-secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and never replaces a secret already in place
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path} holds no usable secret (fewer than 32 characters): remove it to make a new one")
    return secret


class Authenticator:
    """Issues and checks radhub's credentials against a :class:`Directory`."""

    def __init__(self, directory: Directory, settings: Settings) -> None:
        self.directory = directory
        self.settings = settings
        self.secret = load_secret(settings)
        self.access_ttl = settings.access_token_minutes * 60
        self.refresh_ttl = settings.refresh_token_hours * 3600
        self.throttle = LoginThrottle(settings.login_attempts, settings.login_window_seconds)
        self._jwks: Any = None

    # -- issuing -------------------------------------------------------------
    def _sign(self, claims: dict[str, Any], ttl: int) -> str:
        now = int(time.time())
        body = {"iss": _ISSUER, "iat": now, "exp": now + ttl, "jti": secrets.token_hex(12), **claims}
        return jwt.encode(body, self.secret, algorithm="HS256")

    def login(self, username: str, password: str, *, source: str = "") -> User:
        """The user for a correct password; raises :class:`AuthenticationError` / :class:`Throttled`."""
        keys = (f"user:{username.lower()}", f"ip:{source}")
        self.throttle.check(*keys)
        user = self.directory.check_password(username, password)
        if user is None or user.disabled:
            self.throttle.failed(*keys)
            logger.warning("failed login for account %r from %s", username[:64], source or "?")
            raise AuthenticationError("wrong username or password")
        self.throttle.succeeded(keys[0])  # the address keeps its count: a valid login does not hide guessing
        return user

    def issue(self, user: User) -> dict[str, Any]:
        """An OAuth2 token response: a short-lived access token and a single-use refresh token."""
        access = self._sign({"sub": str(user.pk), "typ": "access"}, self.access_ttl)
        jti = secrets.token_hex(16)
        expires = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=self.refresh_ttl)
        self.directory.store_refresh(jti, user.pk, expires)
        refresh = self._sign({"sub": str(user.pk), "typ": "refresh", "jti": jti}, self.refresh_ttl)
        return {"access_token": access, "token_type": "bearer", "expires_in": self.access_ttl, "refresh_token": refresh}

    def refresh(self, token: str) -> dict[str, Any]:
        """A new token pair for a refresh token (which is spent)."""
        claims = self._decode(token, "refresh")
        user = self._live_user(claims)
        if not self.directory.use_refresh(str(claims.get("jti", "")), user.pk):
            raise AuthenticationError("the refresh token was used, revoked or has expired")
        return self.issue(user)

    def session(self, user: User) -> tuple[str, str]:
        """A browser session token (for an HttpOnly cookie) and its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        return self._sign({"sub": str(user.pk), "typ": "session", "csrf": csrf}, self.refresh_ttl), csrf

    # -- checking ------------------------------------------------------------
    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], issuer=_ISSUER, options={"require": ["exp", "iat", "sub", "iss"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the token is not valid") from None
        if claims.get("typ") != typ:
            raise AuthenticationError(f"a {claims.get('typ', 'unknown')} token is not an {typ} token")
        return claims

    def _live_user(self, claims: dict[str, Any]) -> User:
        try:
            user = self.directory.user(int(claims["sub"]))
        except (ValueError, LookupError):
            raise AuthenticationError("the token is not valid") from None
        if user.disabled:
            raise AuthenticationError("the account is disabled")
        return user

    def principal_for_user(self, user: User, *, source: str = "", via: str = "", csrf: str | None = None) -> Principal:
        org = self.directory.org(user.org_pk)
        return Principal(
            "user", user.username, org.pk, org.code, frozenset(user.roles), user.pk, source, via, csrf
        )

    def bearer(self, token: str, *, source: str = "") -> Principal:
        """The principal of an ``Authorization: Bearer`` credential: an API key, a radhub token or an OIDC token."""
        if token.startswith("rh_"):
            return self.api_key(token, source=source)
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthenticationError("the token is not valid") from None
        if unverified.get("iss") == _ISSUER:
            claims = self._decode(token, "access")
            return self.principal_for_user(self._live_user(claims), source=source, via="bearer")
        if self.settings.oidc_issuer and unverified.get("iss") == self.settings.oidc_issuer:
            return self._oidc(token, header, source)
        raise AuthenticationError("the token's issuer is not trusted")

    def cookie(self, token: str, *, source: str = "") -> Principal:
        claims = self._decode(token, "session")
        return self.principal_for_user(self._live_user(claims), source=source, via="cookie", csrf=str(claims.get("csrf", "")))

    def api_key(self, text: str, *, source: str = "") -> Principal:
        key = self.directory.check_api_key(text)
        if key is None:
            raise AuthenticationError("the API key is not valid")
        org = self.directory.org(key.org_pk)
        return Principal("apikey", key.name, org.pk, org.code, frozenset(key.roles), None, source, "apikey")

    # -- OIDC --------------------------------------------------------------
    def _signing_key(self, header: dict[str, Any]) -> Any:
        src = self.settings.oidc_jwks
        if not src:
            raise AuthenticationError("no JWKS is configured for the OIDC issuer")
        if src.startswith(("http://", "https://")):
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(src, cache_keys=True, lifespan=300)
            try:
                return self._jwks.get_signing_key(header.get("kid", "")).key
            except jwt.PyJWTError:
                raise AuthenticationError("the token's signing key is not in the issuer's JWKS") from None
        keys = jwt.PyJWKSet.from_dict(json.loads(Path(src.removeprefix("file://")).read_text()))
        for k in keys.keys:
            if k.key_id == header.get("kid") or (header.get("kid") is None and len(keys.keys) == 1):
                return k.key
        raise AuthenticationError("the token's signing key is not in the issuer's JWKS")

    def _oidc(self, token: str, header: dict[str, Any], source: str) -> Principal:
        key = self._signing_key(header)
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                issuer=s.oidc_issuer,
                audience=s.oidc_audience or None,
                options={"require": ["exp", "iss", "sub"], "verify_aud": bool(s.oidc_audience)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the token is not valid") from None
        user = self.directory.user_by_subject(str(claims["sub"]))
        if user is None:
            name = claims.get(s.oidc_username_claim)
            try:
                user = self.directory.user(str(name)) if name else None
            except LookupError:
                user = None
            if user is not None and user.oidc_subject not in (None, str(claims["sub"])):
                user = None
        if user is None:
            raise AuthenticationError("the token's subject is not a radhub user")
        if user.disabled:
            raise AuthenticationError("the account is disabled")
        if user.oidc_subject is None and not self.directory.bind_subject(user.pk, str(claims["sub"])):
            raise AuthenticationError("the token's subject is not a radhub user")  # bound to another subject meanwhile
        return self.principal_for_user(user, source=source, via="oidc")
