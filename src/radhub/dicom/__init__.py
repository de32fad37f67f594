"""DICOM parsing, validation, JSON and rendering (no I/O policy)."""

from radhub.dicom._header import BULK_PLACEHOLDER, InstanceHeader, dataset_to_json, is_valid_uid, read_header
from radhub.dicom._part10 import part10_prefix
from radhub.dicom.errors import DicomError, InvalidDicomError, RenderError

__all__ = [
    "BULK_PLACEHOLDER",
    "DicomError",
    "InstanceHeader",
    "InvalidDicomError",
    "RenderError",
    "dataset_to_json",
    "is_valid_uid",
    "part10_prefix",
    "read_header",
]
