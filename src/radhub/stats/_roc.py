"""Empirical ROC analysis (METHODS.md section 2).

The AUC is the Mann-Whitney statistic (ties count one half). Its variance
and the covariance of correlated AUCs come from DeLong, DeLong &
Clarke-Pearson (1988) structural components, computed with the fast
midrank algorithm of Sun & Xu (2014, IEEE Signal Process. Lett. 21:1389).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm, rankdata

from radhub.stats._results import Result, fmt, fmt_ci, text_table
from radhub.stats._validation import (
    binary_labels,
    check_alpha,
    check_choice,
    float_array,
    z_value,
)
from radhub.stats.errors import InvalidInputError

__all__ = [
    "ComparisonResult",
    "RocBand",
    "RocCurve",
    "RocResult",
    "apply_cutoff",
    "compare_independent_aucs",
    "delong_covariance",
    "delong_test",
    "roc_auc",
    "roc_band",
    "roc_curve",
    "youden_cutoff",
]

ROC_CI_METHODS = ("delong", "bootstrap")


@dataclass(frozen=True)
class RocCurve(Result):
    """Empirical ROC curve: points ``(fpr[i], tpr[i])`` for ``score >= thresholds[i]``.

    The first point is ``(0, 0)`` at threshold ``+inf`` (nothing positive).
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]

    def summary(self) -> str:
        """Table of the curve's points."""
        rows = [
            [fmt(t), fmt(f), fmt(s), fmt(1 - f)]
            for t, f, s in zip(self.thresholds, self.fpr, self.tpr)
        ]
        return text_table(["Threshold", "FPR", "Sensitivity", "Specificity"], rows)


@dataclass(frozen=True)
class RocResult(Result):
    """AUC with its CI and the Youden-optimal operating point.

    ``cutoff`` is the score threshold maximising Se + Sp - 1 (``score >= cutoff``
    is positive); ``sensitivity``/``specificity`` are measured at it.
    """

    auc: float
    auc_ci: tuple[float, float]
    auc_se: float
    ci_method: str
    alpha: float
    cutoff: float
    sensitivity: float
    specificity: float
    youden: float
    n_positive: int
    n_negative: int
    curve: RocCurve = field(metadata={"json": True})

    def summary(self) -> str:
        """Readable AUC table."""
        level = f"{100 * (1 - self.alpha):g}% CI"
        rows = [
            ["AUC", fmt(self.auc), fmt_ci(self.auc_ci)],
            ["AUC standard error", fmt(self.auc_se, 4), ""],
            ["Youden-optimal cutoff", fmt(self.cutoff, 4), ""],
            ["Sensitivity at cutoff", fmt(self.sensitivity), ""],
            ["Specificity at cutoff", fmt(self.specificity), ""],
            ["Youden J", fmt(self.youden), ""],
        ]
        head = (
            f"ROC: {self.n_positive} positive, {self.n_negative} negative cases; "
            f"AUC CI method: {self.ci_method}"
        )
        return text_table(["Statistic", "Estimate", level], rows, title=head)


@dataclass(frozen=True)
class ComparisonResult(Result):
    """Comparison of two AUCs: ``difference = auc_a - auc_b``."""

    auc_a: float
    auc_b: float
    difference: float
    difference_ci: tuple[float, float]
    se: float
    z: float
    p_value: float
    method: str
    alpha: float
    correlation: float | None = None

    def summary(self) -> str:
        """Readable comparison table."""
        level = f"{100 * (1 - self.alpha):g}% CI"
        rows = [
            ["AUC A", fmt(self.auc_a), ""],
            ["AUC B", fmt(self.auc_b), ""],
            ["Difference A - B", fmt(self.difference), fmt_ci(self.difference_ci)],
            ["z", fmt(self.z), ""],
            ["p-value", fmt(self.p_value, 4), ""],
        ]
        if self.correlation is not None:
            rows.append(["Correlation of AUCs", fmt(self.correlation), ""])
        return text_table(
            ["Statistic", "Estimate", level], rows, title=f"AUC comparison: {self.method}"
        )


@dataclass(frozen=True)
class RocBand(Result):
    """Pointwise bootstrap band of the ROC curve (vertical averaging at fixed FPR)."""

    fpr: NDArray[np.float64]
    tpr_low: NDArray[np.float64]
    tpr_high: NDArray[np.float64]
    alpha: float

    def summary(self) -> str:
        """Table of the band."""
        rows = [
            [fmt(f), fmt(lo), fmt(hi)] for f, lo, hi in zip(self.fpr, self.tpr_low, self.tpr_high)
        ]
        return text_table(["FPR", "TPR low", "TPR high"], rows)


def _split(
    y_true: ArrayLike, scores: list[ArrayLike], positive: Any
) -> tuple[NDArray[np.bool_], list[NDArray[np.float64]]]:
    truth = binary_labels("y_true", y_true, positive)
    arrays = []
    for i, s in enumerate(scores):
        arr = float_array("score" if len(scores) == 1 else f"score_{'ab'[i]}", s)
        if arr.shape != truth.shape:
            raise InvalidInputError(
                f"y_true and the scores must have the same length, got {truth.size} and {arr.size}"
            )
        arrays.append(arr)
    return truth, arrays


def roc_curve(y_true: ArrayLike, score: ArrayLike, positive: Any = 1) -> RocCurve:
    """Empirical ROC curve.

    Parameters
    ----------
    y_true : array-like
        Reference labels; ``positive`` marks the condition-present class.
    score : array-like of float
        Higher scores mean "more likely positive".
    positive : object
        Label of the positive class (default 1).

    Returns
    -------
    RocCurve
        One point per distinct score, thresholds decreasing.
    """
    truth, (s,) = _split(y_true, [score], positive)
    return _curve(truth, s)


def _curve(truth: NDArray[np.bool_], s: NDArray[np.float64]) -> RocCurve:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], truth[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last].astype(float)
    fps = (last + 1) - tps
    n_pos, n_neg = float(truth.sum()), float((~truth).sum())
    return RocCurve(
        fpr=np.r_[0.0, fps / n_neg],
        tpr=np.r_[0.0, tps / n_pos],
        thresholds=np.r_[np.inf, s_sorted[last]],
    )


def youden_cutoff(y_true: ArrayLike, score: ArrayLike, positive: Any = 1) -> float:
    """Score threshold maximising Youden's J = Se + Sp - 1.

    ``score >= cutoff`` is called positive. Among tied maxima the highest
    threshold (the most specific operating point) is returned. In a
    train/test design choose it on training scores and pass it unchanged to
    :func:`apply_cutoff` on the test scores.
    """
    return _youden(roc_curve(y_true, score, positive))[0]


def _youden(curve: RocCurve) -> tuple[float, int]:
    j = curve.tpr[1:] - curve.fpr[1:]
    i = int(np.argmax(j)) + 1
    return float(curve.thresholds[i]), i


def apply_cutoff(score: ArrayLike, cutoff: float) -> NDArray[np.bool_]:
    """Binary calls ``score >= cutoff`` (True = positive)."""
    s = float_array("score", score)
    if not math.isfinite(float(cutoff)):
        raise InvalidInputError(f"cutoff must be a finite number, got {cutoff!r}")
    return s >= float(cutoff)


def delong_covariance(
    truth: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs and their DeLong covariance matrix by Sun & Xu's fast algorithm.

    Parameters
    ----------
    truth : bool array (n_cases,)
    scores : float array (n_scores, n_cases)

    Returns
    -------
    aucs : (n_scores,)
    covariance : (n_scores, n_scores)
    """
    pos, neg = scores[:, truth], scores[:, ~truth]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise InvalidInputError(
            f"DeLong's variance needs at least 2 positive and 2 negative cases, got {m} and {n}"
        )
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n  # structural components of the positives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # ... and of the negatives
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def roc_auc(
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    positive: Any = 1,
    ci_method: str = "delong",
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int | None = None,
    logit: bool = False,
) -> RocResult:
    """AUC with a DeLong or bootstrap CI, and the Youden-optimal cutoff.

    Parameters
    ----------
    y_true, score : array-like
        Reference labels and continuous scores (higher = more likely positive).
    positive : object
        Label of the positive class.
    ci_method : {"delong", "bootstrap"}
        DeLong's asymptotic interval ``auc +/- z se`` (clipped to [0, 1]; on
        the logit scale when ``logit=True``), or the percentile interval of
        ``n_boot`` stratified bootstrap resamples (cases resampled within
        each class; ``auc_se`` is then the bootstrap standard deviation).
    alpha : float
        1 - confidence level.
    n_boot, seed : int
        Bootstrap replicates and seed.
    logit : bool
        DeLong interval on the logit scale (stays inside (0, 1)).

    Returns
    -------
    RocResult

    Raises
    ------
    EmptyClassError
        Only one class present.
    InvalidInputError
        Lengths differ, missing scores, or fewer than 2 cases per class for DeLong.

    Examples
    --------
    >>> r = roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r.auc
    0.75
    """
    alpha = check_alpha(alpha)
    check_choice("ci_method", ci_method, ROC_CI_METHODS)
    truth, (s,) = _split(y_true, [score], positive)
    curve = _curve(truth, s)
    cutoff, i = _youden(curve)
    z = z_value(alpha)
    if ci_method == "delong":
        aucs, cov = delong_covariance(truth, s[None, :])
        auc, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
        if logit and 0.0 < auc < 1.0:
            centre = math.log(auc / (1 - auc))
            half = z * se / (auc * (1 - auc))
            ci = (1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half))))
        else:
            ci = (max(0.0, auc - z * se), min(1.0, auc + z * se))
    else:
        auc = _auc(truth, s)
        boots = _bootstrap_aucs(truth, s, n_boot, seed)
        low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
        ci, se = (float(low), float(high)), float(np.std(boots, ddof=1))
    return RocResult(
        auc=auc,
        auc_ci=ci,
        auc_se=se,
        ci_method=ci_method + ("-logit" if logit and ci_method == "delong" else ""),
        alpha=alpha,
        cutoff=cutoff,
        sensitivity=float(curve.tpr[i]),
        specificity=float(1 - curve.fpr[i]),
        youden=float(curve.tpr[i] - curve.fpr[i]),
        n_positive=int(truth.sum()),
        n_negative=int((~truth).sum()),
        curve=curve,
    )


def _auc(truth: NDArray[np.bool_], s: NDArray[np.float64]) -> float:
    """Mann-Whitney AUC (ties count one half)."""
    m, n = int(truth.sum()), int((~truth).sum())
    ranks = rankdata(s)
    return float((ranks[truth].sum() - m * (m + 1) / 2) / (m * n))


def _bootstrap_aucs(
    truth: NDArray[np.bool_], s: NDArray[np.float64], n_boot: int, seed: int | None
) -> NDArray[np.float64]:
    if n_boot < 100:
        raise InvalidInputError(
            f"n_boot must be at least 100 for a percentile interval, got {n_boot}"
        )
    rng = np.random.default_rng(seed)
    pos, neg = s[truth], s[~truth]
    m, n = pos.size, neg.size
    out = np.empty(n_boot)
    block = max(1, 2_000_000 // (m + n))
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        sample = np.concatenate(
            [pos[rng.integers(0, m, (k, m))], neg[rng.integers(0, n, (k, n))]], axis=1
        )
        ranks = rankdata(sample, axis=1)
        out[start : start + k] = (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    return out


def roc_band(
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    positive: Any = 1,
    alpha: float = 0.05,
    n_boot: int = 500,
    seed: int | None = None,
    n_points: int = 101,
) -> RocBand:
    """Pointwise percentile band of the ROC curve by stratified bootstrap.

    Each resample's curve is read at fixed false-positive rates (vertical
    averaging, Fawcett 2006); the band is the ``alpha/2`` and ``1 - alpha/2``
    quantiles of the TPR at each FPR. Used for plots, not for inference.
    """
    alpha = check_alpha(alpha)
    truth, (s,) = _split(y_true, [score], positive)
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 1.0, n_points)
    pos_idx, neg_idx = np.nonzero(truth)[0], np.nonzero(~truth)[0]
    tprs = np.empty((n_boot, n_points))
    for b in range(n_boot):
        idx = np.r_[rng.choice(pos_idx, pos_idx.size), rng.choice(neg_idx, neg_idx.size)]
        c = _curve(truth[idx], s[idx])
        # at an FPR reached by several points keep the highest TPR (the curve's upper value)
        fpr, first = np.unique(c.fpr[::-1], return_index=True)
        tprs[b] = np.interp(grid, fpr, c.tpr[::-1][first])
    low, high = np.quantile(tprs, [alpha / 2, 1 - alpha / 2], axis=0)
    return RocBand(fpr=grid, tpr_low=low, tpr_high=high, alpha=alpha)


def delong_test(
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    *,
    positive: Any = 1,
    alpha: float = 0.05,
) -> ComparisonResult:
    """DeLong's test of two correlated AUCs (two scores on the same cases).

    ``z = (AUC_a - AUC_b) / sqrt(var_a + var_b - 2 cov_ab)`` with the DeLong
    covariance (DeLong et al. 1988; Sun & Xu 2014); two-sided p-value and a
    Wald interval of the difference.
    """
    alpha = check_alpha(alpha)
    truth, (a, b) = _split(y_true, [score_a, score_b], positive)
    aucs, cov = delong_covariance(truth, np.vstack([a, b]))
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    denom = math.sqrt(cov[0, 0] * cov[1, 1])
    corr = float(cov[0, 1] / denom) if denom > 0 else None
    return _comparison(float(aucs[0]), float(aucs[1]), var, alpha, "DeLong (paired)", corr)


def compare_independent_aucs(
    y_true_a: ArrayLike,
    score_a: ArrayLike,
    y_true_b: ArrayLike,
    score_b: ArrayLike,
    *,
    positive: Any = 1,
    alpha: float = 0.05,
) -> ComparisonResult:
    """z-test of two AUCs from independent samples (different cases).

    ``z = (AUC_a - AUC_b) / sqrt(se_a^2 + se_b^2)`` with DeLong standard errors
    (Hanley & McNeil 1982, eq. 3 with r = 0).
    """
    alpha = check_alpha(alpha)
    ta, (sa,) = _split(y_true_a, [score_a], positive)
    tb, (sb,) = _split(y_true_b, [score_b], positive)
    auc_a, cov_a = delong_covariance(ta, sa[None, :])
    auc_b, cov_b = delong_covariance(tb, sb[None, :])
    var = float(cov_a[0, 0] + cov_b[0, 0])
    return _comparison(float(auc_a[0]), float(auc_b[0]), var, alpha, "independent z-test", None)


def _comparison(
    auc_a: float, auc_b: float, var: float, alpha: float, method: str, corr: float | None
) -> ComparisonResult:
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    if se > 0:
        zstat = diff / se
        p = float(2 * norm.sf(abs(zstat)))
    else:
        # both AUCs are estimated without variance (e.g. perfect separation)
        zstat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
    zq = z_value(alpha)
    return ComparisonResult(
        auc_a=auc_a,
        auc_b=auc_b,
        difference=diff,
        difference_ci=(diff - zq * se, diff + zq * se),
        se=se,
        z=zstat,
        p_value=p,
        method=method,
        alpha=alpha,
        correlation=corr,
    )
