"""HTTP API (FastAPI): DICOMweb, resumable upload, radhub's JSON API."""

from radhub.api._app import create_app

__all__ = ["create_app"]
