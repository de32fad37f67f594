"""DIMSE networking (pynetdicom): radhub's SCP and a byte-exact C-STORE SCU.

:class:`DicomServer` serves C-ECHO, C-STORE (through the one ingest
pipeline), C-FIND (through :func:`radhub.catalog.search`), C-MOVE and C-GET
(through :class:`radhub.retrieve.Retriever`). ``docs/dimse.md`` lists the
statuses and configuration.
"""

from radhub.net._contexts import QueryModel
from radhub.net._find import FindQuery, parse_find_identifier
from radhub.net._retrieve import RetrieveQuery, parse_retrieve_identifier
from radhub.net._scp import DicomServer
from radhub.net._scu import StoreOutcome, store_files
from radhub.net._status import DimseStatus
from radhub.net.errors import AssociationError, IdentifierError, NetError, SubOperationError

__all__ = [
    "AssociationError",
    "DicomServer",
    "DimseStatus",
    "FindQuery",
    "IdentifierError",
    "NetError",
    "QueryModel",
    "RetrieveQuery",
    "StoreOutcome",
    "SubOperationError",
    "parse_find_identifier",
    "parse_retrieve_identifier",
    "store_files",
]
