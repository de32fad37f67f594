"""Prevalence forecasting with ARIMA and ETS candidates (METHODS.md section 6).

The models are fitted to the cumulative case series (daily input is
summed first), as in seed 001 where ARIMA(0,2,1) on cumulative cases won.
Candidates are scored on a hold-out of the last N days by MAPE and MASE
(Hyndman & Koehler 2006; non-seasonal scale = in-sample mean absolute
first difference of the training series); the best is refitted on all
data and forecast with prediction intervals.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from radhub.stats._results import Result, fmt, text_table
from radhub.stats._validation import check_alpha, check_choice
from radhub.stats.errors import InvalidInputError, ModelFitError, SeriesError

__all__ = [
    "DEFAULT_ARIMA_ORDERS",
    "DEFAULT_ETS_SPECS",
    "CandidateScore",
    "EtsSpec",
    "ForecastResult",
    "PrevalenceAt",
    "forecast_prevalence",
    "mape",
    "mase",
    "point_prevalence",
]

logger = logging.getLogger(__name__)

#: ARIMA(p, d, q) grid: p, q in 0..2, d in 1..2 (a cumulative series is not stationary).
DEFAULT_ARIMA_ORDERS: tuple[tuple[int, int, int], ...] = tuple(
    (p, d, q) for d in (1, 2) for p in (0, 1, 2) for q in (0, 1, 2)
)


@dataclass(frozen=True)
class EtsSpec:
    """An ETS model without seasonality: error, trend and damping."""

    error: str = "add"  # "add" | "mul"
    trend: str | None = None  # None | "add" | "mul"
    damped: bool = False

    @property
    def name(self) -> str:
        """Hyndman's notation, e.g. ``ETS(M,Ad,N)``."""
        e = "A" if self.error == "add" else "M"
        t = {None: "N", "add": "A", "mul": "M"}[self.trend] + ("d" if self.damped else "")
        return f"ETS({e},{t},N)"


DEFAULT_ETS_SPECS: tuple[EtsSpec, ...] = tuple(
    EtsSpec(e, t, d)
    for e in ("add", "mul")
    for t in (None, "add", "mul")
    for d in ((False, True) if t else (False,))
)

CRITERIA = ("mase", "mape")


def mape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute percentage error in percent: ``mean(|100 (y - f) / y|)``."""
    y, f = np.asarray(actual, float), np.asarray(predicted, float)
    if np.any(y == 0):
        raise SeriesError("MAPE is undefined when an actual value is 0")
    return float(np.mean(np.abs(100.0 * (y - f) / y)))


def mase(actual: ArrayLike, predicted: ArrayLike, training: ArrayLike) -> float:
    """Mean absolute scaled error; scale = mean |first difference| of the training series."""
    y, f, tr = np.asarray(actual, float), np.asarray(predicted, float), np.asarray(training, float)
    scale = float(np.mean(np.abs(np.diff(tr))))
    if scale == 0:
        raise SeriesError("MASE is undefined: the training series is constant")
    return float(np.mean(np.abs(y - f)) / scale)


def point_prevalence(cases: float, population: float) -> float:
    """Point prevalence = cumulative cases / population (seed 001: 1,220,500 / 12,678,079)."""
    if not population or population <= 0:
        raise InvalidInputError(f"population must be a positive number, got {population!r}")
    if cases < 0:
        raise InvalidInputError(f"cases must be non-negative, got {cases!r}")
    return float(cases) / float(population)


@dataclass(frozen=True)
class CandidateScore(Result):
    """Hold-out accuracy of one candidate (``error`` set when it could not be fitted)."""

    name: str
    kind: str
    spec: dict[str, Any]
    mape: float | None
    mase: float | None
    aicc: float | None
    error: str | None = None

    def summary(self) -> str:  # pragma: no cover - shown through ForecastResult
        """One line."""
        return f"{self.name}: MAPE {fmt(self.mape)} MASE {fmt(self.mase)}"


@dataclass(frozen=True)
class PrevalenceAt(Result):
    """Cumulative cases (and point prevalence) at a date, observed or forecast."""

    date: dt.date
    source: str  # "observed" | "forecast"
    cumulative_cases: float
    cumulative_cases_pi: tuple[float, float] | None
    population: int | None
    point_prevalence: float | None
    point_prevalence_pi: tuple[float, float] | None

    def summary(self) -> str:  # pragma: no cover - shown through ForecastResult
        """One line."""
        return f"{self.date}: {self.cumulative_cases:.0f}"


@dataclass(frozen=True)
class ForecastResult(Result):
    """Candidates' hold-out scores, the best model and its forecast with prediction intervals."""

    candidates: tuple[CandidateScore, ...]
    best: str
    criterion: str
    alpha: float
    start: dt.date
    end: dt.date
    train_end: dt.date
    holdout_days: int
    horizon: int
    mase_scale: float
    holdout: dict[str, list[Any]]
    forecast: dict[str, list[Any]]
    at: PrevalenceAt | None = None
    observed: dict[str, list[Any]] = field(default_factory=dict, metadata={"json": False})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with a compact ``forecast_summary`` of the horizon's last day."""
        out = super().to_dict()
        last = len(self.forecast["date"]) - 1
        out["forecast_summary"] = {
            "model": self.best,
            "first_date": self.forecast["date"][0].isoformat(),
            "last_date": self.forecast["date"][last].isoformat(),
            "last_mean": float(self.forecast["mean"][last]),
            "last_pi": [float(self.forecast["lower"][last]), float(self.forecast["upper"][last])],
        }
        return out

    def summary(self) -> str:
        """Candidate table, the best model and the forecast summary."""
        rows = [
            [c.name, fmt(c.mape), fmt(c.mase), fmt(c.aicc, 1), c.error or ""]
            for c in self.candidates
        ]
        parts = [
            text_table(
                ["Candidate", "MAPE %", "MASE", "AICc", "Note"],
                rows,
                title=(
                    f"Cumulative series {self.start} to {self.end}; trained to {self.train_end}, "
                    f"hold-out {self.holdout_days} days; MASE scale {self.mase_scale:.1f} "
                    "(in-sample mean |first difference|, non-seasonal)"
                ),
            )
        ]
        last = len(self.forecast["date"]) - 1
        level = f"{100 * (1 - self.alpha):g}%"
        parts.append(
            f"Best by {self.criterion.upper()}: {self.best}; refitted on all data, "
            f"{self.horizon}-day forecast to {self.forecast['date'][last]}: "
            f"{self.forecast['mean'][last]:.0f} ({level} PI {self.forecast['lower'][last]:.0f} to "
            f"{self.forecast['upper'][last]:.0f})"
        )
        if self.at is not None:
            a = self.at
            line = f"Cumulative cases on {a.date} ({a.source}): {a.cumulative_cases:.0f}"
            if a.cumulative_cases_pi:
                line += f" ({level} PI {a.cumulative_cases_pi[0]:.0f} to {a.cumulative_cases_pi[1]:.0f})"
            if a.point_prevalence is not None:
                line += f"; point prevalence {100 * a.point_prevalence:.2f}%"
                if a.point_prevalence_pi:
                    line += (
                        f" ({100 * a.point_prevalence_pi[0]:.2f}% to "
                        f"{100 * a.point_prevalence_pi[1]:.2f}%)"
                    )
                line += f" of {a.population:,}"
            parts.append(line)
        return "\n\n".join(parts)


def _series(dates: Sequence[Any], values: ArrayLike, cumulative: bool) -> pd.Series:
    try:
        idx = pd.to_datetime(pd.Index(list(dates)), format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise SeriesError("dates could not be parsed as ISO 8601 dates (YYYY-MM-DD)") from exc
    try:
        y = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SeriesError("values must be numbers") from exc
    if y.ndim != 1 or len(idx) != y.size:
        raise SeriesError(
            f"dates and values must have the same length, got {len(idx)} and {y.size}"
        )
    if not np.all(np.isfinite(y)):
        raise SeriesError(f"values has {int(np.sum(~np.isfinite(y)))} missing value(s); fill them")
    s = pd.Series(y, index=idx.normalize()).sort_index()
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0].date()
        raise SeriesError(f"date {dup} occurs more than once; give one value per day")
    gaps = np.nonzero(np.diff(s.index.values).astype("timedelta64[D]").astype(int) != 1)[0]
    if gaps.size:
        d = s.index[gaps[0]].date()
        raise SeriesError(f"the series is not daily: a gap follows {d}; fill missing days")
    if cumulative:
        drops = np.nonzero(np.diff(s.values) < 0)[0]
        if drops.size:
            d = s.index[drops[0] + 1].date()
            raise SeriesError(
                f"cumulative series decreases on {d} ({s.iloc[drops[0]]:.0f} -> "
                f"{s.iloc[drops[0] + 1]:.0f}); a cumulative count must be non-decreasing "
                "(or pass the daily counts without cumulative=True)"
            )
        return s
    if np.any(s.values < 0):
        d = s.index[np.argmax(s.values < 0)].date()
        raise SeriesError(f"daily count on {d} is negative; daily counts must be >= 0")
    return s.cumsum()


def _fit_arima(y: NDArray[np.float64], order: tuple[int, int, int]) -> Any:
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ARIMA(y, order=order).fit()


def _fit_ets(y: NDArray[np.float64], spec: EtsSpec) -> Any:
    """Fit with estimated and with first-observation initial states; keep the lower AICc.

    Multiplicative-trend models often fail to converge from the estimated
    start on explosive epidemic curves; starting from the first two
    observations avoids that (seen on the Moscow series).
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    if (spec.error == "mul" or spec.trend == "mul") and np.any(y <= 0):
        raise ModelFitError("multiplicative components need strictly positive values")
    fits = []
    known: dict[str, float] = {"initial_level": float(y[0])}
    if spec.trend == "add":
        known["initial_trend"] = float(y[1] - y[0])
    elif spec.trend == "mul":
        known["initial_trend"] = float(y[1] / y[0])
    for init, kwargs in (("estimated", {}), ("known", known)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = ETSModel(
                    y,
                    error=spec.error,
                    trend=spec.trend,
                    damped_trend=spec.damped,
                    initialization_method=init,
                    **kwargs,
                ).fit(disp=False, maxiter=2000)
            except (ValueError, np.linalg.LinAlgError) as exc:
                logger.debug("%s with %s start failed: %s", spec.name, init, exc)
                continue
        if np.isfinite(res.aicc):
            fits.append(res)
    if not fits:
        raise ModelFitError(f"{spec.name} could not be fitted")
    return min(fits, key=lambda r: r.aicc)


def forecast_prevalence(
    dates: Sequence[Any],
    values: ArrayLike,
    *,
    cumulative: bool = True,
    holdout_days: int = 14,
    horizon: int = 120,
    population: int | None = None,
    at: str | dt.date | None = None,
    arima_orders: Sequence[tuple[int, int, int]] | None = None,
    ets_specs: Sequence[EtsSpec] | None = None,
    auto_ets: bool = True,
    criterion: str = "mase",
    alpha: float = 0.05,
    seed: int = 0,
) -> ForecastResult:
    """Choose among ARIMA and ETS candidates on a hold-out and forecast cumulative cases.

    Parameters
    ----------
    dates, values : sequences
        One value per day, no gaps. ``values`` are cumulative counts when
        ``cumulative=True`` (must not decrease), else daily new counts (>= 0),
        which are summed into a cumulative series.
    holdout_days : int
        The last N days are held out to score candidates (seed 001: 13 days,
        16-28 Nov 2020).
    horizon : int
        Days forecast after the last observation by the refitted best model.
    population : int, optional
        Population for the point prevalence (cases / population).
    at : date, optional
        Date at which to report cumulative cases and point prevalence
        (observed when inside the series, else forecast; defaults to the
        last forecast day when only ``population`` is given).
    arima_orders : sequence of (p, d, q)
        ARIMA candidates (default :data:`DEFAULT_ARIMA_ORDERS`).
    ets_specs : sequence of EtsSpec
        ETS candidates (default: additive/multiplicative error, no/additive/
        multiplicative trend, damped or not; no seasonality).
    auto_ets : bool
        Add "ETS(Z,Z,Z)": the ETS candidate with the lowest AICc on the
        training data (automatic selection as R's ``ets()``).
    criterion : {"mase", "mape"}
        Hold-out score used to pick the best candidate.
    alpha : float
        Prediction intervals at level 1 - alpha.
    seed : int
        Seed of the simulated intervals of multiplicative ETS models.

    Returns
    -------
    ForecastResult

    Raises
    ------
    SeriesError
        Unparseable dates, gaps, duplicates, a decreasing cumulative series,
        negative daily counts, or too short a series for the hold-out.
    ModelFitError
        No candidate could be fitted.
    """
    alpha = check_alpha(alpha)
    check_choice("criterion", criterion, CRITERIA)
    series = _series(dates, values, cumulative)
    n = len(series)
    if holdout_days < 1 or horizon < 1:
        raise InvalidInputError(
            f"holdout_days and horizon must be >= 1, got {holdout_days} and {horizon}"
        )
    if n - holdout_days < 10:
        raise SeriesError(
            f"{n} days leave {n - holdout_days} for training with a {holdout_days}-day hold-out; "
            "at least 10 training days are needed"
        )
    y = series.to_numpy(dtype=float)
    train, test = y[:-holdout_days], y[-holdout_days:]
    scale = float(np.mean(np.abs(np.diff(train))))
    if scale == 0:
        raise SeriesError("the training series is constant; MASE cannot be scaled")

    candidates: list[CandidateScore] = []
    fitted: dict[str, tuple[str, Any]] = {}
    predictions: dict[str, NDArray[np.float64]] = {}

    def score(name: str, kind: str, spec: dict[str, Any], fit: Any) -> None:
        try:
            res = fit(train)
            pred = np.asarray(res.forecast(holdout_days), dtype=float)
            if not np.all(np.isfinite(pred)):
                raise ModelFitError("non-finite forecast")
        except (ModelFitError, ValueError, np.linalg.LinAlgError) as exc:
            logger.info("candidate %s failed: %s", name, exc)
            candidates.append(CandidateScore(name, kind, spec, None, None, None, str(exc)))
            return
        aicc = float(res.aicc) if np.isfinite(res.aicc) else None
        candidates.append(
            CandidateScore(name, kind, spec, mape(test, pred), mase(test, pred, train), aicc)
        )
        fitted[name] = (kind, spec)
        predictions[name] = pred

    for order in DEFAULT_ARIMA_ORDERS if arima_orders is None else arima_orders:
        o = tuple(int(x) for x in order)
        if len(o) != 3 or min(o) < 0:
            raise InvalidInputError(f"ARIMA order must be three non-negative ints, got {order!r}")
        score(
            f"ARIMA{o}".replace(" ", ""),
            "arima",
            {"order": list(o)},
            lambda tr, o=o: _fit_arima(tr, o),
        )  # type: ignore[misc]
    specs = DEFAULT_ETS_SPECS if ets_specs is None else tuple(ets_specs)
    for spec in specs:
        score(
            spec.name,
            "ets",
            {"error": spec.error, "trend": spec.trend, "damped": spec.damped},
            lambda tr, spec=spec: _fit_ets(tr, spec),
        )  # type: ignore[misc]
    if auto_ets:
        ets_ok = [c for c in candidates if c.kind == "ets" and c.aicc is not None]
        if ets_ok:
            chosen = min(ets_ok, key=lambda c: c.aicc)  # type: ignore[arg-type, return-value]
            candidates.append(
                CandidateScore(
                    f"ETS(Z,Z,Z) = {chosen.name}",
                    "ets-auto",
                    dict(chosen.spec, selected=chosen.name),
                    chosen.mape,
                    chosen.mase,
                    chosen.aicc,
                )
            )
    ok = [c for c in candidates if c.error is None and c.kind != "ets-auto"]
    if not ok:
        raise ModelFitError(
            "no forecasting candidate could be fitted: "
            + "; ".join(f"{c.name}: {c.error}" for c in candidates)
        )
    best = min(ok, key=lambda c: (getattr(c, criterion), c.mape))

    # refit the best on all data and forecast the horizon
    if best.kind == "arima":
        res = _fit_arima(y, tuple(best.spec["order"]))  # type: ignore[arg-type]
        frame = res.get_forecast(horizon).summary_frame(alpha=alpha)
        mean, lower, upper = (
            frame[c].to_numpy() for c in ("mean", "mean_ci_lower", "mean_ci_upper")
        )
    else:
        spec = EtsSpec(best.spec["error"], best.spec["trend"], best.spec["damped"])
        res = _fit_ets(y, spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = res.get_prediction(start=n, end=n + horizon - 1, rng=np.random.default_rng(seed))
            frame = pred.summary_frame(alpha=alpha)
        mean, lower, upper = (np.asarray(frame[c]) for c in ("mean", "pi_lower", "pi_upper"))
    last = series.index[-1]
    f_dates = [(last + pd.Timedelta(days=i + 1)).date() for i in range(horizon)]
    forecast = {
        "date": f_dates,
        "mean": [float(v) for v in mean],
        "lower": [float(v) for v in lower],
        "upper": [float(v) for v in upper],
    }
    obs_dates = [d.date() for d in series.index]
    holdout = {
        "date": obs_dates[-holdout_days:],
        "actual": [float(v) for v in test],
        "predicted": [float(v) for v in predictions[best.name]],
    }

    at_result = None
    if at is not None or population is not None:
        at_result = _at(at, obs_dates, y, forecast, population)
    return ForecastResult(
        candidates=tuple(candidates),
        best=best.name,
        criterion=criterion,
        alpha=alpha,
        start=obs_dates[0],
        end=obs_dates[-1],
        train_end=obs_dates[-holdout_days - 1],
        holdout_days=holdout_days,
        horizon=horizon,
        mase_scale=scale,
        holdout=holdout,
        forecast=forecast,
        at=at_result,
        observed={"date": obs_dates, "cumulative": [float(v) for v in y]},
    )


def _at(
    at: str | dt.date | None,
    obs_dates: list[dt.date],
    y: NDArray[np.float64],
    forecast: dict[str, list[Any]],
    population: int | None,
) -> PrevalenceAt:
    if population is not None and (int(population) != population or population <= 0):
        raise InvalidInputError(f"population must be a positive integer, got {population!r}")
    if at is None:
        day = forecast["date"][-1]
    else:
        try:
            day = pd.Timestamp(at).date()
        except (ValueError, TypeError) as exc:
            raise SeriesError(f"at={at!r} is not a date (use YYYY-MM-DD)") from exc
    if obs_dates[0] <= day <= obs_dates[-1]:
        cases, pi, source = float(y[obs_dates.index(day)]), None, "observed"
    elif obs_dates[-1] < day <= forecast["date"][-1]:
        i = forecast["date"].index(day)
        cases, source = forecast["mean"][i], "forecast"
        pi = (forecast["lower"][i], forecast["upper"][i])
    elif day < obs_dates[0]:
        raise SeriesError(f"at={day} is before the series starts ({obs_dates[0]})")
    else:
        need = (day - obs_dates[-1]).days
        raise SeriesError(
            f"at={day} is after the forecast ends ({forecast['date'][-1]}); "
            f"use a horizon of at least {need} days"
        )
    prev = prev_pi = None
    if population is not None:
        prev = point_prevalence(max(cases, 0.0), population)
        if pi is not None:
            prev_pi = (max(pi[0], 0.0) / population, pi[1] / population)
    return PrevalenceAt(
        date=day,
        source=source,
        cumulative_cases=cases,
        cumulative_cases_pi=pi,
        population=None if population is None else int(population),
        point_prevalence=prev,
        point_prevalence_pi=prev_pi,
    )
