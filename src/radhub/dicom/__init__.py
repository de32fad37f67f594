"""DICOM parsing, validation, JSON and rendering (no I/O policy)."""

from radhub.dicom._header import BULK_PLACEHOLDER, InstanceHeader, dataset_to_json, is_valid_uid, read_header
from radhub.dicom._json import json_text
from radhub.dicom._part10 import part10_prefix
from radhub.dicom._pixel import NATIVE_TRANSFER_SYNTAXES, PixelDataLocation, PixelSource, locate_pixel_data, open_binary
from radhub.dicom._render import (
    RENDER_MEDIA_TYPES,
    VOI_LUT_FUNCTIONS,
    DecodedFrame,
    check_render_options,
    decode_frame,
    encode_image,
    fit_viewport,
    render_frame,
)
from radhub.dicom.errors import DicomError, InvalidDicomError, RenderError

__all__ = [
    "BULK_PLACEHOLDER",
    "DecodedFrame",
    "DicomError",
    "InstanceHeader",
    "InvalidDicomError",
    "NATIVE_TRANSFER_SYNTAXES",
    "PixelDataLocation",
    "PixelSource",
    "RENDER_MEDIA_TYPES",
    "RenderError",
    "VOI_LUT_FUNCTIONS",
    "check_render_options",
    "dataset_to_json",
    "decode_frame",
    "encode_image",
    "fit_viewport",
    "is_valid_uid",
    "json_text",
    "locate_pixel_data",
    "open_binary",
    "part10_prefix",
    "read_header",
    "render_frame",
]
