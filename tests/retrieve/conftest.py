"""Helpers for the frame and rendering tests: the shared DICOM corpus, pydicom as the oracle."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from tests.conftest import DICOM_DIR, dicom_manifest, shared_data

MANIFEST = dicom_manifest()
ROWS = {row["path"]: row for row in MANIFEST}


def rows_where(**conditions: str) -> list[dict[str, str]]:
    """Manifest rows whose columns equal the given values."""
    return [row for row in MANIFEST if all(row[key] == value for key, value in conditions.items())]


def row_params(rows: list[dict[str, str]]) -> list[object]:
    """pytest parameters (one per row, id = path)."""
    return [pytest.param(row, id=row["path"]) for row in rows]


def corpus(path: str) -> Path:
    """Absolute path of a corpus file (skips when the corpus is absent)."""
    return shared_data("dicom", *path.split("/"))


def read_dataset(path: str | Path) -> Dataset:
    """The full dataset as pydicom reads it (forced: some corpus files have no preamble)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)


def oracle_frame(path: str | Path, index: int, *, raw: bool = False) -> np.ndarray:
    """Frame ``index`` decoded by pydicom straight from the full dataset (the reference)."""
    ds = read_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(ds, index=index, raw=raw)


def open_image(data: bytes) -> Image.Image:
    """Decode PNG/JPEG bytes with Pillow (fails the test if they are not an image)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> np.ndarray:
    """The pixel values of encoded PNG/JPEG bytes."""
    return np.asarray(open_image(data))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared DICOM corpus folder (skips when absent)."""
    return shared_data("dicom")


__all__ = [
    "DICOM_DIR",
    "MANIFEST",
    "ROWS",
    "corpus",
    "open_image",
    "oracle_frame",
    "pixels",
    "read_dataset",
    "row_params",
    "rows_where",
]
