"""Roles, permissions and the principal: who is asking, and what they may do.

One :class:`Principal` is built per request (HTTP) or association (DIMSE)
by :class:`radhub.identity.Authenticator`; its :attr:`Principal.scope` is
the tenant scope the catalog applies to every read, and :meth:`Principal.can`
answers the role checks. Nothing else decides access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from radhub.catalog import DEFAULT_ORG_PK, TenantScope

__all__ = ["ANONYMOUS", "KEYWORDS", "LICENCES", "ORG_KINDS", "PERMISSIONS", "Permission", "Principal", "Role", "TITLES"]


class Role(str, Enum):
    """A user's (or API key's) role in their organisation (PRODUCT.md B1)."""

    TECHNOLOGIST = "technologist"
    READER = "reader"
    REVIEWER = "reviewer"
    EXPERT = "expert"
    SITE_ADMIN = "site_admin"
    PLATFORM_ADMIN = "platform_admin"
    GATEWAY = "gateway"
    """A machine that sends studies (a modality gateway): store and query, for API keys."""
    MONITOR = "monitor"
    """A metrics scraper (Prometheus), for API keys."""


class Permission(str, Enum):
    """What a request needs; :data:`PERMISSIONS` maps roles to them."""

    READ = "study.read"
    """Query and retrieve studies (within the tenant scope)."""
    WRITE = "study.write"
    """Store objects (STOW-RS, upload, C-STORE)."""
    ORG_ADMIN = "org.admin"
    """Manage the users, API keys, AE titles and shares of one's own organisation."""
    PLATFORM_ADMIN = "platform.admin"
    """Create organisations; act on every organisation."""
    AUDIT = "audit.read"
    """Read the audit trail (one's own organisation's; every one for platform admins)."""
    GRADE = "study.grade"
    """Grade a study's image quality 1-3 (A8; reviewers and experts)."""
    METRICS = "metrics.read"
    """Scrape /metrics (archive-wide figures)."""
    USE = "use"
    """Any authenticated principal (one's own profile, statistics tools)."""


_R, _W, _O, _P, _A, _M, _U = (
    Permission.READ,
    Permission.WRITE,
    Permission.ORG_ADMIN,
    Permission.PLATFORM_ADMIN,
    Permission.AUDIT,
    Permission.METRICS,
    Permission.USE,
)
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TECHNOLOGIST: frozenset({_U, _R, _W}),
    Role.READER: frozenset({_U, _R}),
    Role.REVIEWER: frozenset({_U, _R, Permission.GRADE}),
    Role.EXPERT: frozenset({_U, _R, Permission.GRADE}),
    Role.SITE_ADMIN: frozenset({_U, _R, _W, _O, _A}),
    Role.PLATFORM_ADMIN: frozenset({_U, _R, _W, _O, _P, _A, _M}),
    Role.GATEWAY: frozenset({_U, _R, _W}),
    Role.MONITOR: frozenset({_U, _M}),
}
"""The one role -> permission table (docs/security.md shows it)."""

TITLES = ("resident", "attending", "associate_chief", "chief")
LICENCES = ("CT", "MR", "DR", "US", "MG", "NM", "PT")
KEYWORDS = ("neuro", "chest", "abdomen", "msk", "interventional", "ultrasound", "nuclear")
ORG_KINDS = ("requesting", "reading", "platform")


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user, an API key, a calling AE title, or the system itself.

    ``kind`` is ``user``, ``apikey``, ``ae``, ``system`` (authentication off,
    the CLI) or ``anonymous``.
    """

    kind: str
    name: str
    org_pk: int = DEFAULT_ORG_PK
    org_code: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    user_pk: int | None = None
    source: str = ""
    via: str = ""
    """How the credential came (``bearer``, ``cookie``, ``apikey``, ``oidc``, ``dimse``)."""
    csrf: str | None = None
    """The session's CSRF token (cookie sessions only)."""

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind == "system":
            return frozenset(Permission)
        out: set[Permission] = set()
        for r in self.roles:
            try:
                out |= PERMISSIONS[Role(r)]
            except ValueError:
                continue
        return frozenset(out)

    def can(self, permission: Permission) -> bool:
        """Whether this principal's roles grant ``permission``."""
        return permission in self.permissions

    @property
    def scope(self) -> TenantScope | None:
        """The tenant scope of this principal's catalog reads (``None``: everything)."""
        if self.kind == "system" or Permission.PLATFORM_ADMIN in self.permissions:
            return None if self.kind == "system" else TenantScope(None, self.org_pk)
        return TenantScope(frozenset({self.org_pk}), self.org_pk)

    def with_source(self, source: str) -> Principal:
        from dataclasses import replace

        return replace(self, source=source)


SYSTEM = Principal("system", "system")
"""The principal of the CLI and of a server with authentication off."""
ANONYMOUS = Principal("anonymous", "")
"""A caller not (yet) authenticated: audit records of refusals name no one."""
