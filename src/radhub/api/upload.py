"""Resumable upload (tus 1.0 with the checksum extension) under ``/upload``."""

from fastapi import APIRouter

router = APIRouter()
