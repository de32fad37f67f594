"""Catalog errors.

CatalogError
 +-- QueryError          a query key or value that cannot be matched (message says which)
 +-- NotFoundError       a study, series or instance that is not in the catalog
"""


class CatalogError(Exception):
    """Base class of catalog errors."""


class QueryError(CatalogError, ValueError):
    """A query parameter that is not supported or whose value is malformed."""


class NotFoundError(CatalogError, LookupError):
    """The requested study, series or instance is not in the catalog."""
