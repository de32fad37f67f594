"""Accuracy from a 2x2 table (METHODS.md section 1)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from radhub.stats._proportion import CI_METHODS, clopper_pearson_ci, wilson_ci
from radhub.stats._results import Result, fmt, fmt_ci, text_table
from radhub.stats._validation import (
    binary_labels,
    check_alpha,
    check_choice,
    check_count,
    check_prevalence,
    z_value,
)
from radhub.stats.errors import EmptyClassError, InvalidInputError

__all__ = ["AccuracyResult", "accuracy", "accuracy_from_labels", "predictive_values"]

logger = logging.getLogger(__name__)

#: Added to every cell of the table for LR+, LR- and DOR when any cell is zero.
ZERO_CELL_CORRECTION = 0.5

_PROPORTIONS = ("sensitivity", "specificity", "ppv", "npv", "accuracy")


def predictive_values(
    sensitivity: float, specificity: float, prevalence: float
) -> tuple[float, float]:
    """PPV and NPV at a prevalence by Bayes' theorem (seed 001, formulas 4 and 5).

    ``PPV = Se p / (Se p + (1 - Sp)(1 - p))`` and
    ``NPV = Sp (1 - p) / (Sp (1 - p) + (1 - Se) p)``.

    Parameters
    ----------
    sensitivity, specificity : float
        In [0, 1].
    prevalence : float
        In (0, 1).

    Returns
    -------
    tuple of float
        ``(ppv, npv)``; NaN where the denominator is 0.

    Examples
    --------
    >>> [round(x, 3) for x in predictive_values(0.83, 381 / 452, 0.096)]
    [0.359, 0.979]
    """
    p = check_prevalence(prevalence)
    for name, value in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not (0.0 <= float(value) <= 1.0):
            raise InvalidInputError(f"{name} must be in [0, 1], got {value!r}")
    ppv, npv = _pv(np.asarray(sensitivity, float), np.asarray(specificity, float), p)
    return float(ppv), float(npv)


def _pv(
    se: NDArray[np.float64], sp: NDArray[np.float64], p: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    with np.errstate(divide="ignore", invalid="ignore"):
        ppv = se * p / (se * p + (1 - sp) * (1 - p))
        npv = sp * (1 - p) / (sp * (1 - p) + (1 - se) * p)
    return ppv, npv


@dataclass(frozen=True)
class AccuracyResult(Result):
    """Accuracy of a binary test against a reference standard.

    Proportions are in [0, 1]; CIs are ``(low, high)`` at level ``1 - alpha``.
    ``NaN`` marks a statistic that is undefined for the table (e.g. PPV when
    the test never calls positive); ``to_dict()`` writes it as ``null``.
    ``zero_cell_correction`` is 0.5 when a zero cell made LR+, LR- and DOR
    use the table with 0.5 added to every cell, else 0.
    """

    tp: int
    fp: int
    fn: int
    tn: int
    ci_method: str
    alpha: float
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    ppv: float
    ppv_ci: tuple[float, float]
    npv: float
    npv_ci: tuple[float, float]
    accuracy: float
    accuracy_ci: tuple[float, float]
    youden: float
    youden_ci: tuple[float, float]
    lr_pos: float
    lr_pos_ci: tuple[float, float]
    lr_neg: float
    lr_neg_ci: tuple[float, float]
    dor: float
    dor_ci: tuple[float, float]
    zero_cell_correction: float
    sample_prevalence: float
    prevalence: float | None = None
    ppv_at_prevalence: float | None = None
    ppv_at_prevalence_ci: tuple[float, float] | None = None
    npv_at_prevalence: float | None = None
    npv_at_prevalence_ci: tuple[float, float] | None = None

    @property
    def n(self) -> int:
        """Total number of cases."""
        return self.tp + self.fp + self.fn + self.tn

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the ``*_at_prevalence`` keys only when a prevalence was given."""
        out = super().to_dict()
        if self.prevalence is None:
            for key in (
                "prevalence",
                "ppv_at_prevalence",
                "ppv_at_prevalence_ci",
                "npv_at_prevalence",
                "npv_at_prevalence_ci",
            ):
                out.pop(key)
        out["n"] = self.n
        return out

    def summary(self) -> str:
        """Readable table of every statistic with its CI."""
        level = f"{100 * (1 - self.alpha):g}% CI"
        names = [
            ("Sensitivity", "sensitivity"),
            ("Specificity", "specificity"),
            ("PPV", "ppv"),
            ("NPV", "npv"),
            ("Accuracy", "accuracy"),
            ("Youden J", "youden"),
            ("LR+", "lr_pos"),
            ("LR-", "lr_neg"),
            ("Diagnostic OR", "dor"),
        ]
        if self.prevalence is not None:
            names += [
                (f"PPV at p={self.prevalence:g}", "ppv_at_prevalence"),
                (f"NPV at p={self.prevalence:g}", "npv_at_prevalence"),
            ]
        rows = [
            [label, fmt(getattr(self, key)), fmt_ci(getattr(self, key + "_ci"))]
            for label, key in names
        ]
        head = (
            f"2x2 table: TP={self.tp} FP={self.fp} FN={self.fn} TN={self.tn} "
            f"(N={self.n}); CI method: {self.ci_method}"
        )
        text = text_table(["Statistic", "Estimate", level], rows, title=head)
        if self.zero_cell_correction:
            text += (
                f"\nNote: a zero cell; LR+, LR- and DOR use {self.zero_cell_correction} "
                "added to every cell."
            )
        return text


def accuracy(
    tp: int,
    fp: int,
    fn: int,
    tn: int,
    *,
    ci_method: str = "wilson",
    prevalence: float | None = None,
    alpha: float = 0.05,
    seed: int | None = None,
    n_boot: int = 2000,
) -> AccuracyResult:
    """Sensitivity, specificity, predictive values, likelihood ratios and DOR with CIs.

    Parameters
    ----------
    tp, fp, fn, tn : int
        Cells of the 2x2 table (condition in rows: TP, FN present; FP, TN absent).
    ci_method : {"wilson", "clopper-pearson", "bootstrap"}
        Interval for the proportions. With Wilson or Clopper-Pearson, Youden J
        gets the MOVER interval built from the Se and Sp intervals (Newcombe
        1998; Zou & Donner 2008), LR+, LR- and DOR the log method (Simel,
        Samsa & Matchar 1991), and PPV/NPV at ``prevalence`` the interval
        obtained by putting the Se and Sp bounds through the formulas (both
        are monotone in Se and Sp; the result is conservative). With
        ``"bootstrap"`` every interval is the percentile interval of ``n_boot``
        resamples of the N cases (multinomial over the four cells), seeded.
    prevalence : float, optional
        Prevalence in (0, 1) at which PPV and NPV are recomputed.
    alpha : float
        1 - confidence level.
    seed, n_boot : int
        Bootstrap seed and replicates.

    Returns
    -------
    AccuracyResult

    Raises
    ------
    InvalidCountsError
        Negative or non-integer counts.
    EmptyClassError
        No condition-present (TP + FN = 0) or no condition-absent (FP + TN = 0) cases.
    InvalidProbabilityError
        ``prevalence`` or ``alpha`` outside (0, 1).

    Notes
    -----
    When any cell is zero, LR+, LR- and DOR (estimates and intervals) are
    computed from the table with 0.5 added to every cell (Haldane-Anscombe
    correction) and ``zero_cell_correction`` reports 0.5. Sensitivity,
    specificity and the predictive values are never corrected.

    Examples
    --------
    >>> r = accuracy(83, 71, 17, 381)
    >>> round(r.sensitivity, 3), round(r.specificity, 3), round(r.youden, 3)
    (0.83, 0.843, 0.673)
    """
    tp, fp, fn, tn = (
        check_count(k, v) for k, v in (("tp", tp), ("fp", fp), ("fn", fn), ("tn", tn))
    )
    alpha = check_alpha(alpha)
    check_choice("ci_method", ci_method, CI_METHODS)
    p = None if prevalence is None else check_prevalence(prevalence)
    if tp + fn == 0:
        raise EmptyClassError("no condition-present cases (tp + fn = 0): sensitivity is undefined")
    if fp + tn == 0:
        raise EmptyClassError("no condition-absent cases (fp + tn = 0): specificity is undefined")

    cells = np.array([tp, fp, fn, tn], dtype=float)
    est = _statistics(cells[None, :], p)
    point = {k: float(v[0]) for k, v in est.items()}
    correction = ZERO_CELL_CORRECTION if min(tp, fp, fn, tn) == 0 else 0.0
    if correction:
        logger.debug("zero cell in 2x2 table: ratios use +%s per cell", correction)
        ratios = _ratios(cells[None, :] + correction)
        point.update({k: float(v[0]) for k, v in ratios.items()})

    if ci_method == "bootstrap":
        cis = _bootstrap_cis(cells, p, alpha, n_boot, seed)
    else:
        cis = _analytic_cis(tp, fp, fn, tn, point, p, alpha, ci_method, correction)

    return AccuracyResult(
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        ci_method=ci_method,
        alpha=alpha,
        sensitivity=point["sensitivity"],
        sensitivity_ci=cis["sensitivity"],
        specificity=point["specificity"],
        specificity_ci=cis["specificity"],
        ppv=point["ppv"],
        ppv_ci=cis["ppv"],
        npv=point["npv"],
        npv_ci=cis["npv"],
        accuracy=point["accuracy"],
        accuracy_ci=cis["accuracy"],
        youden=point["youden"],
        youden_ci=cis["youden"],
        lr_pos=point["lr_pos"],
        lr_pos_ci=cis["lr_pos"],
        lr_neg=point["lr_neg"],
        lr_neg_ci=cis["lr_neg"],
        dor=point["dor"],
        dor_ci=cis["dor"],
        zero_cell_correction=correction,
        sample_prevalence=(tp + fn) / (tp + fp + fn + tn),
        prevalence=p,
        ppv_at_prevalence=point.get("ppv_at_prevalence"),
        ppv_at_prevalence_ci=cis.get("ppv_at_prevalence"),
        npv_at_prevalence=point.get("npv_at_prevalence"),
        npv_at_prevalence_ci=cis.get("npv_at_prevalence"),
    )


def accuracy_from_labels(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    positive: Any = 1,
    ci_method: str = "wilson",
    prevalence: float | None = None,
    alpha: float = 0.05,
    seed: int | None = None,
    n_boot: int = 2000,
) -> AccuracyResult:
    """:func:`accuracy` from reference labels and binary test calls.

    ``positive`` is the label of the condition-present class in ``y_true``
    and of a positive call in ``y_pred``.
    """
    truth = binary_labels("y_true", y_true, positive)
    calls = binary_labels("y_pred", y_pred, positive, require_both=False)
    if truth.shape != calls.shape:
        raise InvalidInputError(
            f"y_true and y_pred must have the same length, got {truth.size} and {calls.size}"
        )
    tp = int(np.sum(truth & calls))
    fp = int(np.sum(~truth & calls))
    fn = int(np.sum(truth & ~calls))
    tn = int(np.sum(~truth & ~calls))
    return accuracy(
        tp,
        fp,
        fn,
        tn,
        ci_method=ci_method,
        prevalence=prevalence,
        alpha=alpha,
        seed=seed,
        n_boot=n_boot,
    )


def _ratios(cells: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    tp, fp, fn, tn = cells.T
    with np.errstate(divide="ignore", invalid="ignore"):
        se = tp / (tp + fn)
        sp = tn / (tn + fp)
        lr_pos = se / (1 - sp)
        lr_neg = (1 - se) / sp
        dor = (tp * tn) / (fp * fn)
    return {"lr_pos": lr_pos, "lr_neg": lr_neg, "dor": dor}


def _statistics(
    cells: NDArray[np.float64], prevalence: float | None
) -> dict[str, NDArray[np.float64]]:
    """All statistics for each row ``(tp, fp, fn, tn)`` of ``cells`` (vectorised)."""
    tp, fp, fn, tn = cells.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "accuracy": (tp + tn) / (tp + fp + fn + tn),
        }
    out["youden"] = out["sensitivity"] + out["specificity"] - 1
    out.update(_ratios(cells))
    if prevalence is not None:
        ppv, npv = _pv(out["sensitivity"], out["specificity"], prevalence)
        out["ppv_at_prevalence"], out["npv_at_prevalence"] = ppv, npv
    return out


def _analytic_cis(
    tp: int,
    fp: int,
    fn: int,
    tn: int,
    point: dict[str, float],
    p: float | None,
    alpha: float,
    method: str,
    correction: float,
) -> dict[str, tuple[float, float]]:
    ci = wilson_ci if method == "wilson" else clopper_pearson_ci
    cis = {
        "sensitivity": ci(tp, tp + fn, alpha),
        "specificity": ci(tn, tn + fp, alpha),
        "ppv": ci(tp, tp + fp, alpha),
        "npv": ci(tn, tn + fn, alpha),
        "accuracy": ci(tp + tn, tp + fp + fn + tn, alpha),
    }
    se, sp = point["sensitivity"], point["specificity"]
    (se_l, se_u), (sp_l, sp_u) = cis["sensitivity"], cis["specificity"]
    # MOVER (Newcombe 1998 method 10; Zou & Donner 2008) for the sum Se + Sp - 1
    j = point["youden"]
    cis["youden"] = (
        max(-1.0, j - math.hypot(se - se_l, sp - sp_l)),
        min(1.0, j + math.hypot(se_u - se, sp_u - sp)),
    )
    # log method (Simel, Samsa & Matchar 1991); Woolf's log interval for the DOR
    a, b, c, d = (x + correction for x in (tp, fp, fn, tn))
    z = z_value(alpha)
    se_log = {
        "lr_pos": math.sqrt(1 / a - 1 / (a + c) + 1 / b - 1 / (b + d)) if a and b else math.inf,
        "lr_neg": math.sqrt(1 / c - 1 / (a + c) + 1 / d - 1 / (b + d)) if c and d else math.inf,
        "dor": math.sqrt(1 / a + 1 / b + 1 / c + 1 / d) if a and b and c and d else math.inf,
    }
    for key, s in se_log.items():
        est = point[key]
        if not math.isfinite(s) or not (0 < est < math.inf):
            cis[key] = (math.nan, math.nan)
        else:
            cis[key] = (est * math.exp(-z * s), est * math.exp(z * s))
    if p is not None:
        lo = _pv(np.array(se_l), np.array(sp_l), p)
        hi = _pv(np.array(se_u), np.array(sp_u), p)
        cis["ppv_at_prevalence"] = (float(lo[0]), float(hi[0]))
        cis["npv_at_prevalence"] = (float(lo[1]), float(hi[1]))
    return cis


def _bootstrap_cis(
    cells: NDArray[np.float64], p: float | None, alpha: float, n_boot: int, seed: int | None
) -> dict[str, tuple[float, float]]:
    if n_boot < 100:
        raise InvalidInputError(
            f"n_boot must be at least 100 for a percentile interval, got {n_boot}"
        )
    rng = np.random.default_rng(seed)
    n = int(cells.sum())
    draws = rng.multinomial(n, cells / n, size=n_boot).astype(float)
    stats = _statistics(draws, p)
    zero = (draws == 0).any(axis=1)
    if zero.any():
        corrected = _ratios(draws[zero] + ZERO_CELL_CORRECTION)
        for key, values in corrected.items():
            stats[key][zero] = values
    out: dict[str, tuple[float, float]] = {}
    for key, values in stats.items():
        finite = values[np.isfinite(values)]
        if finite.size < n_boot / 2:
            out[key] = (math.nan, math.nan)
            continue
        low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
        out[key] = (float(low), float(high))
    return out
