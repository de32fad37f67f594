"""Shared fixtures: test data from ../shared/data by name, free ports, servers."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
DICOM_DIR = SHARED_DATA / "dicom"


def shared_data(*parts: str) -> Path:
    """Path of a file or folder in ../shared/data; skips the test when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data {path} is not available")
    return path


def dicom_manifest() -> list[dict[str, str]]:
    """Rows of ../shared/data/dicom/manifest.csv (empty when the corpus is absent)."""
    manifest = DICOM_DIR / "manifest.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_file():
    """Resolve test data by path relative to ../shared/data."""
    return shared_data
