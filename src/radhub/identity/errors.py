"""Errors of radhub.identity."""

from __future__ import annotations

__all__ = ["AuthenticationError", "IdentityError", "NotFound", "Throttled"]


class IdentityError(ValueError):
    """Bad input to an identity operation (unknown role, duplicate name ...): HTTP 400/409, CLI exit 2."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NotFound(IdentityError, LookupError):
    """No such organisation, user, key or study (within what the caller may see): HTTP 404."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=404)


class AuthenticationError(Exception):
    """Credentials missing, wrong, expired or revoked: HTTP 401 (the message names no account state)."""


class Throttled(AuthenticationError):
    """Too many failed logins for this account or address: HTTP 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after
