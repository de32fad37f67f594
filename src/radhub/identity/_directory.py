"""Organisations, users, API keys, AE titles, C-MOVE destinations and shares, in the catalog database."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from radhub.catalog import Catalog
from radhub.catalog._models import Share, Study
from radhub.identity._policy import KEYWORDS, LICENCES, ORG_KINDS, TITLES, Role
from radhub.identity._tables import api_keys, org_ae_titles, org_destinations, organisations, refresh_tokens, users
from radhub.identity.errors import IdentityError, NotFound

__all__ = ["ApiKey", "Directory", "Organisation", "User"]

_hasher = PasswordHasher()
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
_DUMMY_HASH = _hasher.hash("radhub-timing-equaliser")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Organisation:
    pk: int
    name: str
    code: str
    kind: str
    parent_pk: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.pk, "name": self.name, "code": self.code, "kind": self.kind, "parent_id": self.parent_pk}


@dataclass(frozen=True)
class User:
    pk: int
    org_pk: int
    username: str
    roles: tuple[str, ...]
    title: str
    licences: tuple[str, ...]
    keywords: tuple[str, ...]
    disabled: bool
    oidc_subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "org_id": self.org_pk,
            "username": self.username,
            "roles": list(self.roles),
            "title": self.title,
            "licences": list(self.licences),
            "keywords": list(self.keywords),
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class ApiKey:
    pk: int
    org_pk: int
    name: str
    key_id: str
    roles: tuple[str, ...]
    revoked: bool
    expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "org_id": self.org_pk,
            "name": self.name,
            "key_id": self.key_id,
            "roles": list(self.roles),
            "revoked": self.revoked,
            "expires_at": self.expires_at.isoformat() + "Z" if self.expires_at else None,
        }


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in (value or "").split(",") if v)


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(
        m["pk"], m["org_pk"], m["username"], _split(m["roles"]), m["title"], _split(m["licences"]),
        _split(m["keywords"]), bool(m["disabled"]), m["oidc_subject"],
    )


def _org(row: Row[Any]) -> Organisation:
    m = row._mapping
    return Organisation(m["pk"], m["name"], m["code"], m["kind"], m["parent_pk"])


def _key(row: Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(m["pk"], m["org_pk"], m["name"], m["key_id"], _split(m["roles"]), bool(m["revoked"]), m["expires_at"])


def check_roles(roles: Any, *, machine: bool = False) -> tuple[str, ...]:
    """Validated role names (``machine`` also allows the API-key roles)."""
    values = [r.strip().lower() for r in (roles.split(",") if isinstance(roles, str) else roles) if r.strip()]
    if not values:
        raise IdentityError("at least one role is needed")
    allowed = {r.value for r in Role} if machine else {r.value for r in Role} - {"gateway", "monitor"}
    for r in values:
        if r not in allowed:
            raise IdentityError(f"unknown role {r!r}; one of {', '.join(sorted(allowed))}")
    return tuple(dict.fromkeys(values))


def _check_list(values: Any, allowed: tuple[str, ...], what: str, *, upper: bool = False, most: int = 99) -> tuple[str, ...]:
    items = [v.strip() for v in (values.split(",") if isinstance(values, str) else values or ()) if v.strip()]
    items = [v.upper() if upper else v.lower() for v in items]
    for v in items:
        if v not in allowed:
            raise IdentityError(f"unknown {what} {v!r}; one of {', '.join(allowed)}")
    if len(items) > most:
        raise IdentityError(f"at most {most} {what}s, in order (primary, secondary, third)")
    if len(set(items)) != len(items):
        raise IdentityError(f"a {what} is listed twice")
    return tuple(items)


def hash_api_secret(secret: str) -> str:
    """SHA-256 of an API key's secret: the secret is 256 random bits, so a slow hash adds nothing."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Directory:
    """The identity store of one archive (the catalog's database)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = catalog.engine
        # organisations are never changed or deleted, so one looked up by pk (every
        # authenticated request does) is kept; users and keys are read every time
        self._orgs_by_pk: dict[int, Organisation] = {}

    # -- organisations -----------------------------------------------------
    def create_org(self, name: str, *, kind: str, code: str | None = None, parent: str | None = None) -> Organisation:
        name = (name or "").strip()
        if not 0 < len(name) <= 128:
            raise IdentityError("an organisation needs a name of 1-128 characters")
        if kind not in ORG_KINDS:
            raise IdentityError(f"kind must be one of {', '.join(ORG_KINDS)}, got {kind!r}")
        code = (code or re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower() or "org")[:64]
        if not _CODE.match(code):
            raise IdentityError(f"code {code!r} may hold only letters, digits, '_', '.', '-'")
        parent_pk = self.org(parent).pk if parent else None
        try:
            with self.catalog._write_conn() as conn:
                pk = conn.execute(
                    insert(organisations).values(name=name, code=code, kind=kind, parent_pk=parent_pk, created_at=_utcnow())
                ).inserted_primary_key[0]
        except IntegrityError:
            raise IdentityError(f"an organisation named {name!r} or with code {code!r} exists", status=409) from None
        return Organisation(int(pk), name, code, kind, parent_pk)

    def org(self, ref: str | int) -> Organisation:
        """An organisation by pk, code or name."""
        if isinstance(ref, int) and ref in self._orgs_by_pk:
            return self._orgs_by_pk[ref]
        with self.engine.connect() as conn:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
                row = conn.execute(select(organisations).where(organisations.c.pk == int(ref))).first()
            else:
                row = conn.execute(
                    select(organisations).where((organisations.c.code == ref) | (organisations.c.name == ref))
                ).first()
        if row is None:
            raise NotFound(f"organisation {ref!r} not found")
        org = _org(row)
        self._orgs_by_pk[org.pk] = org
        return org

    def orgs(self) -> list[Organisation]:
        with self.engine.connect() as conn:
            return [_org(r) for r in conn.execute(select(organisations).order_by(organisations.c.pk))]

    def add_ae(self, org: str | int, ae_title: str) -> None:
        """Map a calling AE title (a modality's) to an organisation."""
        o = self.org(org)
        ae = _check_ae(ae_title)
        try:
            with self.catalog._write_conn() as conn:
                conn.execute(insert(org_ae_titles).values(ae_title=ae, org_pk=o.pk))
        except IntegrityError:
            raise IdentityError(f"AE title {ae!r} is already registered", status=409) from None

    def ae_titles(self, org: str | int | None = None) -> dict[str, int]:
        """Registered calling AE titles and their organisations."""
        q = select(org_ae_titles.c.ae_title, org_ae_titles.c.org_pk)
        if org is not None:
            q = q.where(org_ae_titles.c.org_pk == self.org(org).pk)
        with self.engine.connect() as conn:
            return {a: int(o) for a, o in conn.execute(q)}

    def add_destination(self, org: str | int, ae_title: str, host: str, port: int) -> None:
        """Register a C-MOVE destination of an organisation."""
        o = self.org(org)
        ae = _check_ae(ae_title)
        if not 0 < int(port) < 65536 or not host.strip():
            raise IdentityError("a destination needs a host and a port 1-65535")
        with self.catalog._write_conn() as conn:
            conn.execute(
                delete(org_destinations).where(org_destinations.c.org_pk == o.pk, org_destinations.c.ae_title == ae)
            )
            conn.execute(insert(org_destinations).values(org_pk=o.pk, ae_title=ae, host=host.strip(), port=int(port)))

    def destination(self, org_pk: int, ae_title: str) -> tuple[str, str, int] | None:
        """``(ae_title, host, port)`` of a C-MOVE destination registered to ``org_pk``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(org_destinations.c.ae_title, org_destinations.c.host, org_destinations.c.port).where(
                    org_destinations.c.org_pk == org_pk, org_destinations.c.ae_title == ae_title.strip()
                )
            ).first()
        return (row[0], row[1], int(row[2])) if row else None

    # -- users -------------------------------------------------------------
    def create_user(
        self,
        org: str | int,
        username: str,
        password: str | None,
        *,
        roles: Any,
        title: str = "",
        licences: Any = (),
        keywords: Any = (),
        oidc_subject: str | None = None,
    ) -> User:
        o = self.org(org)
        if not _USERNAME.match(username or ""):
            raise IdentityError("a username is 1-128 letters, digits or _ . @ -")
        role_list = check_roles(roles)
        if Role.PLATFORM_ADMIN.value in role_list and o.kind != "platform":
            raise IdentityError("platform_admin is a role of a platform organisation")
        if title and title not in TITLES:
            raise IdentityError(f"title must be one of {', '.join(TITLES)}")
        lic = _check_list(licences, LICENCES, "licence", upper=True)
        kw = _check_list(keywords, KEYWORDS, "keyword", most=3)
        if password is not None:
            _check_password(password)
        pw = _hasher.hash(password) if password else ""
        try:
            with self.catalog._write_conn() as conn:
                pk = conn.execute(
                    insert(users).values(
                        org_pk=o.pk, username=username, password_hash=pw, roles=",".join(role_list), title=title,
                        licences=",".join(lic), keywords=",".join(kw), oidc_subject=oidc_subject, disabled=False,
                        created_at=_utcnow(),
                    )
                ).inserted_primary_key[0]
        except IntegrityError:
            raise IdentityError(f"user {username!r} exists", status=409) from None
        return User(int(pk), o.pk, username, role_list, title, lic, kw, False, oidc_subject)

    def user(self, ref: str | int) -> User:
        with self.engine.connect() as conn:
            col = users.c.pk if isinstance(ref, int) else users.c.username
            row = conn.execute(select(users).where(col == ref)).first()
        if row is None:
            raise NotFound(f"user {ref!r} not found")
        return _user(row)

    def user_by_subject(self, subject: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.oidc_subject == subject)).first()
        return _user(row) if row else None

    def bind_subject(self, user_pk: int, subject: str) -> bool:
        """Record the OIDC subject of a user first matched by username (only if none is bound yet)."""
        with self.catalog._write_conn() as conn:
            n = conn.execute(
                update(users).where(users.c.pk == user_pk, users.c.oidc_subject.is_(None)).values(oidc_subject=subject)
            ).rowcount
        return bool(n)

    def users(self, org: str | int | None = None) -> list[User]:
        q = select(users).order_by(users.c.pk)
        if org is not None:
            q = q.where(users.c.org_pk == self.org(org).pk)
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(q)]

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        u = self.user(username)
        with self.catalog._write_conn() as conn:
            conn.execute(update(users).where(users.c.pk == u.pk).values(disabled=disabled))
            if disabled:
                conn.execute(update(refresh_tokens).where(refresh_tokens.c.user_pk == u.pk).values(used=True))
        return self.user(u.pk)

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        u = self.user(username)
        with self.catalog._write_conn() as conn:
            conn.execute(update(users).where(users.c.pk == u.pk).values(password_hash=_hasher.hash(password)))

    def check_password(self, username: str, password: str) -> User | None:
        """The user if ``password`` is theirs (argon2); ``None`` otherwise, in about the same time."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        stored = row._mapping["password_hash"] if row is not None else ""
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not stored:
            return None
        if _hasher.check_needs_rehash(stored):
            with self.catalog._write_conn() as conn:
                conn.execute(update(users).where(users.c.pk == row._mapping["pk"]).values(password_hash=_hasher.hash(password)))
        return _user(row)

    # -- refresh tokens ------------------------------------------------------
    def store_refresh(self, jti: str, user_pk: int, expires_at: datetime) -> None:
        with self.catalog._write_conn() as conn:
            conn.execute(insert(refresh_tokens).values(jti=jti, user_pk=user_pk, expires_at=expires_at, used=False))

    def use_refresh(self, jti: str, user_pk: int) -> bool:
        """Spend a refresh token (each is good once); whether it was valid."""
        with self.catalog._write_conn() as conn:
            n = conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.jti == jti,
                    refresh_tokens.c.user_pk == user_pk,
                    refresh_tokens.c.used.is_(False),
                    refresh_tokens.c.expires_at > _utcnow(),
                )
                .values(used=True)
            ).rowcount
        return bool(n)

    # -- API keys ------------------------------------------------------------
    def create_api_key(
        self, org: str | int, name: str, *, roles: Any = ("gateway",), created_by: str = "", days: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new API key and its secret text (shown once: only a hash is stored)."""
        o = self.org(org)
        if not 0 < len((name or "").strip()) <= 128:
            raise IdentityError("an API key needs a name of 1-128 characters")
        role_list = check_roles(roles, machine=True)
        for platform_only in (Role.PLATFORM_ADMIN.value, Role.MONITOR.value):
            if platform_only in role_list and o.kind != "platform":  # /metrics counts every site's traffic
                raise IdentityError(f"{platform_only} is a role of a platform organisation")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        expires = _utcnow() + timedelta(days=days) if days else None
        with self.catalog._write_conn() as conn:
            pk = conn.execute(
                insert(api_keys).values(
                    org_pk=o.pk, name=name.strip(), key_id=key_id, key_hash=hash_api_secret(secret),
                    roles=",".join(role_list), created_by=created_by, created_at=_utcnow(), expires_at=expires,
                    revoked=False,
                )
            ).inserted_primary_key[0]
        return ApiKey(int(pk), o.pk, name.strip(), key_id, role_list, False, expires), f"rh_{key_id}_{secret}"

    def check_api_key(self, text: str) -> ApiKey | None:
        """The live key ``text`` names, or ``None`` (wrong, revoked or expired)."""
        m = re.fullmatch(r"rh_([0-9a-f]{16})_([A-Za-z0-9_-]{20,64})", text or "")
        if m is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == m.group(1))).first()
        if row is None or not hmac.compare_digest(row._mapping["key_hash"], hash_api_secret(m.group(2))):
            return None
        key = _key(row)
        if key.revoked or (key.expires_at is not None and key.expires_at <= _utcnow()):
            return None
        return key

    def api_keys(self, org: str | int | None = None) -> list[ApiKey]:
        q = select(api_keys).order_by(api_keys.c.pk)
        if org is not None:
            q = q.where(api_keys.c.org_pk == self.org(org).pk)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(q)]

    def revoke_api_key(self, key_id: str, *, org_pk: int | None = None) -> None:
        cond = [api_keys.c.key_id == key_id]
        if org_pk is not None:
            cond.append(api_keys.c.org_pk == org_pk)
        with self.catalog._write_conn() as conn:
            n = conn.execute(update(api_keys).where(and_(*cond)).values(revoked=True)).rowcount
        if not n:
            raise NotFound(f"API key {key_id!r} not found")

    # -- shares --------------------------------------------------------------
    def share(
        self, study_uid: str, to_org: str | int, *, days: float = 30, granted_by: str = "", owner_org: int | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Make a study visible to another organisation until it expires (an explicit grant).

        ``owner_org`` restricts the study to one owner (a site admin shares
        only their own studies); a study outside it is "not found".
        """
        target = self.org(to_org)
        if not 0 < days <= 3650:
            raise IdentityError("a share lasts more than 0 and at most 3650 days")
        q = select(Study.pk, Study.org_pk).where(Study.study_uid == study_uid)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None or (owner_org is not None and row[1] != owner_org):
            raise NotFound(f"study {study_uid} not found")
        if row[1] == target.pk:
            raise IdentityError("the study already belongs to that organisation")
        now = _utcnow()
        expires = now + timedelta(days=days)
        with self.catalog._write_conn() as conn:
            pk = conn.execute(
                insert(Share.__table__).values(
                    study_pk=row[0], org_pk=target.pk, granted_by=granted_by, reason=reason[:255], created_at=now,
                    expires_at=expires,
                )
            ).inserted_primary_key[0]
        return {"id": int(pk), "study_uid": study_uid, "org": target.code, "expires_at": expires.isoformat() + "Z"}

    def revoke_share(self, share_id: int, *, owner_org: int | None = None) -> None:
        with self.catalog._write_conn() as conn:
            row = conn.execute(
                select(Share.pk, Study.org_pk).join(Study, Share.study_pk == Study.pk).where(Share.pk == share_id)
            ).first()
            if row is None or (owner_org is not None and row[1] != owner_org):
                raise NotFound(f"share {share_id} not found")
            conn.execute(delete(Share.__table__).where(Share.pk == share_id))

    def shares(self, *, owner_org: int | None = None) -> list[dict[str, Any]]:
        q = (
            select(Share.pk, Study.study_uid, Share.org_pk, Share.granted_by, Share.expires_at, Study.org_pk)
            .join(Study, Share.study_pk == Study.pk)
            .order_by(Share.pk)
        )
        if owner_org is not None:
            q = q.where(Study.org_pk == owner_org)
        with self.engine.connect() as conn:
            return [
                {"id": pk, "study_uid": uid, "org_id": org, "granted_by": by, "expires_at": exp.isoformat() + "Z", "owner_org_id": own}
                for pk, uid, org, by, exp, own in conn.execute(q)
            ]

    def study_counts(self) -> dict[int, int]:
        """Studies per owning organisation."""
        with self.engine.connect() as conn:
            return {int(o): int(n) for o, n in conn.execute(select(Study.org_pk, func.count()).group_by(Study.org_pk))}


def _check_ae(ae_title: str) -> str:
    ae = (ae_title or "").strip()
    if not 0 < len(ae) <= 16 or "\\" in ae or not ae.isprintable():
        raise IdentityError(f"an AE title is 1-16 printable characters without backslash, got {ae_title!r}")
    return ae


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise IdentityError("a password needs at least 10 characters")
    if len(password) > 1024:
        raise IdentityError("a password has at most 1024 characters")
