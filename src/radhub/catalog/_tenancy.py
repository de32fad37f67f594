"""Tenancy in the query engine: which organisations' studies a request may see.

The identity layer turns whoever is asking into a :class:`TenantScope` and
sets it for the request (HTTP middleware, DIMSE handler) with
:func:`tenant_scope`; every catalog read -- the query engine, ``locate``,
``instances``, ``metadata``, checks -- applies :func:`study_condition` to
the ``studies`` row, so no endpoint filters by itself. A study is visible
when its owning organisation is in the scope, or through a share to one of
the scope's organisations that has not expired. ``None`` (no scope set) is
the library's and the CLI's unrestricted view; the server with
authentication on always sets one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_

__all__ = ["DEFAULT_ORG_PK", "TenantScope", "current_scope", "study_condition", "study_sql", "tenant_scope"]

DEFAULT_ORG_PK = 1
"""The organisation created by the migration that introduced tenancy (``default``)."""


@dataclass(frozen=True)
class TenantScope:
    """The organisations whose studies are visible, and the one new objects are filed under.

    ``orgs`` ``None`` sees every organisation (platform administrators);
    an empty set sees nothing. ``write_org`` owns what the request stores.
    """

    orgs: frozenset[int] | None
    write_org: int = DEFAULT_ORG_PK
    shares: bool = True
    """Whether studies shared with ``orgs`` are visible too."""

    def sees(self, org_pk: int) -> bool:
        """Whether a study owned by ``org_pk`` is visible without a share."""
        return self.orgs is None or org_pk in self.orgs


_scope: ContextVar[TenantScope | None] = ContextVar("radhub_tenant_scope", default=None)


def current_scope() -> TenantScope | None:
    """The scope of the request being served (``None``: unrestricted)."""
    return _scope.get()


@contextmanager
def tenant_scope(scope: TenantScope | None) -> Iterator[TenantScope | None]:
    """Set ``scope`` for the code run inside the ``with`` block (this thread or task)."""
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def study_condition(study: Any, scope: TenantScope | None = None) -> ColumnElement[bool] | None:
    """The WHERE condition on the ``studies`` entity/alias ``study`` for ``scope`` (``None``: no condition)."""
    from radhub.catalog._models import Share

    scope = scope if scope is not None else current_scope()
    if scope is None or scope.orgs is None:
        return None
    orgs = sorted(scope.orgs)
    if not orgs:
        return false()
    own = study.org_pk.in_(orgs)
    if not scope.shares:
        return own
    shared = exists().where(Share.study_pk == study.pk, Share.org_pk.in_(orgs), Share.expires_at > _now())
    return or_(own, shared)


def study_sql(alias: str, mark: str, scope: TenantScope | None = None) -> tuple[str, list[Any]]:
    """:func:`study_condition` as driver SQL (`` AND ...``) and its parameters, for the hot paths."""
    scope = scope if scope is not None else current_scope()
    if scope is None or scope.orgs is None:
        return "", []
    orgs = sorted(scope.orgs)
    if not orgs:
        return " AND 1=0", []
    marks = ",".join([mark] * len(orgs))
    if not scope.shares:
        return f" AND {alias}.org_pk IN ({marks})", list(orgs)
    sql = (
        f" AND ({alias}.org_pk IN ({marks}) OR EXISTS (SELECT 1 FROM shares sh WHERE sh.study_pk = {alias}.pk"
        f" AND sh.org_pk IN ({marks}) AND sh.expires_at > {mark}))"
    )
    return sql, [*orgs, *orgs, _now_param(mark)]


def _now_param(mark: str) -> Any:
    now = _now()
    # SQLite stores SQLAlchemy DateTimes as text with microseconds
    return now if mark == "%s" else now.strftime("%Y-%m-%d %H:%M:%S.%f")
