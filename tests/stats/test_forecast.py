"""Prevalence forecasting (radhub.stats._forecast) on the public Moscow series and by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from radhub.stats import EtsSpec, forecast_prevalence, mape, mase, point_prevalence
from radhub.stats.errors import InvalidInputError, SeriesError


@pytest.fixture(scope="module")
def moscow(stats_data, published) -> pd.DataFrame:
    df = pd.read_csv(stats_data("covid-moscow/moscow_cumulative.csv"))
    return df[df.date <= published["covid_moscow_readme"]["end"]]


@pytest.fixture(scope="module")
def moscow_fit(moscow, published):
    # the README's candidates: ARIMA(0,2,1), additive- and multiplicative-trend ETS
    return forecast_prevalence(
        moscow.date,
        moscow.cumulative_cases,
        cumulative=True,
        holdout_days=published["covid_moscow_readme"]["holdout_days"],
        horizon=120,
        population=published["seed001_ct04"]["population_2020_01_01"],
        at="2021-03-06",
        arima_orders=[(0, 2, 1)],
        ets_specs=[EtsSpec("add", "add"), EtsSpec("add", "mul"), EtsSpec("mul", "mul")],
    )


def test_moscow_series_reproduces_readme_scores(moscow_fit, published) -> None:
    ref = published["covid_moscow_readme"]
    c = {x.name: x for x in moscow_fit.candidates}
    assert moscow_fit.train_end == dt.date(2020, 11, 15)
    assert c["ARIMA(0,2,1)"].mape == pytest.approx(ref["arima021"]["mape"], abs=1e-3)
    assert c["ARIMA(0,2,1)"].mase == pytest.approx(ref["arima021"]["mase"], abs=1e-3)
    assert c["ETS(A,A,N)"].mape == pytest.approx(ref["ets_additive_trend"]["mape"], abs=0.01)
    assert c["ETS(A,A,N)"].mase == pytest.approx(ref["ets_additive_trend"]["mase"], abs=0.01)
    lo, hi = ref["ets_multiplicative_trend"]["mape"]
    mlo, mhi = ref["ets_multiplicative_trend"]["mase"]
    for name in ("ETS(A,M,N)", "ETS(M,M,N)"):
        assert lo <= c[name].mape <= hi, name
        assert mlo <= c[name].mase <= mhi, name


def test_same_ranking_as_the_paper(moscow_fit, published) -> None:
    # seed 001 Table 7: ARIMA(0,2,1) best, ETS ZZZ close, multiplicative ETS worst
    c = {x.name: x for x in moscow_fit.candidates}
    auto = next(x for x in moscow_fit.candidates if x.kind == "ets-auto")
    assert moscow_fit.best == "ARIMA(0,2,1)"
    assert auto.spec["selected"] == "ETS(A,A,N)"  # lowest AICc among the ETS candidates
    worst = max(moscow_fit.candidates, key=lambda x: x.mase)
    assert worst.name in ("ETS(A,M,N)", "ETS(M,M,N)")
    assert c["ARIMA(0,2,1)"].mase < auto.mase < c["ETS(M,M,N)"].mase


def test_forecast_and_point_prevalence_at_date(moscow_fit) -> None:
    f = moscow_fit.forecast
    assert len(f["date"]) == 120 and f["date"][0] == dt.date(2020, 11, 29)
    assert all(lo <= m <= hi for lo, m, hi in zip(f["lower"], f["mean"], f["upper"]))
    at = moscow_fit.at
    assert at.source == "forecast" and at.date == dt.date(2021, 3, 6)
    assert at.point_prevalence == pytest.approx(at.cumulative_cases / 12_678_079)
    lo, hi = at.point_prevalence_pi
    assert lo < at.point_prevalence < hi
    # the same order of magnitude as the paper's 9.63% (different source series)
    assert 0.07 < at.point_prevalence < 0.13
    d = moscow_fit.to_dict()
    assert {"candidates", "best", "forecast_summary", "at"} <= set(d)
    assert {"name", "spec", "mape", "mase"} <= set(d["candidates"][0])


def test_point_prevalence_of_the_paper(published) -> None:
    # seed 001: 1,220,500 forecast cases / 12,678,079 residents = 9.63%
    ref = published["seed001_ct04"]
    p = point_prevalence(ref["forecast_annual_cases"], ref["population_2020_01_01"])
    assert round(100 * p, 2) == ref["point_prevalence_pct"]
    with pytest.raises(InvalidInputError, match="population"):
        point_prevalence(10, 0)


def test_mape_and_mase_by_hand() -> None:
    assert mape([100, 200], [110, 190]) == pytest.approx((10 + 5) / 2)
    # scale: mean |diff| of training [1, 3, 6] = 2.5; errors 1 and 3 -> 2 / 2.5
    assert mase([10, 12], [9, 15], [1, 3, 6]) == pytest.approx(0.8)
    with pytest.raises(SeriesError, match="undefined"):
        mape([0, 1], [0, 1])


def _toy(n: int = 60) -> tuple[list[str], np.ndarray]:
    dates = pd.date_range("2021-01-01", periods=n).strftime("%Y-%m-%d").tolist()
    rng = np.random.default_rng(1)
    daily = np.round(50 + 2 * np.arange(n) + rng.normal(0, 5, n)).clip(0)
    return dates, daily


def test_daily_input_equals_its_cumulative_sum() -> None:
    dates, daily = _toy()
    kw = {
        "holdout_days": 7,
        "horizon": 10,
        "arima_orders": [(0, 2, 1), (1, 1, 0)],
        "ets_specs": [EtsSpec("add", "add")],
    }
    a = forecast_prevalence(dates, daily, cumulative=False, **kw)
    b = forecast_prevalence(dates, np.cumsum(daily), cumulative=True, **kw)
    assert a.to_dict() == b.to_dict()


def test_at_inside_the_series_is_observed() -> None:
    dates, daily = _toy()
    r = forecast_prevalence(
        dates,
        daily,
        cumulative=False,
        holdout_days=7,
        horizon=5,
        arima_orders=[(0, 2, 1)],
        ets_specs=(),
        auto_ets=False,
        population=10_000,
        at=dates[10],
    )
    assert r.at.source == "observed"
    assert r.at.cumulative_cases == pytest.approx(daily[:11].sum())
    assert r.at.point_prevalence == pytest.approx(daily[:11].sum() / 10_000)
    assert r.at.point_prevalence_pi is None


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d, v: (d, np.r_[v[:20], v[20:] - 1e6]), "cumulative series decreases on"),
        (lambda d, v: (d[:20] + d[21:], np.r_[v[:20], v[21:]]), "not daily: a gap follows"),
        (lambda d, v: (d[:5] + d[4:-1], v), "occurs more than once"),
        (lambda d, v: (d[:12], v[:12]), "at least 10 training days"),
        (lambda d, v: (["not a date"] + d[1:], v), "could not be parsed"),
    ],
)
def test_series_errors(mutate, match) -> None:
    dates, daily = _toy()
    d, v = mutate(dates, np.cumsum(daily))
    with pytest.raises(SeriesError, match=match):
        forecast_prevalence(d, v, holdout_days=7, horizon=5, arima_orders=[(0, 1, 0)], ets_specs=())


def test_negative_daily_counts_and_at_beyond_horizon() -> None:
    dates, daily = _toy()
    daily[3] = -1
    with pytest.raises(SeriesError, match="negative"):
        forecast_prevalence(dates, daily, cumulative=False, holdout_days=7, horizon=5)
    dates, daily = _toy()
    with pytest.raises(SeriesError, match="horizon of at least"):
        forecast_prevalence(
            dates,
            daily,
            cumulative=False,
            holdout_days=7,
            horizon=5,
            arima_orders=[(0, 1, 0)],
            ets_specs=(),
            at="2022-01-01",
        )
