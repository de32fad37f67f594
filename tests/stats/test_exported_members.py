"""The public API is what radhub.stats.__all__ lists (sorted), and stats imports no other radhub package."""

from __future__ import annotations

import ast
from pathlib import Path

import radhub.stats

STATS_SRC = Path(radhub.stats.__file__).parent


def test_all_is_sorted_and_importable() -> None:
    assert radhub.stats.__all__ == sorted(radhub.stats.__all__)
    for name in radhub.stats.__all__:
        assert hasattr(radhub.stats, name), name


def test_public_functions_are_documented() -> None:
    for name in radhub.stats.__all__:
        assert getattr(radhub.stats, name).__doc__, f"{name} has no docstring"


def test_stats_depends_on_nothing_else_of_radhub() -> None:
    # ARCHITECTURE.md: stats depends on nothing of radhub's
    for path in STATS_SRC.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for mod in names:
                if mod.startswith("radhub"):
                    assert mod.startswith("radhub.stats"), f"{path.name} imports {mod}"
