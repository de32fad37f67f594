"""Score rules (PRODUCT D5): points for features beyond thresholds, a cutoff on the sum.

A rule file is YAML::

    name: example rule
    positive_label: suspicious        # optional
    cutoff: 2                         # total points >= cutoff is positive
    items:
      - feature: original_shape2D_Perimeter
        direction: above              # above (>=) or below (<=), or one of >=, >, <=, <
        threshold: 40.0
        points: 1
      - feature: original_firstorder_Mean
        direction: below
        threshold: 120
        points: 2
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from radhub.radiomics.errors import RuleError

__all__ = ["RuleItem", "ScoreRule", "apply_rule", "load_rule"]

_DIRECTIONS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "above": (">=", operator.ge),
    ">=": (">=", operator.ge),
    ">": (">", operator.gt),
    "below": ("<=", operator.le),
    "<=": ("<=", operator.le),
    "<": ("<", operator.lt),
}


@dataclass(frozen=True)
class RuleItem:
    """One line of a rule: ``points`` when ``feature <direction> threshold``."""

    feature: str
    direction: str
    threshold: float
    points: float

    def __str__(self) -> str:
        return f"{self.feature} {_DIRECTIONS[self.direction][0]} {self.threshold:g}: {self.points:g} points"


@dataclass(frozen=True)
class ScoreRule:
    """A points-based rule with a cutoff on the total."""

    name: str
    items: tuple[RuleItem, ...]
    cutoff: float
    positive_label: str = "positive"

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form."""
        return {
            "name": self.name,
            "cutoff": self.cutoff,
            "positive_label": self.positive_label,
            "items": [
                {
                    "feature": i.feature,
                    "direction": i.direction,
                    "threshold": i.threshold,
                    "points": i.points,
                }
                for i in self.items
            ],
        }


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise RuleError(f"{what} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RuleError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise RuleError(f"{what} must be finite, got {value!r}")
    return out


def load_rule(source: str | Path | Mapping[str, Any]) -> ScoreRule:
    """Read and validate a rule from a YAML file or a mapping.

    Raises
    ------
    RuleError
        Missing file, YAML errors, missing keys, unknown direction, non-numeric
        threshold/points/cutoff, or no items.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        where = "rule"
    else:
        path = Path(source)
        where = path.name
        if not path.is_file():
            raise RuleError(f"rule file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RuleError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleError(f"{where}: a rule is a mapping with 'items' and 'cutoff'")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise RuleError(
            f"{where}: 'items' must be a non-empty list of feature/direction/threshold/points"
        )
    if "cutoff" not in data:
        raise RuleError(f"{where}: 'cutoff' (total points called positive) is missing")
    items = []
    for n, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, dict):
            raise RuleError(f"{where}: item {n} must be a mapping")
        missing = {"feature", "direction", "threshold", "points"} - set(raw)
        if missing:
            raise RuleError(f"{where}: item {n} lacks {sorted(missing)}")
        direction = str(raw["direction"]).strip().lower()
        if direction not in _DIRECTIONS:
            raise RuleError(
                f"{where}: item {n} direction {raw['direction']!r} is not one of {sorted(_DIRECTIONS)}"
            )
        items.append(
            RuleItem(
                feature=str(raw["feature"]),
                direction=direction,
                threshold=_number(raw["threshold"], f"{where}: item {n} threshold"),
                points=_number(raw["points"], f"{where}: item {n} points"),
            )
        )
    return ScoreRule(
        name=str(data.get("name", where)),
        items=tuple(items),
        cutoff=_number(data["cutoff"], f"{where}: cutoff"),
        positive_label=str(data.get("positive_label", "positive")),
    )


def apply_rule(rule: ScoreRule, table: pd.DataFrame, *, id_column: str = "id") -> pd.DataFrame:
    """Score every row: one points column per item, ``total`` and ``positive`` (total >= cutoff).

    A row with a missing (NaN) value of a used feature gets NaN points for
    that item, NaN total and ``positive`` None: it is not scored rather than
    scored as if the condition were false.

    Raises
    ------
    RuleError
        The table lacks a feature the rule uses.
    """
    missing = sorted({i.feature for i in rule.items} - set(table.columns))
    if missing:
        raise RuleError(f"the table lacks features used by rule {rule.name!r}: {missing}")
    out = pd.DataFrame(
        {
            "id": table[id_column].astype(str).to_numpy()
            if id_column in table
            else np.arange(len(table))
        }
    )
    totals = np.zeros(len(table))
    for n, item in enumerate(rule.items, start=1):
        values = pd.to_numeric(table[item.feature], errors="coerce").to_numpy(float)
        hit = _DIRECTIONS[item.direction][1](values, item.threshold)
        points = np.where(np.isnan(values), np.nan, np.where(hit, item.points, 0.0))
        out[f"points_{n}_{item.feature}"] = points
        totals = totals + points
    out["total"] = totals
    out["positive"] = [None if np.isnan(t) else bool(t >= rule.cutoff) for t in totals]
    return out
