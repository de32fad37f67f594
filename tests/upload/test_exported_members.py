"""The public names of the upload feature are exported and documented."""

from __future__ import annotations

import radhub.ingest

UPLOAD_NAMES = {
    "CHECKSUM_ALGORITHMS",
    "ChunkChecksum",
    "ChunkWriter",
    "ObjectChecksum",
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
    "upload_file",
}


def test_ingest_exports_the_upload_api():
    exported = set(radhub.ingest.__all__)
    assert UPLOAD_NAMES <= exported
    assert radhub.ingest.__all__ == sorted(radhub.ingest.__all__)
    for name in UPLOAD_NAMES:
        obj = getattr(radhub.ingest, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_upload_errors_are_ingest_errors():
    for name in UPLOAD_NAMES:
        obj = getattr(radhub.ingest, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, radhub.ingest.UploadError)
            assert issubclass(obj, radhub.ingest.IngestError)


def test_router_is_importable_where_create_app_mounts_it():
    from fastapi import APIRouter

    from radhub.api.upload import router

    assert isinstance(router, APIRouter)
    paths = {route.path for route in router.routes}
    assert {"", "/{upload_id}", "/{upload_id}/status"} <= paths
