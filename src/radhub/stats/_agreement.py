"""Paired comparison and agreement: McNemar, Cohen's and Fleiss' kappa (METHODS.md section 3)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom, chi2, norm

from radhub.stats._results import Result, fmt, fmt_ci, text_table
from radhub.stats._validation import (
    _label_text,
    binary_labels,
    check_alpha,
    check_choice,
    check_count,
    z_value,
)
from radhub.stats.errors import InvalidCountsError, InvalidInputError, UnknownCategoryError

__all__ = [
    "FleissKappaResult",
    "KappaResult",
    "McNemarResult",
    "cohen_kappa",
    "cohen_kappa_table",
    "fleiss_kappa",
    "mcnemar",
    "mcnemar_table",
    "rating_counts",
]

MCNEMAR_METHODS = ("auto", "exact", "chi2", "chi2-cc")
KAPPA_WEIGHTS = (None, "linear", "quadratic")

#: Below this many discordant pairs ``method="auto"`` uses the exact binomial test.
EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemarResult(Result):
    """McNemar's test on the discordant pairs of a paired 2x2 table.

    ``b`` counts pairs where A is correct (or positive) and B is not; ``c``
    the reverse. ``statistic`` is the chi-square statistic for the chi-square
    methods and ``min(b, c)`` for the exact test.
    """

    b: int
    c: int
    statistic: float
    p_value: float
    method: str
    n_pairs: int | None = None
    proportion_a: float | None = None
    proportion_b: float | None = None
    basis: str = "table"

    def summary(self) -> str:
        """Readable table of the test."""
        rows = [["Discordant b (A+, B-)", str(self.b)], ["Discordant c (A-, B+)", str(self.c)]]
        if self.n_pairs is not None:
            rows.insert(0, ["Pairs", str(self.n_pairs)])
        if self.proportion_a is not None:
            label = "correct" if self.basis == "correct" else "positive"
            rows += [[f"A {label}", fmt(self.proportion_a)], [f"B {label}", fmt(self.proportion_b)]]
        rows += [["Statistic", fmt(self.statistic, 4)], ["p-value", fmt(self.p_value, 4)]]
        return text_table(["McNemar", "Value"], rows, title=f"McNemar's test ({self.method})")


def mcnemar_table(b: int, c: int, *, method: str = "auto") -> McNemarResult:
    """McNemar's test from the discordant counts ``b`` and ``c``.

    Parameters
    ----------
    b, c : int
        Discordant pairs (A correct/positive and B not; the reverse).
    method : {"auto", "exact", "chi2", "chi2-cc"}
        ``"exact"``: two-sided binomial test of b against Bin(b + c, 1/2),
        ``p = min(1, 2 P(X <= min(b, c)))``. ``"chi2"``: (b - c)^2 / (b + c) on
        1 df. ``"chi2-cc"``: Edwards' continuity correction
        (|b - c| - 1)^2 / (b + c). ``"auto"``: exact when b + c < 25, else chi2-cc.

    Returns
    -------
    McNemarResult
    """
    b, c = check_count("b", b), check_count("c", c)
    check_choice("method", method, MCNEMAR_METHODS)
    if method == "auto":
        method = "exact" if b + c < EXACT_BELOW else "chi2-cc"
    n = b + c
    if n == 0:
        return McNemarResult(b=b, c=c, statistic=0.0, p_value=1.0, method=method)
    if method == "exact":
        stat = float(min(b, c))
        p = min(1.0, 2.0 * float(binom.cdf(min(b, c), n, 0.5)))
    else:
        diff = abs(b - c) - (1.0 if method == "chi2-cc" else 0.0)
        stat = max(diff, 0.0) ** 2 / n
        p = float(chi2.sf(stat, 1))
    return McNemarResult(b=b, c=c, statistic=stat, p_value=p, method=method)


def mcnemar(
    truth: ArrayLike | None,
    calls_a: ArrayLike,
    calls_b: ArrayLike,
    *,
    method: str = "auto",
    positive: Any = 1,
) -> McNemarResult:
    """McNemar's test comparing two readers/models on the same cases.

    Parameters
    ----------
    truth : array-like or None
        Reference labels. When given, pairs are classified by whether each
        call equals the truth (b: A correct, B wrong; c: A wrong, B correct),
        which compares accuracies. When ``None``, the calls themselves are
        compared (b: A positive, B negative), which compares positive rates.
    calls_a, calls_b : array-like
        The two readers' calls on the same cases, in the same order.
    method : {"auto", "exact", "chi2", "chi2-cc"}
        See :func:`mcnemar_table`.
    positive : object
        Positive label (only used when ``truth`` is None).
    """
    a = np.asarray(calls_a, dtype=object)
    b_ = np.asarray(calls_b, dtype=object)
    if a.shape != b_.shape or a.ndim != 1:
        raise InvalidInputError(
            f"calls_a and calls_b must be 1-d and of equal length, got {a.shape} and {b_.shape}"
        )
    if a.size == 0:
        raise InvalidInputError("calls_a and calls_b are empty; give at least one pair")
    if truth is None:
        ok_a = binary_labels("calls_a", a, positive, require_both=False)
        ok_b = binary_labels("calls_b", b_, positive, require_both=False)
        basis = "positive"
    else:
        t = np.asarray(truth, dtype=object)
        if t.shape != a.shape:
            raise InvalidInputError(
                f"truth and the calls must have the same length, got {t.size} and {a.size}"
            )
        tt = [_label_text(v) for v in t]
        ok_a = np.array([_label_text(v) == x for v, x in zip(a, tt)])
        ok_b = np.array([_label_text(v) == x for v, x in zip(b_, tt)])
        basis = "correct"
    res = mcnemar_table(int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b)), method=method)
    return McNemarResult(
        b=res.b,
        c=res.c,
        statistic=res.statistic,
        p_value=res.p_value,
        method=res.method,
        n_pairs=int(a.size),
        proportion_a=float(ok_a.mean()),
        proportion_b=float(ok_b.mean()),
        basis=basis,
    )


@dataclass(frozen=True)
class KappaResult(Result):
    """Cohen's kappa (optionally weighted) with its asymptotic CI and test.

    ``se`` is the large-sample standard error of Fleiss, Cohen & Everitt
    (1969) used for the CI; ``se_null`` the one under kappa = 0 used for ``z``.
    """

    kappa: float
    kappa_ci: tuple[float, float]
    se: float
    se_null: float
    z: float
    p_value: float
    observed_agreement: float
    expected_agreement: float
    weights: str | None
    categories: list[str]
    n: int
    alpha: float

    def summary(self) -> str:
        """Readable table."""
        w = self.weights or "unweighted"
        rows = [
            ["Kappa", fmt(self.kappa), fmt_ci(self.kappa_ci)],
            ["Standard error", fmt(self.se, 4), ""],
            ["Observed agreement", fmt(self.observed_agreement), ""],
            ["Chance agreement", fmt(self.expected_agreement), ""],
            ["z (kappa = 0)", fmt(self.z), ""],
            ["p-value", fmt(self.p_value, 4), ""],
        ]
        return text_table(
            ["Statistic", "Estimate", f"{100 * (1 - self.alpha):g}% CI"],
            rows,
            title=f"Cohen's kappa ({w}), {self.n} subjects, categories {', '.join(self.categories)}",
        )


def _ordered_categories(values: Sequence[Any]) -> list[str]:
    texts = sorted({_label_text(v) for v in values})
    try:
        return sorted(texts, key=float)
    except ValueError:
        return texts


def _weight_matrix(k: int, weights: str | None) -> NDArray[np.float64]:
    i, j = np.indices((k, k))
    if weights is None or k == 1:
        return (i == j).astype(float)
    d = np.abs(i - j) / (k - 1)
    return 1.0 - d if weights == "linear" else 1.0 - d**2


def cohen_kappa(
    r1: ArrayLike,
    r2: ArrayLike,
    weights: str | None = None,
    *,
    categories: Sequence[Any] | None = None,
    alpha: float = 0.05,
) -> KappaResult:
    """Cohen's kappa between two raters, unweighted or with linear/quadratic weights.

    Parameters
    ----------
    r1, r2 : array-like
        The two raters' categories for the same subjects.
    weights : {None, "linear", "quadratic"}
        Agreement weights ``1 - |i-j|/(k-1)`` or ``1 - (i-j)^2/(k-1)^2`` for
        ordinal categories (Cohen 1968).
    categories : sequence, optional
        Category order (needed for weighted kappa of non-numeric labels);
        default: numeric order when every label is a number, else alphabetical.
    alpha : float
        1 - confidence level.

    Returns
    -------
    KappaResult
    """
    a, b = np.asarray(r1, dtype=object), np.asarray(r2, dtype=object)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidInputError(
            f"r1 and r2 must be 1-d and of equal length, got {a.shape} and {b.shape}"
        )
    if a.size == 0:
        raise InvalidInputError("r1 and r2 are empty; give at least one rated subject")
    ta, tb = [_label_text(v) for v in a], [_label_text(v) for v in b]
    cats = (
        [_label_text(c) for c in categories]
        if categories is not None
        else _ordered_categories(ta + tb)
    )
    index = {c: i for i, c in enumerate(cats)}
    unknown = sorted(set(ta + tb) - set(index))
    if unknown:
        raise UnknownCategoryError(
            f"ratings {unknown[:5]} are not among categories {cats}; add them to categories"
        )
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, ([index[x] for x in ta], [index[x] for x in tb]), 1)
    return cohen_kappa_table(table, weights, categories=cats, alpha=alpha)


def cohen_kappa_table(
    table: ArrayLike,
    weights: str | None = None,
    *,
    categories: Sequence[Any] | None = None,
    alpha: float = 0.05,
) -> KappaResult:
    """Cohen's kappa from a k x k agreement table (rater 1 in rows).

    Standard errors follow Fleiss, Cohen & Everitt (1969), eqs. 13 and 14
    (also Fleiss, Levin & Paik 2003, section 18.1).
    """
    alpha = check_alpha(alpha)
    check_choice("weights", weights, KAPPA_WEIGHTS)
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise InvalidInputError(f"table must be square (k x k), got shape {t.shape}")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise InvalidCountsError("table counts must be finite and non-negative")
    n = t.sum()
    if n == 0:
        raise InvalidCountsError("table is all zeros; kappa needs rated subjects")
    k = t.shape[0]
    w = _weight_matrix(k, weights)
    p = t / n
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float(np.sum(w * p))
    pe = float(np.sum(w * np.outer(row, col)))
    if pe >= 1.0:
        raise InvalidInputError(
            "chance agreement is 1 (both raters used a single category); kappa is undefined"
        )
    kappa = (po - pe) / (1 - pe)
    w_row = w @ col  # mean weight of row category i over rater 2's margin
    w_col = row @ w  # mean weight of column category j over rater 1's margin
    dev = w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)
    var = (np.sum(p * dev**2) - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    dev0 = w - (w_row[:, None] + w_col[None, :])
    var0 = (np.sum(np.outer(row, col) * dev0**2) - pe**2) / (n * (1 - pe) ** 2)
    se, se0 = math.sqrt(max(var, 0.0)), math.sqrt(max(var0, 0.0))
    z = kappa / se0 if se0 > 0 else math.nan
    zq = z_value(alpha)
    cats = [str(c) for c in categories] if categories is not None else [str(i) for i in range(k)]
    return KappaResult(
        kappa=kappa,
        kappa_ci=(max(-1.0, kappa - zq * se), min(1.0, kappa + zq * se)),
        se=se,
        se_null=se0,
        z=z,
        p_value=float(2 * norm.sf(abs(z))) if math.isfinite(z) else math.nan,
        observed_agreement=po,
        expected_agreement=pe,
        weights=weights,
        categories=cats,
        n=int(n),
        alpha=alpha,
    )


@dataclass(frozen=True)
class FleissKappaResult(Result):
    """Fleiss' kappa for many raters (Fleiss 1971).

    ``se_null`` is the standard error under kappa = 0 (Fleiss, Nee & Landis
    1979) used for ``z``; ``kappa_ci`` is a percentile bootstrap interval over
    subjects (seeded).
    """

    kappa: float
    kappa_ci: tuple[float, float]
    se_null: float
    z: float
    p_value: float
    observed_agreement: float
    expected_agreement: float
    n_subjects: int
    n_raters: int
    categories: list[str]
    alpha: float

    def summary(self) -> str:
        """Readable table."""
        rows = [
            ["Kappa", fmt(self.kappa), fmt_ci(self.kappa_ci)],
            ["Mean observed agreement", fmt(self.observed_agreement), ""],
            ["Chance agreement", fmt(self.expected_agreement), ""],
            ["z (kappa = 0)", fmt(self.z), ""],
            ["p-value", fmt(self.p_value, 4), ""],
        ]
        return text_table(
            ["Statistic", "Estimate", f"{100 * (1 - self.alpha):g}% CI (bootstrap)"],
            rows,
            title=f"Fleiss' kappa: {self.n_subjects} subjects, {self.n_raters} raters each",
        )


def rating_counts(ratings: ArrayLike) -> tuple[NDArray[np.float64], list[str]]:
    """Turn a subjects x raters array of categories into a subjects x categories count table."""
    r = np.asarray(ratings, dtype=object)
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] < 2:
        raise InvalidInputError(
            f"ratings must be subjects x raters with at least 2 raters, got shape {r.shape}"
        )
    texts = np.vectorize(_label_text, otypes=[object])(r)
    cats = _ordered_categories(list(texts.ravel()))
    table = np.stack([(texts == c).sum(axis=1) for c in cats], axis=1).astype(float)
    return table, cats


def fleiss_kappa(
    table: ArrayLike,
    *,
    categories: Sequence[Any] | None = None,
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int | None = 0,
) -> FleissKappaResult:
    """Fleiss' kappa from a subjects x categories table of rating counts.

    Every subject must be rated by the same number of raters (row sums equal).
    Use :func:`rating_counts` to build the table from raw ratings.
    """
    alpha = check_alpha(alpha)
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        raise InvalidInputError(
            f"table must be subjects x categories (at least 2 x 2), got shape {t.shape}"
        )
    if np.any(t < 0) or not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
        raise InvalidCountsError("table must hold non-negative integer counts")
    m = t.sum(axis=1)
    if not np.all(m == m[0]) or m[0] < 2:
        raise InvalidInputError(
            "every subject must be rated by the same number (>= 2) of raters; "
            f"row sums range from {int(m.min())} to {int(m.max())}"
        )
    kappa, po, pe = _fleiss(t)
    if not math.isfinite(kappa):
        raise InvalidInputError(
            "chance agreement is 1 (every rating is in one category); kappa is undefined"
        )
    n_sub, r = t.shape[0], int(m[0])
    pj = t.sum(axis=0) / (n_sub * r)
    q = pj * (1 - pj)
    s = q.sum()
    var0 = 2.0 / (n_sub * r * (r - 1)) * (s**2 - np.sum(q * (1 - 2 * pj))) / s**2
    se0 = math.sqrt(var0) if var0 > 0 else math.nan
    z = kappa / se0 if math.isfinite(se0) else math.nan
    rng = np.random.default_rng(seed)
    boots = np.array([_fleiss(t[rng.integers(0, n_sub, n_sub)])[0] for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    ci = (
        tuple(float(x) for x in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
        if boots.size
        else (math.nan, math.nan)
    )
    cats = (
        [str(c) for c in categories]
        if categories is not None
        else [str(i) for i in range(t.shape[1])]
    )
    return FleissKappaResult(
        kappa=kappa,
        kappa_ci=(ci[0], ci[1]),
        se_null=se0,
        z=z,
        p_value=float(2 * norm.sf(abs(z))) if math.isfinite(z) else math.nan,
        observed_agreement=po,
        expected_agreement=pe,
        n_subjects=n_sub,
        n_raters=r,
        categories=cats,
        alpha=alpha,
    )


def _fleiss(t: NDArray[np.float64]) -> tuple[float, float, float]:
    n_sub = t.shape[0]
    r = t[0].sum()
    p_i = (np.sum(t * t, axis=1) - r) / (r * (r - 1))
    po = float(p_i.mean())
    pj = t.sum(axis=0) / (n_sub * r)
    pe = float(np.sum(pj**2))
    if pe >= 1.0:
        return math.nan, po, pe
    return (po - pe) / (1 - pe), po, pe
