"""Statistics endpoints: POST JSON over :mod:`radhub.stats` (mounted under ``/api``).

Each handler validates the body's shape (pydantic), calls one library
function and returns its ``to_dict()``. Input the method cannot use
(:class:`radhub.stats.errors.InvalidInputError`) gives HTTP 422 with the
library's message; a model that cannot be fitted gives 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from radhub import stats as st
from radhub.stats.errors import InvalidInputError, StatsError

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/stats", tags=["stats"])

Label = int | float | str | bool
T = TypeVar("T")


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library function, mapping its errors to HTTP errors."""
    try:
        return fn(*args, **kwargs)
    except InvalidInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except StatsError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccuracyRequest(_Body):
    tp: int
    fp: int
    fn: int
    tn: int
    prevalence: float | None = None
    ci_method: Literal["wilson", "clopper-pearson", "bootstrap"] = "wilson"
    alpha: float = 0.05
    n_boot: int = 2000
    seed: int | None = 0


class RocRequest(_Body):
    y_true: list[Label]
    score: list[float]
    positive: Label = 1
    ci_method: Literal["delong", "bootstrap"] = "delong"
    logit: bool = False
    alpha: float = 0.05
    n_boot: int = 2000
    seed: int | None = 0


class CompareRocRequest(_Body):
    y_true: list[Label]
    score_a: list[float]
    score_b: list[float]
    y_true_b: list[Label] | None = Field(
        None, description="Labels of sample B: when given, the AUCs are compared as independent."
    )
    positive: Label = 1
    alpha: float = 0.05


class McNemarRequest(_Body):
    truth: list[Label] | None = None
    calls_a: list[Label] | None = None
    calls_b: list[Label] | None = None
    b: int | None = Field(None, description="Discordant count (A+, B-) instead of calls.")
    c: int | None = Field(None, description="Discordant count (A-, B+) instead of calls.")
    method: Literal["auto", "exact", "chi2", "chi2-cc"] = "auto"
    positive: Label = 1


class KappaRequest(_Body):
    raters: list[list[Label]] = Field(..., description="One list of ratings per rater.")
    weights: Literal["linear", "quadratic"] | None = None
    categories: list[Label] | None = None
    alpha: float = 0.05
    seed: int = 0


class IccRequest(_Body):
    data: list[list[float]] = Field(..., description="Targets (rows) x raters (columns).")
    form: str | None = None
    alpha: float = 0.05


class Chi2Request(_Body):
    table: list[list[float]] = Field(..., description="Categories (rows) x groups (columns).")
    categories: list[str] | None = None
    groups: list[str] | None = None
    control: str | None = None


class Transition(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    stage: str | int
    from_: str = Field(..., alias="from")
    to: str
    count: int


class StagingRequest(_Body):
    transitions: list[Transition]
    threshold: str
    prevalence: float | None = None
    ci_method: Literal["wilson", "clopper-pearson", "bootstrap"] = "wilson"
    alpha: float = 0.05


class ForecastRequest(_Body):
    dates: list[str]
    values: list[float]
    cumulative: bool = True
    holdout_days: int = 14
    horizon: int = 120
    population: int | None = None
    at: str | None = None
    arima_orders: list[tuple[int, int, int]] | None = None
    ets: bool = True
    criterion: Literal["mase", "mape"] = "mase"
    alpha: float = 0.05
    seed: int = 0


@router.post("/accuracy")
def accuracy(body: AccuracyRequest) -> dict[str, Any]:
    """2x2 accuracy with CIs (and PPV/NPV at a prevalence)."""
    return _call(
        st.accuracy,
        body.tp,
        body.fp,
        body.fn,
        body.tn,
        ci_method=body.ci_method,
        prevalence=body.prevalence,
        alpha=body.alpha,
        seed=body.seed,
        n_boot=body.n_boot,
    ).to_dict()


@router.post("/roc")
def roc(body: RocRequest) -> dict[str, Any]:
    """AUC with DeLong or bootstrap CI, the curve and the Youden cutoff."""
    return _call(
        st.roc_auc,
        body.y_true,
        body.score,
        positive=body.positive,
        ci_method=body.ci_method,
        alpha=body.alpha,
        n_boot=body.n_boot,
        seed=body.seed,
        logit=body.logit,
    ).to_dict()


@router.post("/compare-roc")
def compare_roc(body: CompareRocRequest) -> dict[str, Any]:
    """DeLong's paired test, or the independent z-test when ``y_true_b`` is given."""
    if body.y_true_b is not None:
        return _call(
            st.compare_independent_aucs,
            body.y_true,
            body.score_a,
            body.y_true_b,
            body.score_b,
            positive=body.positive,
            alpha=body.alpha,
        ).to_dict()
    return _call(
        st.delong_test,
        body.y_true,
        body.score_a,
        body.score_b,
        positive=body.positive,
        alpha=body.alpha,
    ).to_dict()


@router.post("/mcnemar")
def mcnemar(body: McNemarRequest) -> dict[str, Any]:
    """McNemar's test from paired calls (with or without truth) or from counts b and c."""
    if body.b is not None or body.c is not None:
        if body.b is None or body.c is None or body.calls_a or body.calls_b:
            raise HTTPException(422, "give either both counts b and c, or calls_a and calls_b")
        return _call(st.mcnemar_table, body.b, body.c, method=body.method).to_dict()
    if body.calls_a is None or body.calls_b is None:
        raise HTTPException(422, "give calls_a and calls_b (and optionally truth), or b and c")
    return _call(
        st.mcnemar,
        body.truth,
        body.calls_a,
        body.calls_b,
        method=body.method,
        positive=body.positive,
    ).to_dict()


@router.post("/kappa")
def kappa(body: KappaRequest) -> dict[str, Any]:
    """Cohen's kappa for two raters (weights optional), Fleiss' kappa for three or more."""
    if len(body.raters) < 2:
        raise HTTPException(422, "raters must hold at least two lists of ratings")
    if len(body.raters) == 2:
        return _call(
            st.cohen_kappa,
            body.raters[0],
            body.raters[1],
            body.weights,
            categories=body.categories,
            alpha=body.alpha,
        ).to_dict()
    if body.weights is not None:
        raise HTTPException(422, "weights apply to two raters only (Fleiss' kappa is unweighted)")
    if len({len(r) for r in body.raters}) != 1:
        raise HTTPException(422, "every rater must rate the same subjects (equal list lengths)")
    table, cats = _call(st.rating_counts, list(zip(*body.raters)))
    return _call(
        st.fleiss_kappa, table, categories=cats, alpha=body.alpha, seed=body.seed
    ).to_dict()


@router.post("/icc")
def icc(body: IccRequest) -> dict[str, Any]:
    """Intraclass correlation: one form, or all six Shrout-Fleiss forms."""
    if body.form:
        return _call(st.icc, body.data, body.form, alpha=body.alpha).to_dict()
    return _call(st.icc_all, body.data, alpha=body.alpha).to_dict()


@router.post("/chi2")
def chi2(body: Chi2Request) -> dict[str, Any]:
    """Pearson chi-square of categories x groups with residuals and shares vs control."""
    return _call(
        st.chi2_distribution,
        body.table,
        body.control,
        categories=body.categories,
        groups=body.groups,
    ).to_dict()


@router.post("/staging")
def staging(body: StagingRequest) -> dict[str, Any]:
    """Per-stage 2x2 accuracy from transition counts at a threshold category."""
    records = [
        {"stage": t.stage, "from": t.from_, "to": t.to, "count": t.count} for t in body.transitions
    ]
    return _call(
        st.staging_accuracy,
        records,
        body.threshold,
        prevalence=body.prevalence,
        ci_method=body.ci_method,
        alpha=body.alpha,
        seed=0,
    ).to_dict()


@router.post("/forecast")
def forecast(body: ForecastRequest) -> dict[str, Any]:
    """ARIMA/ETS candidates scored on a hold-out; forecast and point prevalence."""
    return _call(
        st.forecast_prevalence,
        body.dates,
        body.values,
        cumulative=body.cumulative,
        holdout_days=body.holdout_days,
        horizon=body.horizon,
        population=body.population,
        at=body.at,
        arima_orders=body.arima_orders,
        ets_specs=None if body.ets else (),
        auto_ets=body.ets,
        criterion=body.criterion,
        alpha=body.alpha,
        seed=body.seed,
    ).to_dict()
