"""Fixtures of the radiomics tests: shared test data by name, executors, small synthetic tables."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, shared_data

CASES = ("brain1", "brain2", "breast1")
__all__ = [
    "CASES",
    "SHARED_DATA",
    "baseline_configurations",
    "baseline_values",
    "noise_table",
    "pyradiomics_case",
]


def pyradiomics_case(*parts: str) -> Path:
    """A file of ../shared/data/pyradiomics-cases (pyradiomics' own test images and baselines)."""
    return shared_data("pyradiomics-cases", *parts)


def baseline_configurations() -> list[dict]:
    """Rows of baseline_settings.csv (configuration, cases, classes, settings dict); shape2D left out.

    shape2D needs single-slice masks that are not distributed (see the data README).
    """
    path = pyradiomics_case("baseline_settings.csv")
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["configuration"] == "shape2D":
                continue
            out.append(
                {
                    "configuration": row["configuration"],
                    "cases": row["cases"].split(),
                    "classes": row["feature_classes"].split(),
                    "settings": ast.literal_eval(row["settings"]),
                }
            )
    return out


def baseline_values(case: str, configuration: str, feature_class: str) -> dict[str, float]:
    """Expected feature values of one baseline column (features only, no diagnostics)."""
    column = case if configuration == "default" else f"{case}_{configuration}"
    table = pd.read_csv(
        pyradiomics_case("baseline", f"baseline_{feature_class}.csv"), index_col=0, dtype=str
    )
    if column not in table.columns:
        return {}
    values = table[column]
    return {
        k: float(v) for k, v in values.items() if k.startswith("original_") and isinstance(v, str)
    }


@pytest.fixture(scope="session")
def mias_root() -> Path:
    """The mini-MIAS folder (Info.txt + 115 PNGs)."""
    return shared_data("mias")


@pytest.fixture(scope="module")
def dask_executor():
    """A local Dask cluster of 2 single-threaded worker processes."""
    from radhub.radiomics import DaskExecutor

    ex = DaskExecutor(workers=2)
    yield ex
    ex.close()


def noise_table(n: int = 120, p: int = 30, seed: int = 0, signal: float = 0.0) -> pd.DataFrame:
    """Random features and random labels; with ``signal`` > 0 feature f0 shifts with the label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, p))
    X[:, 0] += signal * y
    table = pd.DataFrame(X, columns=[f"f{i}" for i in range(p)])
    table.insert(0, "id", [f"r{i:03d}" for i in range(n)])
    table.insert(1, "label", np.where(y == 1, "M", "B"))
    return table
