"""The catalog: patients, studies, series and instances in SQLite or PostgreSQL.

One query engine serves QIDO-RS (:func:`search_json`) and C-FIND (:func:`search`).
"""

from radhub.catalog._catalog import (
    QUALITY_GRADES,
    Catalog,
    ConflictRecord,
    InstanceRecord,
    RegisterOutcome,
    StoredInstance,
)
from radhub.catalog._query import (
    DEFAULT_FIELDS,
    QueryJsonResult,
    QueryLevel,
    QueryResult,
    normalise_time,
    resolve_keyword,
    search,
    search_json,
)
from radhub.catalog._tenancy import DEFAULT_ORG_PK, TenantScope, current_scope, tenant_scope
from radhub.catalog.errors import CatalogError, NotFoundError, QueryError

__all__ = [
    "Catalog",
    "CatalogError",
    "ConflictRecord",
    "DEFAULT_FIELDS",
    "DEFAULT_ORG_PK",
    "InstanceRecord",
    "NotFoundError",
    "QUALITY_GRADES",
    "QueryError",
    "QueryJsonResult",
    "QueryLevel",
    "QueryResult",
    "RegisterOutcome",
    "StoredInstance",
    "TenantScope",
    "current_scope",
    "normalise_time",
    "resolve_keyword",
    "search",
    "search_json",
    "tenant_scope",
]
