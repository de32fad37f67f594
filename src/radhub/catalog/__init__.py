"""The catalog: patients, studies, series and instances in SQLite or PostgreSQL.

One query engine (:func:`search`) serves QIDO-RS and C-FIND.
"""

from radhub.catalog._catalog import (
    Catalog,
    ConflictRecord,
    InstanceRecord,
    RegisterOutcome,
    StoredInstance,
)
from radhub.catalog._query import (
    DEFAULT_FIELDS,
    QueryLevel,
    QueryResult,
    normalise_time,
    resolve_keyword,
    search,
)
from radhub.catalog.errors import CatalogError, NotFoundError, QueryError

__all__ = [
    "Catalog",
    "CatalogError",
    "ConflictRecord",
    "DEFAULT_FIELDS",
    "InstanceRecord",
    "NotFoundError",
    "QueryError",
    "QueryLevel",
    "QueryResult",
    "RegisterOutcome",
    "StoredInstance",
    "normalise_time",
    "resolve_keyword",
    "search",
]
