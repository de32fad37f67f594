"""2x2 accuracy (radhub.stats._accuracy, _proportion) against hand calculations and references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from radhub.stats import accuracy, accuracy_from_labels, predictive_values, proportion_ci
from radhub.stats.errors import (
    EmptyClassError,
    InvalidCountsError,
    InvalidInputError,
    InvalidProbabilityError,
)


# --- proportion CIs ------------------------------------------------------------------------
def test_proportion_ci_newcombe_1998_table1(published) -> None:
    # Newcombe 1998, Stat Med 17:857, Table I (methods 3 and 5)
    for case in published["newcombe_1998_table1"]["cases"]:
        w = proportion_ci(case["x"], case["n"], "wilson")
        cp = proportion_ci(case["x"], case["n"], "clopper-pearson")
        assert w == pytest.approx(case["wilson"], abs=1e-4)
        assert cp == pytest.approx(case["clopper_pearson"], abs=1e-4)


@pytest.mark.parametrize("x,n", [(0, 7), (3, 7), (7, 7), (83, 100), (381, 452), (1, 1000)])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_proportion_ci_agrees_with_statsmodels(x: int, n: int, alpha: float) -> None:
    assert proportion_ci(x, n, "wilson", alpha) == pytest.approx(
        proportion_confint(x, n, alpha, method="wilson"), abs=1e-10
    )
    assert proportion_ci(x, n, "clopper-pearson", alpha) == pytest.approx(
        proportion_confint(x, n, alpha, method="beta"), abs=1e-10
    )


def test_proportion_bootstrap_is_seeded() -> None:
    a = proportion_ci(30, 100, "bootstrap", seed=3)
    assert a == proportion_ci(30, 100, "bootstrap", seed=3)
    assert a[0] < 0.3 < a[1]
    # close to the Wilson interval for a moderate n
    assert a == pytest.approx(proportion_ci(30, 100), abs=0.03)


@pytest.mark.parametrize(
    "args,error,match",
    [
        ((-1, 10), InvalidCountsError, "successes must be a non-negative"),
        ((11, 10), InvalidCountsError, "cannot exceed n"),
        ((0, 0), EmptyClassError, "n is 0"),
        ((1.5, 10), InvalidCountsError, "integer"),
    ],
)
def test_proportion_ci_errors(args, error, match) -> None:
    with pytest.raises(error, match=match):
        proportion_ci(*args)


# --- accuracy: hand calculation --------------------------------------------------------------
def test_accuracy_hand_calculation() -> None:
    # seed 001 stage 1 (Table 2): TP 83, FN 17, FP 71, TN 381
    r = accuracy(83, 71, 17, 381)
    assert r.sensitivity == pytest.approx(83 / 100)
    assert r.specificity == pytest.approx(381 / 452)
    assert r.ppv == pytest.approx(83 / 154)
    assert r.npv == pytest.approx(381 / 398)
    assert r.accuracy == pytest.approx(464 / 552)
    assert r.youden == pytest.approx(0.83 + 381 / 452 - 1)
    lr_pos = 0.83 / (71 / 452)
    lr_neg = 0.17 / (381 / 452)
    assert r.lr_pos == pytest.approx(lr_pos)
    assert r.lr_neg == pytest.approx(lr_neg)
    assert r.dor == pytest.approx(83 * 381 / (71 * 17))
    assert r.dor == pytest.approx(lr_pos / lr_neg)
    # Simel et al. 1991 log method, by hand
    se = math.sqrt(1 / 83 - 1 / 100 + 1 / 71 - 1 / 452)
    z = 1.959963984540054
    assert r.lr_pos_ci == pytest.approx((lr_pos * math.exp(-z * se), lr_pos * math.exp(z * se)))
    se_dor = math.sqrt(1 / 83 + 1 / 71 + 1 / 17 + 1 / 381)
    assert r.dor_ci[1] == pytest.approx(r.dor * math.exp(z * se_dor))
    assert r.zero_cell_correction == 0.0
    assert r.sensitivity_ci == pytest.approx(proportion_confint(83, 100, method="wilson"))


def test_zero_cell_adds_one_half_to_ratios_only() -> None:
    r = accuracy(10, 0, 5, 20)
    assert r.zero_cell_correction == 0.5
    assert r.specificity == 1.0  # proportions are never corrected
    assert r.lr_pos == pytest.approx((10.5 / 16) / (0.5 / 21))
    assert r.dor == pytest.approx(10.5 * 20.5 / (0.5 * 5.5))
    assert all(math.isfinite(x) for x in (*r.lr_pos_ci, *r.dor_ci))
    assert "0.5 added" in r.summary()


def test_undefined_ppv_is_nan_and_null_in_json() -> None:
    r = accuracy(0, 0, 5, 20)  # the test never calls positive
    assert math.isnan(r.ppv)
    assert r.to_dict()["ppv"] is None
    assert r.to_dict()["ppv_ci"] == [None, None]


def test_ppv_npv_at_prevalence_formula_and_ci() -> None:
    r = accuracy(83, 71, 17, 381, prevalence=0.096)
    se, sp, p = 0.83, 381 / 452, 0.096
    assert r.ppv_at_prevalence == pytest.approx(se * p / (se * p + (1 - sp) * (1 - p)))
    assert r.npv_at_prevalence == pytest.approx(sp * (1 - p) / (sp * (1 - p) + (1 - se) * p))
    # CI: the Se and Sp Wilson bounds carried through the formulas
    (sl, su), (pl, pu) = r.sensitivity_ci, r.specificity_ci
    assert r.ppv_at_prevalence_ci[0] == pytest.approx(predictive_values(sl, pl, p)[0])
    assert r.npv_at_prevalence_ci[1] == pytest.approx(predictive_values(su, pu, p)[1])
    d = r.to_dict()
    assert {"ppv_at_prevalence", "npv_at_prevalence", "ppv_at_prevalence_ci"} <= set(d)
    assert "ppv_at_prevalence" not in accuracy(83, 71, 17, 381).to_dict()


def test_youden_ci_is_mover_of_se_and_sp_intervals() -> None:
    r = accuracy(40, 10, 10, 40)
    se, sp = 0.8, 0.8
    (sl, su), (pl, pu) = r.sensitivity_ci, r.specificity_ci
    assert r.youden_ci[0] == pytest.approx(0.6 - math.hypot(se - sl, sp - pl))
    assert r.youden_ci[1] == pytest.approx(0.6 + math.hypot(su - se, pu - sp))


def test_bootstrap_cis_are_seeded_and_close_to_wilson() -> None:
    a = accuracy(83, 71, 17, 381, ci_method="bootstrap", seed=1, n_boot=1000, prevalence=0.1)
    b = accuracy(83, 71, 17, 381, ci_method="bootstrap", seed=1, n_boot=1000, prevalence=0.1)
    assert a == b
    w = accuracy(83, 71, 17, 381)
    assert a.sensitivity_ci == pytest.approx(w.sensitivity_ci, abs=0.02)
    assert a.lr_pos_ci == pytest.approx(w.lr_pos_ci, rel=0.1)
    assert a.ppv_at_prevalence_ci[0] < a.ppv_at_prevalence < a.ppv_at_prevalence_ci[1]


def test_accuracy_from_labels_matches_sklearn_confusion_matrix() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    pred = np.where(rng.random(200) < 0.8, y, 1 - y)
    tn, fp, fn, tp = confusion_matrix(y, pred).ravel()
    r = accuracy_from_labels(y, pred)
    assert (r.tp, r.fp, r.fn, r.tn) == (tp, fp, fn, tn)
    s = accuracy_from_labels(
        ["m" if v else "b" for v in y], ["m" if v else "b" for v in pred], positive="m"
    )
    assert s.sensitivity == r.sensitivity
    # all-negative calls are legal
    assert accuracy_from_labels([1, 0, 1], [0, 0, 0]).sensitivity == 0.0


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"tp": -1}, InvalidCountsError, "tp must be a non-negative integer"),
        ({"tp": 0, "fn": 0}, EmptyClassError, "no condition-present"),
        ({"fp": 0, "tn": 0}, EmptyClassError, "no condition-absent"),
        ({"prevalence": 0.0}, InvalidProbabilityError, "prevalence must be strictly between"),
        ({"prevalence": 1.2}, InvalidProbabilityError, "prevalence"),
        ({"ci_method": "wald"}, InvalidInputError, "ci_method must be one of"),
        ({"alpha": 5}, InvalidProbabilityError, "alpha"),
    ],
)
def test_accuracy_errors(kwargs, error, match) -> None:
    base = {"tp": 5, "fp": 5, "fn": 5, "tn": 5}
    base.update(kwargs)
    counts = {k: base.pop(k) for k in ("tp", "fp", "fn", "tn")}
    with pytest.raises(error, match=match):
        accuracy(**counts, **base)


def test_labels_errors() -> None:
    with pytest.raises(EmptyClassError, match="no negative cases"):
        accuracy_from_labels([1, 1], [1, 0])
    with pytest.raises(InvalidInputError, match="same length"):
        accuracy_from_labels([1, 0], [1, 0, 1])
    with pytest.raises(InvalidInputError, match="does not occur"):
        accuracy_from_labels(["a", "b"], ["a", "b"], positive="c")


# --- properties --------------------------------------------------------------------------------
counts = st.integers(min_value=0, max_value=300)
positive = st.integers(min_value=1, max_value=300)


@settings(max_examples=60, deadline=None)
@given(
    tp=counts,
    fn=counts,
    fp=counts,
    tn=counts,
    method=st.sampled_from(["wilson", "clopper-pearson"]),
    p=st.floats(min_value=0.01, max_value=0.99),
)
def test_cis_contain_the_estimate(tp, fn, fp, tn, method, p) -> None:
    if tp + fn == 0 or fp + tn == 0:
        return
    r = accuracy(tp, fp, fn, tn, ci_method=method, prevalence=p)
    for key in (
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "accuracy",
        "youden",
        "lr_pos",
        "lr_neg",
        "dor",
        "ppv_at_prevalence",
        "npv_at_prevalence",
    ):
        est, (low, high) = getattr(r, key), getattr(r, key + "_ci")
        if math.isfinite(est) and math.isfinite(low):
            assert low - 1e-12 <= est <= high + 1e-12, key


@settings(max_examples=25, deadline=None)
@given(tp=positive, fn=positive, fp=positive, tn=positive)
def test_bootstrap_cis_contain_the_proportions(tp, fn, fp, tn) -> None:
    r = accuracy(tp, fp, fn, tn, ci_method="bootstrap", seed=0, n_boot=400)
    for key in ("sensitivity", "specificity", "accuracy"):
        low, high = getattr(r, key + "_ci")
        assert low - 1e-12 <= getattr(r, key) <= high + 1e-12


@settings(max_examples=60, deadline=None)
@given(tp=counts, fn=counts, fp=counts, tn=counts)
def test_swapping_labels_swaps_se_and_sp(tp, fn, fp, tn) -> None:
    if tp + fn == 0 or fp + tn == 0:
        return
    r = accuracy(tp, fp, fn, tn)
    # relabel: the absent class becomes "positive", calls flip too
    s = accuracy(tn, fn, fp, tp)
    assert s.sensitivity == pytest.approx(r.specificity)
    assert s.specificity == pytest.approx(r.sensitivity)
    assert s.sensitivity_ci == pytest.approx(r.specificity_ci)


@settings(max_examples=60, deadline=None)
@given(tp=positive, fn=positive, fp=positive, tn=positive)
def test_predictive_values_at_sample_prevalence_equal_direct(tp, fn, fp, tn) -> None:
    n = tp + fn + fp + tn
    r = accuracy(tp, fp, fn, tn, prevalence=(tp + fn) / n)
    assert r.ppv_at_prevalence == pytest.approx(r.ppv, rel=1e-9)
    assert r.npv_at_prevalence == pytest.approx(r.npv, rel=1e-9)
