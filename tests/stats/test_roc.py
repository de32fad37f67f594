"""ROC, AUC, DeLong (radhub.stats._roc) against published data, a direct implementation and sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from radhub.stats import (
    apply_cutoff,
    compare_independent_aucs,
    delong_test,
    roc_auc,
    roc_band,
    roc_curve,
    youden_cutoff,
)
from radhub.stats.errors import EmptyClassError, InvalidInputError


def hanley_mcneil(published) -> tuple[np.ndarray, np.ndarray]:
    ref = published["hanley_mcneil_1982_ct"]
    ratings = np.array(ref["ratings"])
    y = np.r_[np.zeros(sum(ref["normal"])), np.ones(sum(ref["abnormal"]))]
    s = np.r_[np.repeat(ratings, ref["normal"]), np.repeat(ratings, ref["abnormal"])]
    return y, s


def delong_direct(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. 1988 structural components by the O(mn) definition (independent of Sun & Xu)."""
    pos, neg = y == 1, y == 0
    m, n = pos.sum(), neg.sum()
    v10s, v01s, aucs = [], [], []
    for s in scores:
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    s10 = np.atleast_2d(np.cov(np.array(v10s)))
    s01 = np.atleast_2d(np.cov(np.array(v01s)))
    return np.array(aucs), s10 / m + s01 / n


def test_hanley_mcneil_1982_auc_and_se(published) -> None:
    # Hanley & McNeil 1982, Radiology 143:29, Table 1: area 0.893, SE 0.032
    y, s = hanley_mcneil(published)
    r = roc_auc(y, s)
    assert r.auc == pytest.approx(published["hanley_mcneil_1982_ct"]["auc"], abs=5e-4)
    # DeLong's nonparametric SE is close to (not identical with) H&M's exponential approximation
    assert r.auc_se == pytest.approx(
        published["hanley_mcneil_1982_ct"]["se_hanley_mcneil"], abs=2e-3
    )
    _, cov = delong_direct(y, [s])
    assert r.auc_se == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-12)
    z = norm.ppf(0.975)
    assert r.auc_ci == pytest.approx((r.auc - z * r.auc_se, r.auc + z * r.auc_se))
    assert r.n_positive == 51 and r.n_negative == 58


def test_fast_delong_equals_direct_definition_with_ties() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 150)
    a = np.round(rng.normal(y, 1.0), 1)  # rounding creates ties
    b = np.round(rng.normal(0.5 * y, 1.0), 1)
    t = delong_test(y, a, b)
    aucs, cov = delong_direct(y, [a, b])
    assert (t.auc_a, t.auc_b) == pytest.approx(tuple(aucs), rel=1e-12)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert t.se == pytest.approx(math.sqrt(var), rel=1e-10)
    assert t.z == pytest.approx((aucs[0] - aucs[1]) / math.sqrt(var), rel=1e-10)
    assert t.p_value == pytest.approx(2 * norm.sf(abs(t.z)))
    assert t.correlation == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]))


def test_delong_test_of_identical_scores_is_null() -> None:
    y = [0, 0, 0, 1, 1, 1, 0, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.5, 0.9]
    t = delong_test(y, s, s)
    assert t.difference == 0 and t.p_value == 1.0


def test_independent_aucs_z_test_by_hand() -> None:
    rng = np.random.default_rng(3)
    ya, yb = rng.integers(0, 2, 80), rng.integers(0, 2, 90)
    sa, sb = rng.normal(ya, 1), rng.normal(0.3 * yb, 1)
    r = compare_independent_aucs(ya, sa, yb, sb)
    ra, rb = roc_auc(ya, sa), roc_auc(yb, sb)
    se = math.hypot(ra.auc_se, rb.auc_se)
    assert r.difference == pytest.approx(ra.auc - rb.auc)
    assert r.z == pytest.approx((ra.auc - rb.auc) / se)
    assert r.correlation is None


def test_auc_and_curve_agree_with_sklearn() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y, 1.2), 1)
    r = roc_auc(y, s)
    assert r.auc == pytest.approx(roc_auc_score(y, s))
    fpr, tpr, thr = sk_roc_curve(y, s, drop_intermediate=False)
    c = roc_curve(y, s)
    np.testing.assert_allclose(c.fpr, fpr)
    np.testing.assert_allclose(c.tpr, tpr)
    np.testing.assert_allclose(c.thresholds[1:], thr[1:])


def test_youden_cutoff_and_apply_cutoff() -> None:
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    # thresholds: 0.7 gives Se 3/4, Sp 4/4 (J 0.75); 0.4 gives Se 4/4, Sp 3/4 (J 0.75): tie -> higher
    assert youden_cutoff(y, s) == 0.7
    r = roc_auc(y, s)
    assert (r.cutoff, r.sensitivity, r.specificity, r.youden) == (0.7, 0.75, 1.0, 0.75)
    calls = apply_cutoff(s, r.cutoff)
    assert calls.tolist() == [False, False, False, False, False, True, True, True]
    # a cutoff chosen on training data is applied unchanged to new scores
    assert apply_cutoff([0.69, 0.7], 0.7).tolist() == [False, True]


def test_string_labels_and_positive() -> None:
    r = roc_auc(
        ["benign", "malignant", "benign", "malignant"], [0.1, 0.8, 0.4, 0.35], positive="malignant"
    )
    assert r.auc == 0.75


def test_bootstrap_ci_is_seeded_and_near_delong(published) -> None:
    y, s = hanley_mcneil(published)
    a = roc_auc(y, s, ci_method="bootstrap", seed=5, n_boot=1000)
    assert a.to_dict() == roc_auc(y, s, ci_method="bootstrap", seed=5, n_boot=1000).to_dict()
    d = roc_auc(y, s)
    assert a.auc_ci == pytest.approx(d.auc_ci, abs=0.02)
    assert a.auc_se == pytest.approx(d.auc_se, rel=0.15)


def test_logit_ci_stays_inside_unit_interval() -> None:
    y = [0] * 10 + [1] * 10
    s = list(range(20))
    s[9], s[10] = s[10], s[9]  # AUC just below 1
    r = roc_auc(y, s, logit=True)
    assert 0 < r.auc_ci[0] < r.auc < r.auc_ci[1] < 1
    assert r.ci_method == "delong-logit"


def test_roc_band_brackets_the_curve() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    s = rng.normal(y, 1)
    b = roc_band(y, s, n_boot=200, seed=1)
    assert np.all(b.tpr_low <= b.tpr_high)
    assert b.tpr_low[0] >= 0 and b.tpr_high[-1] == pytest.approx(1.0)


def test_roc_errors() -> None:
    with pytest.raises(EmptyClassError, match="no negative cases"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="does not occur"):
        roc_auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="same length"):
        roc_auc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="missing or infinite"):
        roc_auc([0, 1, 0, 1], [0.1, float("nan"), 0.3, 0.5])
    with pytest.raises(InvalidInputError, match="at least 2 positive"):
        roc_auc([0, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="ci_method"):
        roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], ci_method="hanley")


# --- properties --------------------------------------------------------------------------------
@st.composite
def labelled_scores(draw):
    n = draw(st.integers(min_value=4, max_value=60))
    y = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    if y.sum() < 2 or (1 - y).sum() < 2:
        y[:2], y[2:4] = 1, 0
    s = draw(arrays(np.float64, n, elements=st.integers(-20, 20).map(float)))
    return y, s


@settings(max_examples=60, deadline=None)
@given(labelled_scores())
def test_auc_of_negated_score_is_one_minus_auc(data) -> None:
    y, s = data
    a, b = roc_auc(y, s), roc_auc(y, -s)
    assert a.auc + b.auc == pytest.approx(1.0)
    assert a.auc_se == pytest.approx(b.auc_se)
    assert a.auc == pytest.approx(roc_auc_score(y, s))


@settings(max_examples=40, deadline=None)
@given(labelled_scores())
def test_auc_ci_contains_the_estimate(data) -> None:
    y, s = data
    for kw in ({}, {"logit": True}, {"ci_method": "bootstrap", "n_boot": 200, "seed": 0}):
        r = roc_auc(y, s, **kw)
        assert r.auc_ci[0] - 1e-12 <= r.auc <= r.auc_ci[1] + 1e-12


@settings(max_examples=40, deadline=None)
@given(labelled_scores())
def test_swapping_labels_swaps_sensitivity_and_specificity_of_the_curve(data) -> None:
    y, s = data
    c = roc_curve(y, s)
    d = roc_curve(1 - y, -s)
    # the swapped problem traverses the same curve reflected: (fpr, tpr) -> (1 - tpr, 1 - fpr)
    np.testing.assert_allclose(np.sort(1 - c.tpr), np.sort(d.fpr))
    np.testing.assert_allclose(np.sort(1 - c.fpr), np.sort(d.tpr))
