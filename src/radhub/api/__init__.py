"""HTTP API (FastAPI): DICOMweb, resumable upload, radhub's JSON API."""

from radhub.api._app import create_app, warm_up_routes

__all__ = ["create_app", "warm_up_routes"]
