"""DICOMweb (PS3.18): STOW-RS, QIDO-RS, WADO-RS under ``/dicomweb``."""

from fastapi import APIRouter

router = APIRouter()

__all__ = ["router"]
