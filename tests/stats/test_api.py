"""HTTP endpoints (radhub.api.stats) on an app built here with the router under /api."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fastapi import FastAPI

from radhub.api.stats import router

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router, prefix="/api")
    return TestClient(app)


def test_accuracy(client) -> None:
    r = client.post(
        "/api/stats/accuracy", json={"tp": 83, "fp": 71, "fn": 17, "tn": 381, "prevalence": 0.096}
    )
    assert r.status_code == 200
    d = r.json()
    assert d["sensitivity"] == 0.83 and round(d["ppv_at_prevalence"], 3) == 0.359
    bad = client.post("/api/stats/accuracy", json={"tp": -1, "fp": 1, "fn": 1, "tn": 1})
    assert bad.status_code == 422 and "tp must be a non-negative" in bad.json()["detail"]
    bad = client.post(
        "/api/stats/accuracy", json={"tp": 1, "fp": 1, "fn": 1, "tn": 1, "prevalence": 0}
    )
    assert bad.status_code == 422 and "prevalence" in bad.json()["detail"]


def test_roc_and_compare(client) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60).tolist()
    a, b = rng.normal(y, 1).tolist(), rng.normal(y, 2).tolist()
    d = client.post("/api/stats/roc", json={"y_true": y, "score": a}).json()
    assert 0.5 < d["auc"] < 1 and len(d["auc_ci"]) == 2 and "cutoff" in d
    d = client.post("/api/stats/compare-roc", json={"y_true": y, "score_a": a, "score_b": b}).json()
    assert d["method"] == "DeLong (paired)"
    d = client.post(
        "/api/stats/compare-roc", json={"y_true": y, "score_a": a, "score_b": b, "y_true_b": y}
    ).json()
    assert d["method"] == "independent z-test"
    bad = client.post("/api/stats/roc", json={"y_true": [1, 1, 1], "score": [1, 2, 3]})
    assert bad.status_code == 422 and "no negative cases" in bad.json()["detail"]


def test_mcnemar_kappa_icc_chi2(client, published) -> None:
    d = client.post("/api/stats/mcnemar", json={"b": 2, "c": 8}).json()
    assert d["p_value"] == pytest.approx(112 / 1024)
    d = client.post(
        "/api/stats/mcnemar", json={"truth": [1, 0, 1], "calls_a": [1, 0, 0], "calls_b": [0, 0, 1]}
    ).json()
    assert (d["b"], d["c"]) == (1, 1)
    assert client.post("/api/stats/mcnemar", json={"b": 2}).status_code == 422
    table = published["fleiss_kappa_worked_example"]["table"]
    t = np.array(table)
    raters = [[int(np.repeat(np.arange(5), row)[r]) for row in t] for r in range(14)]
    d = client.post("/api/stats/kappa", json={"raters": raters}).json()
    assert round(d["kappa"], 3) == 0.21
    d = client.post(
        "/api/stats/kappa", json={"raters": [[1, 2, 3, 3], [1, 2, 3, 2]], "weights": "quadratic"}
    ).json()
    assert d["weights"] == "quadratic"
    d = client.post(
        "/api/stats/icc", json={"data": published["shrout_fleiss_1979"]["data"], "form": "ICC(2,1)"}
    ).json()
    assert round(d["icc"], 2) == 0.29
    d = client.post("/api/stats/chi2", json={"table": [[95, 97], [5, 3]], "control": "A"}).json()
    assert d["comparisons"][0]["relative_difference"][1] == pytest.approx(-0.4)


def test_staging_and_forecast(client) -> None:
    rows = [
        {"stage": 1, "from": f, "to": t, "count": c}
        for f, t, c in [
            ("CT-0", "CT-0", 5),
            ("CT-0", "CT-3", 1),
            ("CT-3", "CT-3", 4),
            ("CT-3", "CT-0", 2),
        ]
    ]
    d = client.post(
        "/api/stats/staging", json={"transitions": rows, "threshold": "CT-3", "prevalence": 0.1}
    ).json()
    s = d["stages"][0]
    assert (s["tp"], s["fn"], s["fp"], s["tn"]) == (4, 2, 1, 5)
    bad = client.post("/api/stats/staging", json={"transitions": rows, "threshold": "CT-9"})
    assert bad.status_code == 422 and "not a category" in bad.json()["detail"]
    dates = [f"2021-01-{i:02d}" for i in range(1, 31)]
    values = np.cumsum(np.arange(30) + 10).tolist()
    d = client.post(
        "/api/stats/forecast",
        json={
            "dates": dates,
            "values": values,
            "holdout_days": 5,
            "horizon": 7,
            "arima_orders": [[0, 2, 1]],
            "ets": False,
            "population": 100000,
        },
    ).json()
    assert d["best"] == "ARIMA(0,2,1)" and len(d["forecast"]["mean"]) == 7
    values[10] = 0
    bad = client.post("/api/stats/forecast", json={"dates": dates, "values": values})
    assert bad.status_code == 422 and "decreases" in bad.json()["detail"]
