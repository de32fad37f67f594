"""Intraclass correlation (Shrout & Fleiss 1979; McGraw & Wong 1996)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import f as f_dist

from radhub.stats._results import Result, fmt, fmt_ci, text_table
from radhub.stats._validation import check_alpha
from radhub.stats.errors import InvalidInputError

__all__ = ["ICC_FORMS", "IccResult", "IccTable", "icc", "icc_all"]

#: Shrout-Fleiss forms, with their McGraw-Wong names and models.
ICC_FORMS: dict[str, tuple[str, str]] = {
    "ICC(1,1)": ("ICC(1)", "one-way random, absolute agreement, single rater"),
    "ICC(2,1)": ("ICC(A,1)", "two-way random, absolute agreement, single rater"),
    "ICC(3,1)": ("ICC(C,1)", "two-way mixed, consistency, single rater"),
    "ICC(1,k)": ("ICC(k)", "one-way random, absolute agreement, mean of k raters"),
    "ICC(2,k)": ("ICC(A,k)", "two-way random, absolute agreement, mean of k raters"),
    "ICC(3,k)": ("ICC(C,k)", "two-way mixed, consistency, mean of k raters"),
}

_ALIASES = {
    "ICC1": "ICC(1,1)",
    "ICC2": "ICC(2,1)",
    "ICC3": "ICC(3,1)",
    "ICC1K": "ICC(1,k)",
    "ICC2K": "ICC(2,k)",
    "ICC3K": "ICC(3,k)",
    "ICC(1)": "ICC(1,1)",
    "ICC(A,1)": "ICC(2,1)",
    "ICC(C,1)": "ICC(3,1)",
    "ICC(K)": "ICC(1,k)",
    "ICC(A,K)": "ICC(2,k)",
    "ICC(C,K)": "ICC(3,k)",
}


@dataclass(frozen=True)
class IccResult(Result):
    """One intraclass correlation with its F-based CI and F test of ICC = 0."""

    form: str
    mcgraw_wong: str
    description: str
    icc: float
    icc_ci: tuple[float, float]
    f: float
    df1: float
    df2: float
    p_value: float
    n_targets: int
    n_raters: int
    alpha: float

    def summary(self) -> str:
        """Readable one-row table."""
        return IccTable((self,)).summary()


@dataclass(frozen=True)
class IccTable(Result):
    """All six Shrout-Fleiss forms."""

    forms: tuple[IccResult, ...]

    def __getitem__(self, form: str) -> IccResult:
        key = _canonical(form)
        for r in self.forms:
            if r.form == key:
                return r
        raise KeyError(form)

    def to_dict(self) -> dict[str, object]:
        """``{"ICC(1,1)": {...}, ...}``."""
        return {r.form: r.to_dict() for r in self.forms}

    def summary(self) -> str:
        """Table of every form."""
        first = self.forms[0]
        rows = [
            [
                r.form,
                r.mcgraw_wong,
                fmt(r.icc),
                fmt_ci(r.icc_ci),
                fmt(r.f, 2),
                f"{r.df1:g}",
                f"{r.df2:.3g}",
                fmt(r.p_value, 4),
            ]
            for r in self.forms
        ]
        return text_table(
            [
                "Form",
                "McGraw-Wong",
                "ICC",
                f"{100 * (1 - first.alpha):g}% CI",
                "F",
                "df1",
                "df2",
                "p",
            ],
            rows,
            title=f"ICC: {first.n_targets} targets, {first.n_raters} raters",
        )


def _canonical(form: str) -> str:
    key = form.strip().upper().replace(" ", "")
    for name in ICC_FORMS:
        if key == name.upper():
            return name
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidInputError(
        f"form must be one of {', '.join(ICC_FORMS)} (or ICC1..ICC3k, ICC(A,1), ICC(C,1) ...); "
        f"got {form!r}"
    )


def icc_all(data: ArrayLike, *, alpha: float = 0.05) -> IccTable:
    """All six Shrout-Fleiss ICCs with F-based CIs for a targets x raters array.

    Mean squares come from the two-way ANOVA without replication; the
    one-way forms use the within-target mean square. CIs follow McGraw &
    Wong (1996, Table 7); the ICC(2,1) interval uses Satterthwaite's degrees
    of freedom, and the k-rater absolute-agreement interval applies the
    Spearman-Brown formula to the single-rater bounds (as R's psych::ICC).

    Parameters
    ----------
    data : array-like (n_targets, n_raters)
        One row per target (patient, lesion, feature instance), one column
        per rater or repeat (test/retest); no missing values.
    alpha : float
        1 - confidence level.
    """
    alpha = check_alpha(alpha)
    x = np.asarray(data, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InvalidInputError(
            f"data must be targets x raters with at least 2 of each, got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("data has missing or infinite values; ICC needs complete rows")
    n, k = x.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        return _icc_forms(x, n, k, alpha)


def _bound(f: float, k: int) -> float:
    """ICC bound ``(F - 1) / (F + k - 1)``; 1 when F is infinite (no residual variance)."""
    return 1.0 if math.isinf(f) else (f - 1) / (f + k - 1)


def _avg_bound(f: float) -> float:
    """k-rater bound ``1 - 1/F``."""
    return 1.0 if math.isinf(f) else 1 - 1 / f


def _icc_forms(x: np.ndarray, n: int, k: int, alpha: float) -> IccTable:
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_total = np.sum((x - grand) ** 2)
    ss_err = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    if msr == 0 and mse == 0 and msw == 0:
        raise InvalidInputError("data has no variance; the ICC is undefined")

    def fq(df1: float, df2: float) -> float:
        return float(f_dist.ppf(1 - alpha / 2, df1, df2))

    out = []
    # one-way random
    f1 = msr / msw
    df1, df2 = n - 1, n * (k - 1)
    fl, fu = f1 / fq(df1, df2), f1 * fq(df2, df1)
    icc11 = (msr - msw) / (msr + (k - 1) * msw)
    out.append(("ICC(1,1)", icc11, (_bound(fl, k), _bound(fu, k)), f1, df1, df2))
    # two-way, shared F test of rows
    f3 = msr / mse
    d1, d2 = n - 1, (n - 1) * (k - 1)
    icc21 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc21 / (n * (1 - icc21))
    b = 1 + k * icc21 * (n - 1) / (n * (1 - icc21))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    fs_l, fs_u = fq(n - 1, v), fq(v, n - 1)
    low21 = n * (msr - fs_l * mse) / (fs_l * (k * msc + (k * n - k - n) * mse) + n * msr)
    high21 = n * (fs_u * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fs_u * msr)
    out.append(("ICC(2,1)", icc21, (low21, high21), f3, d1, v))
    fl3, fu3 = f3 / fq(d1, d2), f3 * fq(d2, d1)
    icc31 = (msr - mse) / (msr + (k - 1) * mse)
    out.append(("ICC(3,1)", icc31, (_bound(fl3, k), _bound(fu3, k)), f3, d1, d2))
    out.append(("ICC(1,k)", (msr - msw) / msr, (_avg_bound(fl), _avg_bound(fu)), f1, df1, df2))

    def sb(r: float) -> float:
        return k * r / (1 + (k - 1) * r)

    icc2k = (msr - mse) / (msr + (msc - mse) / n)
    out.append(("ICC(2,k)", icc2k, (sb(low21), sb(high21)), f3, d1, v))
    out.append(("ICC(3,k)", (msr - mse) / msr, (_avg_bound(fl3), _avg_bound(fu3)), f3, d1, d2))

    results = []
    for form, value, ci, fstat, a1, a2 in out:
        df_test = a2 if form not in ("ICC(2,1)", "ICC(2,k)") else d2
        p = float(f_dist.sf(fstat, a1, df_test)) if math.isfinite(fstat) else 0.0
        mw, desc = ICC_FORMS[form]
        results.append(
            IccResult(
                form=form,
                mcgraw_wong=mw,
                description=desc,
                icc=float(value),
                icc_ci=(float(ci[0]), float(ci[1])),
                f=float(fstat),
                df1=float(a1),
                df2=float(df_test),
                p_value=p,
                n_targets=n,
                n_raters=k,
                alpha=alpha,
            )
        )
    return IccTable(tuple(results))


def icc(data: ArrayLike, form: str = "ICC(3,1)", *, alpha: float = 0.05) -> IccResult:
    """One intraclass correlation (default ICC(3,1), consistency of a single rater).

    ``form`` is a Shrout-Fleiss name ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)",
    "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"), a psych-style alias ("ICC3k") or a
    McGraw-Wong name ("ICC(A,1)", "ICC(C,1)"). See :func:`icc_all`.

    Examples
    --------
    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(icc(sf, "ICC(3,1)").icc, 2)  # Shrout & Fleiss 1979, Table 4
    0.71
    """
    key = _canonical(form)
    return icc_all(data, alpha=alpha)[key]
