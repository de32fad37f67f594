"""Distributions of categories across groups (METHODS.md section 4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2 as chi2_dist

from radhub.stats._results import Result, text_table
from radhub.stats.errors import InvalidCountsError, InvalidInputError, UnknownCategoryError

__all__ = ["DistributionResult", "GroupComparison", "chi2_distribution"]


@dataclass(frozen=True)
class GroupComparison(Result):
    """One group against the control column.

    ``relative_difference[i] = share_group[i] / share_control[i] - 1`` (so
    -0.4 reads "category i assigned 40% less often than in the control");
    ``chi2``/``p_value`` test the 2-column table (group, control).
    """

    group: str
    share: list[float]
    relative_difference: list[float]
    chi2: float
    df: int
    p_value: float

    def summary(self) -> str:  # pragma: no cover - shown through DistributionResult
        """One line."""
        return f"{self.group}: chi2={self.chi2:.3f}, p={self.p_value:.4g}"


@dataclass(frozen=True)
class DistributionResult(Result):
    """Pearson chi-square test of an r x c table (categories x groups) and its cell diagnostics.

    ``contributions`` are ``(O - E)^2 / E``; ``pearson_residuals``
    ``(O - E) / sqrt(E)``; ``standardized_residuals`` the adjusted residuals
    ``(O - E) / sqrt(E (1 - row/N) (1 - col/N))`` (Agresti 2013, 2.4.5), about
    N(0, 1) under independence (|r| > 1.96 flags a cell).
    """

    categories: list[str]
    groups: list[str]
    observed: NDArray[np.float64]
    expected: NDArray[np.float64]
    chi2: float
    df: int
    p_value: float
    cramers_v: float
    contributions: NDArray[np.float64]
    pearson_residuals: NDArray[np.float64]
    standardized_residuals: NDArray[np.float64]
    shares: NDArray[np.float64]
    control: str | None = None
    comparisons: tuple[GroupComparison, ...] = ()

    def summary(self) -> str:
        """Shares per group, the test, cell residuals and the comparisons against control."""
        rows = [
            [c] + [f"{int(o)} ({100 * s:.1f}%)" for o, s in zip(self.observed[i], self.shares[i])]
            for i, c in enumerate(self.categories)
        ]
        parts = [text_table(["Category"] + self.groups, rows, title="Counts (share of group)")]
        parts.append(
            f"Pearson chi-square = {self.chi2:.3f}, df = {self.df}, "
            f"p = {self.p_value:.4g}, Cramer's V = {self.cramers_v:.3f}"
        )
        rows = [
            [c]
            + [
                f"{self.standardized_residuals[i, j]:+.2f} ({self.contributions[i, j]:.1f})"
                for j in range(len(self.groups))
            ]
            for i, c in enumerate(self.categories)
        ]
        parts.append(
            text_table(
                ["Category"] + self.groups,
                rows,
                title="Adjusted residual (chi-square contribution)",
            )
        )
        if self.comparisons:
            rows = [
                [c] + [_pct(cmp.relative_difference[i]) for cmp in self.comparisons]
                for i, c in enumerate(self.categories)
            ]
            rows.append(["p (vs control)"] + [f"{cmp.p_value:.4g}" for cmp in self.comparisons])
            parts.append(
                text_table(
                    ["Category"] + [c.group for c in self.comparisons],
                    rows,
                    title=f"Relative share difference vs control '{self.control}'",
                )
            )
        return "\n\n".join(parts)


def _pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:+.1f}%"


def _pearson(obs: NDArray[np.float64]) -> tuple[NDArray[np.float64], float, int, float]:
    n = obs.sum()
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
    stat = float(np.sum((obs - expected) ** 2 / expected))
    df = (obs.shape[0] - 1) * (obs.shape[1] - 1)
    return expected, stat, df, float(chi2_dist.sf(stat, df))


def chi2_distribution(
    table: ArrayLike,
    control: str | int | None = None,
    *,
    categories: Sequence[Any] | None = None,
    groups: Sequence[Any] | None = None,
) -> DistributionResult:
    """Pearson chi-square on a categories x groups table with cell diagnostics.

    Parameters
    ----------
    table : array-like (r, c)
        Counts; rows are categories (e.g. CT-0..CT-4), columns groups (e.g.
        "no AI", "AI-A" ...).
    control : str or int, optional
        Name (or index) of the control column. Each other group then gets
        its relative share difference per category and a chi-square test of
        its own distribution against the control.
    categories, groups : sequence, optional
        Row and column names (default "1", "2", ... / "A", "B", ...).

    Returns
    -------
    DistributionResult

    Raises
    ------
    InvalidCountsError
        Negative/non-integer counts, or a row or column that sums to zero.
    UnknownCategoryError
        ``control`` is not a column.
    """
    obs = np.asarray(table, dtype=float)
    if obs.ndim != 2 or obs.shape[0] < 2 or obs.shape[1] < 2:
        raise InvalidInputError(f"table must be at least 2 x 2, got shape {obs.shape}")
    if not np.all(np.isfinite(obs)) or np.any(obs < 0) or np.any(obs != np.round(obs)):
        raise InvalidCountsError("table must hold non-negative integer counts")
    cats = (
        [str(c) for c in categories]
        if categories is not None
        else [str(i + 1) for i in range(obs.shape[0])]
    )
    grps = (
        [str(g) for g in groups]
        if groups is not None
        else [chr(ord("A") + j) if j < 26 else f"G{j + 1}" for j in range(obs.shape[1])]
    )
    if len(cats) != obs.shape[0] or len(grps) != obs.shape[1]:
        raise InvalidInputError(
            f"got {len(cats)} category and {len(grps)} group names for a table of shape {obs.shape}"
        )
    empty_rows = [cats[i] for i in np.nonzero(obs.sum(axis=1) == 0)[0]]
    empty_cols = [grps[j] for j in np.nonzero(obs.sum(axis=0) == 0)[0]]
    if empty_rows or empty_cols:
        raise InvalidCountsError(
            f"categories {empty_rows} / groups {empty_cols} have no observations; "
            "drop them (expected counts would be 0)"
        )
    expected, stat, df, p = _pearson(obs)
    n = obs.sum()
    row_p = obs.sum(axis=1, keepdims=True) / n
    col_p = obs.sum(axis=0, keepdims=True) / n
    shares = obs / obs.sum(axis=0, keepdims=True)
    control_name = None
    comparisons: list[GroupComparison] = []
    if control is not None:
        if isinstance(control, int) and not isinstance(control, bool) and str(control) not in grps:
            if not 0 <= control < len(grps):
                raise UnknownCategoryError(f"control index {control} is outside 0..{len(grps) - 1}")
            j0 = control
        elif str(control) in grps:
            j0 = grps.index(str(control))
        else:
            raise UnknownCategoryError(f"control {control!r} is not a column; columns are {grps}")
        control_name = grps[j0]
        for j, g in enumerate(grps):
            if j == j0:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = shares[:, j] / shares[:, j0] - 1.0
            sub = obs[:, [j, j0]]
            keep = sub.sum(axis=1) > 0
            _, s2, d2, p2 = _pearson(sub[keep]) if keep.sum() >= 2 else (None, 0.0, 0, 1.0)
            comparisons.append(
                GroupComparison(
                    group=g,
                    share=[float(x) for x in shares[:, j]],
                    relative_difference=[float(x) for x in rel],
                    chi2=s2,
                    df=d2,
                    p_value=p2,
                )
            )
    return DistributionResult(
        categories=cats,
        groups=grps,
        observed=obs,
        expected=expected,
        chi2=stat,
        df=df,
        p_value=p,
        cramers_v=math.sqrt(stat / (n * (min(obs.shape) - 1))),
        contributions=(obs - expected) ** 2 / expected,
        pearson_residuals=(obs - expected) / np.sqrt(expected),
        standardized_residuals=(obs - expected) / np.sqrt(expected * (1 - row_p) * (1 - col_p)),
        shares=shares,
        control=control_name,
        comparisons=tuple(comparisons),
    )
