"""Helpers for the archive-core tests: synthetic instances made from a real file."""

from __future__ import annotations

import io
from collections.abc import Callable

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.conftest import shared_data


@pytest.fixture
def make_instance() -> Callable[..., bytes]:
    """Build Part 10 bytes from pydicom's CT_small.dcm with attributes overridden.

    UIDs not given are generated, so each call makes a new instance.
    """
    template = shared_data("dicom", "pydicom", "CT_small.dcm")

    def make(**attrs: object) -> bytes:
        ds = pydicom.dcmread(template)
        ds.StudyInstanceUID = attrs.pop("StudyInstanceUID", None) or generate_uid()
        ds.SeriesInstanceUID = attrs.pop("SeriesInstanceUID", None) or generate_uid()
        sop = attrs.pop("SOPInstanceUID", None) or generate_uid()
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        for key, value in attrs.items():
            if value is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, value)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()

    return make
