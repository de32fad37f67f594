"""Users, organisations, credentials, and the one principal + policy every access goes through.

- :class:`Directory`: organisations (with AE titles and C-MOVE destinations),
  users (argon2 passwords, roles, title, licences, subspecialty keywords),
  API keys (stored hashed), study shares.
- :class:`Authenticator`: OAuth2 password flow tokens, refresh, browser
  sessions, API keys, OIDC access tokens, login throttling.
- :class:`Principal` and :data:`PERMISSIONS`: who is asking, what their
  roles allow, and the tenant scope the catalog applies (``Principal.scope``).
"""

from radhub.identity._admin import Administration
from radhub.identity._auth import Authenticator, LoginThrottle
from radhub.identity._context import current_principal, principal_context
from radhub.identity._directory import ApiKey, Directory, Organisation, User
from radhub.identity._policy import (
    ANONYMOUS,
    KEYWORDS,
    LICENCES,
    ORG_KINDS,
    PERMISSIONS,
    SYSTEM,
    TITLES,
    Permission,
    Principal,
    Role,
)
from radhub.identity.errors import AuthenticationError, IdentityError, NotFound, Throttled

__all__ = [
    "ANONYMOUS",
    "Administration",
    "ApiKey",
    "AuthenticationError",
    "Authenticator",
    "Directory",
    "IdentityError",
    "KEYWORDS",
    "LICENCES",
    "LoginThrottle",
    "NotFound",
    "ORG_KINDS",
    "Organisation",
    "PERMISSIONS",
    "Permission",
    "Principal",
    "Role",
    "SYSTEM",
    "TITLES",
    "Throttled",
    "User",
    "current_principal",
    "principal_context",
]
