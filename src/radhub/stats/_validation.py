"""Input checks shared by the statistics modules (messages name parameter and fix)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from radhub.stats.errors import (
    EmptyClassError,
    InvalidCountsError,
    InvalidInputError,
    InvalidProbabilityError,
    UnknownCategoryError,
)

__all__ = [
    "binary_labels",
    "check_alpha",
    "check_choice",
    "check_count",
    "check_prevalence",
    "float_array",
    "z_value",
]


def check_count(name: str, value: Any) -> int:
    """Return ``value`` as a non-negative int or raise :class:`InvalidCountsError`."""
    if isinstance(value, bool):
        raise InvalidCountsError(f"{name} must be a non-negative integer count, got a bool")
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidCountsError(
            f"{name} must be a non-negative integer count, got {type(value).__name__}"
        ) from exc
    if not math.isfinite(f) or f != int(f):
        raise InvalidCountsError(f"{name} must be a non-negative integer count, got {value!r}")
    if f < 0:
        raise InvalidCountsError(f"{name} must be a non-negative integer count, got {value!r}")
    return int(f)


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float strictly inside (0, 1)."""
    try:
        f = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidProbabilityError(
            f"{name} must be a number in (0, 1), got {type(value).__name__}"
        ) from exc
    if not (0.0 < f < 1.0):
        raise InvalidProbabilityError(
            f"{name} must be strictly between 0 and 1 (e.g. 0.096 for 9.6%), got {value!r}"
        )
    return f


def check_prevalence(value: Any) -> float:
    """Validate a prevalence (a proportion strictly inside (0, 1))."""
    return check_probability("prevalence", value)


def check_alpha(value: Any) -> float:
    """Validate a significance level (0.05 gives 95% intervals)."""
    return check_probability("alpha", value)


def z_value(alpha: float) -> float:
    """Two-sided standard normal quantile for level ``1 - alpha``."""
    from scipy.stats import norm

    return float(norm.ppf(1.0 - alpha / 2.0))


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Raise :class:`InvalidInputError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise InvalidInputError(f"{name} must be one of {options}; got {value!r}")
    return value


def float_array(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """A 1-d finite float array, or :class:`InvalidInputError` naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must contain numbers only") from exc
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise InvalidInputError(
            f"{name} has {bad} missing or infinite value(s); remove or impute them first"
        )
    return arr


def binary_labels(
    name: str, values: ArrayLike, positive: Any = 1, *, require_both: bool = True
) -> NDArray[np.bool_]:
    """Boolean array ``values == positive``; both classes must be present.

    ``positive`` is compared with the values as given and, when that finds
    nothing, with their string forms (so ``positive="1"`` matches 1 and 1.0).
    With ``require_both=False`` (test calls) all-positive or all-negative
    values are accepted.
    """
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise EmptyClassError(f"{name} is empty; give at least one positive and one negative case")
    missing = [v for v in arr if v is None or (isinstance(v, float) and math.isnan(v))]
    if missing:
        raise InvalidInputError(f"{name} has {len(missing)} missing value(s); remove them first")
    is_pos = np.array([v == positive for v in arr], dtype=bool)
    if not is_pos.any():
        as_text = {_label_text(positive)}
        is_pos = np.array([_label_text(v) in as_text for v in arr], dtype=bool)
    if not is_pos.any() and require_both:
        seen = sorted({_label_text(v) for v in arr})[:10]
        raise UnknownCategoryError(
            f"positive label {positive!r} does not occur in {name} (values seen: {seen}); "
            "pass positive=<the label of the condition-present class>"
        )
    if require_both and is_pos.all():
        raise EmptyClassError(
            f"{name} has no negative cases (every value equals {positive!r}); "
            "both classes are needed"
        )
    return is_pos


def _label_text(value: Any) -> str:
    """Canonical text of a label: 1, 1.0 and '1' all give '1'."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    if math.isfinite(f) and f == int(f):
        return str(int(f))
    return str(value).strip()
