"""The one ingest pipeline (A1, A2, A8): every entry point archives through :class:`Ingestor`."""

from radhub.ingest._checks import CHECK_CODES, run_checks
from radhub.ingest._importer import ImportItem, ImportSummary, iter_import_items
from radhub.ingest._pipeline import IngestBatch, Ingestor, IngestResult, IngestStatus
from radhub.ingest._upload_client import UploadFailedError, UploadReceipt, upload_file
from radhub.ingest._uploads import (
    CHECKSUM_ALGORITHMS,
    ChunkChecksum,
    ChunkWriter,
    ObjectChecksum,
    ResumableUpload,
    UploadChecksumError,
    UploadError,
    UploadExpiredError,
    UploadLockedError,
    UploadNotFoundError,
    UploadOffsetError,
    UploadRequestError,
    UploadState,
    UploadStore,
    UploadTooLargeError,
    decode_upload_metadata,
    encode_upload_metadata,
)
from radhub.ingest.errors import IngestError, RejectedError

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "CHECK_CODES",
    "ChunkChecksum",
    "ChunkWriter",
    "ImportItem",
    "ImportSummary",
    "IngestBatch",
    "IngestError",
    "IngestResult",
    "IngestStatus",
    "Ingestor",
    "ObjectChecksum",
    "RejectedError",
    "ResumableUpload",
    "UploadChecksumError",
    "UploadError",
    "UploadExpiredError",
    "UploadFailedError",
    "UploadLockedError",
    "UploadNotFoundError",
    "UploadOffsetError",
    "UploadReceipt",
    "UploadRequestError",
    "UploadState",
    "UploadStore",
    "UploadTooLargeError",
    "decode_upload_metadata",
    "encode_upload_metadata",
    "iter_import_items",
    "run_checks",
    "upload_file",
]
