"""Fixtures of the stats tests: shared data checked against reference/hashes.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from tests.conftest import shared_data

matplotlib.use("Agg")

REFERENCE = Path(__file__).parent / "reference"


def load_reference(name: str = "published.json") -> dict[str, Any]:
    """Reference values with their sources (tests/stats/reference)."""
    return json.loads((REFERENCE / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def published() -> dict[str, Any]:
    return load_reference()


@pytest.fixture(scope="session")
def stats_data():
    """Resolve ../shared/data/<name>, checking its sha256 against reference/hashes.json."""
    hashes = load_reference("hashes.json")

    def resolve(name: str) -> Path:
        path = shared_data(*name.split("/"))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == hashes[name], f"{name} changed (sha256 {digest}); update the references"
        return path

    return resolve
