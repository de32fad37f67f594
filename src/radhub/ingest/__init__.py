"""The one ingest pipeline (A1, A2, A8): every entry point archives through :class:`Ingestor`."""

from radhub.ingest._checks import CHECK_CODES, run_checks
from radhub.ingest._importer import ImportItem, ImportSummary, iter_import_items
from radhub.ingest._pipeline import IngestResult, Ingestor, IngestStatus
from radhub.ingest.errors import IngestError, RejectedError

__all__ = [
    "CHECK_CODES",
    "ImportItem",
    "ImportSummary",
    "IngestError",
    "IngestResult",
    "IngestStatus",
    "Ingestor",
    "RejectedError",
    "iter_import_items",
    "run_checks",
]
