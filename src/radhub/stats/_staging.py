"""Staging accuracy from serial exams graded on an ordinal scale (METHODS.md section 5).

For each stage k (exam k -> exam k + 1) a transition table counts patients
by category at exam k (rows) and at exam k + 1 (columns). With a threshold
category T, the condition ("hospital") is category >= T at exam k and a
positive test ("worse") is category >= T at exam k + 1.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from radhub.stats._accuracy import AccuracyResult, accuracy
from radhub.stats._results import Result, fmt, fmt_ci, text_table
from radhub.stats._validation import check_alpha, check_count, z_value
from radhub.stats.errors import InvalidInputError, UnknownCategoryError

__all__ = [
    "StageResult",
    "StagingResult",
    "StagingTable",
    "SummaryStatistic",
    "mean_normal_ci",
    "staging_accuracy",
]

_SUMMARY_KEYS = ("sensitivity", "specificity", "youden", "ppv_at_prevalence", "npv_at_prevalence")


@dataclass(frozen=True)
class StagingTable:
    """Transition tables of an ordinal scale over consecutive exams.

    ``counts[s, i, j]`` is the number of patients in ``categories[i]`` at
    exam ``s`` and ``categories[j]`` at exam ``s + 1`` for stage ``stages[s]``.
    """

    stages: tuple[str, ...]
    categories: tuple[str, ...]
    counts: NDArray[np.int64]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> StagingTable:
        """Build from rows with keys ``stage``, ``from``, ``to``, ``count``.

        Categories are ordered as they first appear in the first stage's rows
        (so the file's order, e.g. CT-0..CT-4, defines the ordinal scale).
        Missing combinations count 0; a repeated (stage, from, to) is an error.
        """
        rows = list(records)
        if not rows:
            raise InvalidInputError("no transition rows; expected columns stage, from, to, count")
        needed = {"stage", "from", "to", "count"}
        missing = needed - set(rows[0])
        if missing:
            raise InvalidInputError(
                f"transition rows lack column(s) {sorted(missing)}; expected stage, from, to, count"
            )
        stages: list[str] = []
        for r in rows:
            s = str(r["stage"]).strip()
            if s not in stages:
                stages.append(s)
        categories: list[str] = []
        for r in rows:
            if str(r["stage"]).strip() != stages[0]:
                continue
            for key in ("from", "to"):
                c = str(r[key]).strip()
                if c not in categories:
                    categories.append(c)
        index = {c: i for i, c in enumerate(categories)}
        counts = np.zeros((len(stages), len(categories), len(categories)), dtype=np.int64)
        seen: set[tuple[str, str, str]] = set()
        for line, r in enumerate(rows, start=2):
            s, a, b = (str(r[k]).strip() for k in ("stage", "from", "to"))
            for c in (a, b):
                if c not in index:
                    raise UnknownCategoryError(
                        f"row {line}: category {c!r} of stage {s} does not occur in the first "
                        f"stage ({categories}); every stage must use the same scale"
                    )
            if (s, a, b) in seen:
                raise InvalidInputError(f"row {line}: stage {s}, {a} -> {b} is listed twice")
            seen.add((s, a, b))
            counts[stages.index(s), index[a], index[b]] = check_count(
                f"count (row {line})", r["count"]
            )
        return cls(tuple(stages), tuple(categories), counts)

    @classmethod
    def from_csv(cls, path: str | Path) -> StagingTable:
        """Read a CSV with columns ``stage,from,to,count``."""
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            return cls.from_records(csv.DictReader(fh))


@dataclass(frozen=True)
class SummaryStatistic(Result):
    """Mean of stage values with the normal interval ``mean +/- z SD / sqrt(k)``."""

    mean: float
    ci: tuple[float, float]
    sd: float
    n_stages: int

    def summary(self) -> str:
        """``mean (low-high)``."""
        return f"{fmt(self.mean)} ({fmt_ci(self.ci)})"


def mean_normal_ci(
    values: ArrayLike, *, alpha: float = 0.05, clip: tuple[float, float] = (0.0, 1.0)
) -> SummaryStatistic:
    """Mean of stage values with a normal CI, ``mean +/- z_{1-alpha/2} SD / sqrt(k)``, clipped.

    SD is the sample standard deviation (ddof = 1). This is the summary used
    in seed 001 (e.g. PPV 56.5% (29.5-83.4) from 35.9, 50.9 and 82.6).
    """
    alpha = check_alpha(alpha)
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise InvalidInputError("values must be a non-empty 1-d list of finite numbers")
    mean = float(v.mean())
    if v.size < 2:
        return SummaryStatistic(mean=mean, ci=(math.nan, math.nan), sd=math.nan, n_stages=1)
    sd = float(v.std(ddof=1))
    half = z_value(alpha) * sd / math.sqrt(v.size)
    return SummaryStatistic(
        mean=mean,
        ci=(max(clip[0], mean - half), min(clip[1], mean + half)),
        sd=sd,
        n_stages=int(v.size),
    )


@dataclass(frozen=True)
class StageResult(Result):
    """One stage: its transition table, the 2x2 derived at the threshold and the accuracy."""

    stage: str
    table: NDArray[np.int64]
    tp: int
    fp: int
    fn: int
    tn: int
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    youden: float
    youden_ci: tuple[float, float]
    ppv: float
    npv: float
    ppv_at_prevalence: float | None
    ppv_at_prevalence_ci: tuple[float, float] | None
    npv_at_prevalence: float | None
    npv_at_prevalence_ci: tuple[float, float] | None

    @classmethod
    def _from(cls, stage: str, table: NDArray[np.int64], acc: AccuracyResult) -> StageResult:
        return cls(
            stage=stage,
            table=table,
            tp=acc.tp,
            fp=acc.fp,
            fn=acc.fn,
            tn=acc.tn,
            sensitivity=acc.sensitivity,
            sensitivity_ci=acc.sensitivity_ci,
            specificity=acc.specificity,
            specificity_ci=acc.specificity_ci,
            youden=acc.youden,
            youden_ci=acc.youden_ci,
            ppv=acc.ppv,
            npv=acc.npv,
            ppv_at_prevalence=acc.ppv_at_prevalence,
            ppv_at_prevalence_ci=acc.ppv_at_prevalence_ci,
            npv_at_prevalence=acc.npv_at_prevalence,
            npv_at_prevalence_ci=acc.npv_at_prevalence_ci,
        )

    def summary(self) -> str:  # pragma: no cover - shown through StagingResult
        """One line."""
        return f"stage {self.stage}: Se={self.sensitivity:.3f} Sp={self.specificity:.3f}"


@dataclass(frozen=True)
class StagingResult(Result):
    """Per-stage 2x2 tables and accuracy at a threshold category, and their summary."""

    threshold: str
    categories: list[str]
    prevalence: float | None
    ci_method: str
    alpha: float
    stages: tuple[StageResult, ...]
    summary_statistics: dict[str, SummaryStatistic]

    def to_dict(self) -> dict[str, Any]:
        """JSON: ``{"stages": [...], "summary": {...}, ...}``."""
        out = super().to_dict()
        out["summary"] = out.pop("summary_statistics")
        if self.prevalence is None:
            for st in out["stages"]:
                for key in (
                    "ppv_at_prevalence",
                    "ppv_at_prevalence_ci",
                    "npv_at_prevalence",
                    "npv_at_prevalence_ci",
                ):
                    st.pop(key)
        return out

    def summary(self) -> str:
        """Transition tables, the per-stage 2x2 accuracy and the summary across stages."""
        parts = []
        for st in self.stages:
            table_rows = [
                [c] + [str(int(x)) for x in st.table[i]] for i, c in enumerate(self.categories)
            ]
            parts.append(
                text_table(
                    [f"stage {st.stage}"] + self.categories,
                    table_rows,
                    title=f"Stage {st.stage}: exam k (rows) -> exam k+1 (columns)",
                )
            )
        headers = ["Stage", "TP", "FN", "FP", "TN", "Se", "Sp", "J"]
        with_p = self.prevalence is not None
        if with_p:
            headers += [f"PPV@{self.prevalence:g}", f"NPV@{self.prevalence:g}"]
        rows: list[list[Any]] = []
        for st in self.stages:
            row: list[Any] = [
                st.stage,
                st.tp,
                st.fn,
                st.fp,
                st.tn,
                fmt(st.sensitivity),
                fmt(st.specificity),
                fmt(st.youden),
            ]
            if with_p:
                row += [fmt(st.ppv_at_prevalence), fmt(st.npv_at_prevalence)]
            rows.append(row)
        s = self.summary_statistics
        row = ["mean", "", "", "", ""] + [fmt(s[k].mean) for k in _SUMMARY_KEYS[:3]]
        if with_p:
            row += [fmt(s[k].mean) for k in _SUMMARY_KEYS[3:]]
        rows.append(row)
        row = ["CI", "", "", "", ""] + [fmt_ci(s[k].ci) for k in _SUMMARY_KEYS[:3]]
        if with_p:
            row += [fmt_ci(s[k].ci) for k in _SUMMARY_KEYS[3:]]
        rows.append(row)
        parts.append(
            text_table(
                headers,
                rows,
                title=(
                    f"Threshold {self.threshold}: condition = category >= {self.threshold} at exam k, "
                    f"positive = category >= {self.threshold} at exam k+1"
                ),
            )
        )
        return "\n\n".join(parts)


def staging_accuracy(
    transitions: StagingTable | Iterable[Mapping[str, Any]],
    threshold: str,
    *,
    prevalence: float | None = None,
    ci_method: str = "wilson",
    alpha: float = 0.05,
    seed: int | None = None,
) -> StagingResult:
    """Per-stage sensitivity, specificity, Youden J and PPV/NPV at a prevalence.

    Parameters
    ----------
    transitions : StagingTable or iterable of mappings
        Transition counts (rows with ``stage, from, to, count``).
    threshold : str
        Threshold category T (e.g. "CT-3"); must be one of the categories.
    prevalence : float, optional
        Prevalence in (0, 1) for PPV and NPV (seed 001: 0.096).
    ci_method, alpha, seed :
        Passed to :func:`radhub.stats.accuracy` for each stage.

    Returns
    -------
    StagingResult
        ``stages`` (one per stage, in file order) and ``summary_statistics``:
        the mean of each stage statistic with ``mean +/- z SD/sqrt(k)``
        clipped to [0, 1] ([-1, 1] for Youden J), see :func:`mean_normal_ci`.

    Raises
    ------
    UnknownCategoryError
        ``threshold`` is not a category.
    EmptyClassError
        A stage with nobody below or nobody at/above the threshold at exam k.
    """
    alpha = check_alpha(alpha)
    table = (
        transitions
        if isinstance(transitions, StagingTable)
        else StagingTable.from_records(transitions)
    )
    t = str(threshold).strip()
    if t not in table.categories:
        raise UnknownCategoryError(
            f"threshold {threshold!r} is not a category; categories are {list(table.categories)}"
        )
    cut = table.categories.index(t)
    stages = []
    for s, name in enumerate(table.stages):
        m = table.counts[s]
        tp, fn = int(m[cut:, cut:].sum()), int(m[cut:, :cut].sum())
        fp, tn = int(m[:cut, cut:].sum()), int(m[:cut, :cut].sum())
        try:
            acc = accuracy(
                tp, fp, fn, tn, ci_method=ci_method, prevalence=prevalence, alpha=alpha, seed=seed
            )
        except InvalidInputError as exc:
            raise type(exc)(f"stage {name}: {exc}") from exc
        stages.append(StageResult._from(name, m.copy(), acc))
    summary: dict[str, SummaryStatistic] = {}
    for key in _SUMMARY_KEYS:
        if key.endswith("at_prevalence") and prevalence is None:
            continue
        values = [getattr(st, key) for st in stages]
        clip = (-1.0, 1.0) if key == "youden" else (0.0, 1.0)
        summary[key] = mean_normal_ci(values, alpha=alpha, clip=clip)
    return StagingResult(
        threshold=t,
        categories=list(table.categories),
        prevalence=None if prevalence is None else float(prevalence),
        ci_method=ci_method,
        alpha=alpha,
        stages=tuple(stages),
        summary_statistics=summary,
    )
