"""The principal of the request or association being served (a context variable).

:func:`principal_context` sets both the principal and its tenant scope
(:func:`radhub.catalog.tenant_scope`), so that catalog reads, the retrieve
path and ingest see the same caller; audit records name it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from radhub.catalog import tenant_scope
from radhub.identity._policy import SYSTEM, Principal

__all__ = ["current_principal", "principal_context"]

_principal: ContextVar[Principal] = ContextVar("radhub_principal", default=SYSTEM)


def current_principal() -> Principal:
    """Who is being served (:data:`SYSTEM` outside any request)."""
    return _principal.get()


@contextmanager
def principal_context(principal: Principal) -> Iterator[Principal]:
    """Serve the code inside the block as ``principal``, with its tenant scope."""
    token = _principal.set(principal)
    try:
        with tenant_scope(principal.scope):
            yield principal
    finally:
        _principal.reset(token)
