"""Every public package exports a sorted __all__ whose names exist (httpx's test)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "radhub.archive",
    "radhub.catalog",
    "radhub.config",
    "radhub.dicom",
    "radhub.ingest",
    "radhub.net",
    "radhub.retrieve",
    "radhub.store",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name):
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert exported == sorted(exported, key=str), f"{name}.__all__ is not sorted"
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.{attr} is listed in __all__ but missing"
