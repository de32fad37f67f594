"""Shared machinery of result objects: JSON conversion and text tables."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Result", "fmt", "fmt_ci", "jsonable", "text_table"]


def jsonable(value: Any) -> Any:
    """Convert ``value`` into plain JSON types.

    numpy scalars become ``float``/``int``, tuples and arrays become lists,
    dates become ISO strings and non-finite floats (undefined statistics)
    become ``None`` so that the output is strict JSON.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Result):
            return value.to_dict()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="D"))
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


class Result:
    """Mixin of the frozen result dataclasses: ``to_dict()`` and ``summary()``.

    Fields whose metadata has ``{"json": False}`` are left out of ``to_dict()``
    (e.g. raw arrays kept only for plotting).
    """

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready plain types (CIs as ``[low, high]``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata.get("json", True):
                out[f.name] = jsonable(getattr(self, f.name))
        return out

    def summary(self) -> str:  # pragma: no cover - every result overrides this
        """Return a readable text table."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary()


def fmt(value: float | None, digits: int = 3) -> str:
    """Format a number for a text table; undefined values show as ``-``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.{digits}f}"


def fmt_ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    """Format a confidence interval as ``low-high``."""
    if ci is None:
        return "-"
    low, high = ci
    return f"{fmt(low, digits)} to {fmt(high, digits)}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """Render rows as an aligned plain-text table (first column left-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)
