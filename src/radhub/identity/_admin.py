"""Administration as a principal: the one path of the HTTP API and the CLI for identity changes.

A platform administrator (and the CLI, as :data:`SYSTEM`) acts on every
organisation; a site administrator only on their own -- any other
organisation is "not found". Every change is audited by the caller's
archive (``record``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from radhub.identity._directory import ApiKey, Directory, Organisation, User
from radhub.identity._policy import Permission, Principal
from radhub.identity.errors import IdentityError, NotFound

__all__ = ["Administration"]


class Administration:
    """Identity changes made by ``principal`` (see the module docstring)."""

    def __init__(self, directory: Directory, principal: Principal, record: Callable[..., None] | None = None) -> None:
        self.directory = directory
        self.principal = principal
        self._record = record or (lambda *a, **k: None)

    @property
    def platform(self) -> bool:
        return self.principal.can(Permission.PLATFORM_ADMIN)

    def _need(self, permission: Permission) -> None:
        if not self.principal.can(permission):
            raise IdentityError(f"{permission.value} is needed", status=403)

    @property
    def _owner(self) -> int | None:
        """The organisation whose objects the principal administers (``None``: every one)."""
        return None if self.platform else self.principal.org_pk

    def _org(self, ref: str | int | None) -> Organisation:
        """An organisation the principal administers (their own when ``ref`` is empty)."""
        self._need(Permission.ORG_ADMIN)
        return self.org(ref if ref not in (None, "") else self.principal.org_pk)  # type: ignore[arg-type]

    # -- organisations -----------------------------------------------------
    def create_org(self, name: str, *, kind: str, code: str | None = None, parent: str | None = None, ae_titles: tuple[str, ...] = ()) -> Organisation:
        self._need(Permission.PLATFORM_ADMIN)
        org = self.directory.create_org(name, kind=kind, code=code, parent=parent)
        for ae in ae_titles:
            self.directory.add_ae(org.pk, ae)
        self._record("org.create", object_type="organisation", object_ids=(org.code,), detail={"count": len(ae_titles)})
        return org

    def orgs(self) -> list[Organisation]:
        all_orgs = self.directory.orgs()
        return all_orgs if self.platform else [o for o in all_orgs if o.pk == self.principal.org_pk]

    def org(self, ref: str | int) -> Organisation:
        """An organisation the principal may see: any other is "not found"."""
        org = self.directory.org(ref)
        if self._owner is not None and org.pk != self._owner:
            raise NotFound(f"organisation {ref!r} not found")
        return org

    def add_ae(self, org: str | int | None, ae_title: str) -> None:
        o = self._org(org)
        self.directory.add_ae(o.pk, ae_title)
        self._record("org.ae.add", object_type="organisation", object_ids=(o.code, ae_title.strip()))

    def add_destination(self, org: str | int | None, ae_title: str, host: str, port: int) -> None:
        o = self._org(org)
        self.directory.add_destination(o.pk, ae_title, host, port)
        self._record("org.destination.add", object_type="organisation", object_ids=(o.code, ae_title.strip()))

    # -- users ---------------------------------------------------------------
    def create_user(self, org: str | int | None, username: str, password: str | None, **kw: Any) -> User:
        o = self._org(org)
        user = self.directory.create_user(o.pk, username, password, **kw)
        self._record("user.create", object_type="user", object_ids=(username,), detail={"reason": ",".join(user.roles)})
        return user

    def users(self, org: str | int | None = None) -> list[User]:
        if org in (None, "") and self.platform:
            self._need(Permission.ORG_ADMIN)
            return self.directory.users()
        return self.directory.users(self._org(org).pk)

    def _own_user(self, username: str) -> User:
        user = self.directory.user(username)
        self._org(user.org_pk)
        return user

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        self._own_user(username)
        user = self.directory.set_disabled(username, disabled)
        self._record("user.disable" if disabled else "user.enable", object_type="user", object_ids=(username,))
        return user

    def set_password(self, username: str, password: str) -> None:
        self._own_user(username)
        self.directory.set_password(username, password)
        self._record("user.password", object_type="user", object_ids=(username,))

    # -- API keys ------------------------------------------------------------
    def create_api_key(self, org: str | int | None, name: str, *, roles: Any = ("gateway",), days: int | None = None) -> tuple[ApiKey, str]:
        o = self._org(org)
        key, secret = self.directory.create_api_key(o.pk, name, roles=roles, created_by=self.principal.name, days=days)
        self._record("apikey.create", object_type="apikey", object_ids=(key.key_id,), detail={"reason": ",".join(key.roles)})
        return key, secret

    def api_keys(self, org: str | int | None = None) -> list[ApiKey]:
        if org in (None, "") and self.platform:
            return self.directory.api_keys()
        return self.directory.api_keys(self._org(org).pk)

    def revoke_api_key(self, key_id: str) -> None:
        self._need(Permission.ORG_ADMIN)
        self.directory.revoke_api_key(key_id, org_pk=self._owner)
        self._record("apikey.revoke", object_type="apikey", object_ids=(key_id,))

    # -- shares --------------------------------------------------------------
    def share(self, study_uid: str, to_org: str | int, *, days: float = 30, reason: str = "") -> dict[str, Any]:
        self._need(Permission.ORG_ADMIN)
        out = self.directory.share(
            study_uid, to_org, days=days, granted_by=self.principal.name, reason=reason,
            owner_org=self._owner,
        )
        self._record("study.share", object_type="share", object_ids=(str(out["id"]), out["org"]), study_uids=(study_uid,))
        return out

    def shares(self) -> list[dict[str, Any]]:
        self._need(Permission.ORG_ADMIN)
        return self.directory.shares(owner_org=self._owner)

    def revoke_share(self, share_id: int) -> None:
        self._need(Permission.ORG_ADMIN)
        self.directory.revoke_share(share_id, owner_org=self._owner)
        self._record("study.unshare", object_type="share", object_ids=(str(share_id),))
