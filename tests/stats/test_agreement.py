"""McNemar, Cohen's and Fleiss' kappa (radhub.stats._agreement) and ICC (_icc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from radhub.stats import (
    cohen_kappa,
    cohen_kappa_table,
    fleiss_kappa,
    icc,
    icc_all,
    mcnemar,
    mcnemar_table,
    rating_counts,
)
from radhub.stats.errors import InvalidCountsError, InvalidInputError, UnknownCategoryError


# --- McNemar -----------------------------------------------------------------------------------
@pytest.mark.parametrize("b,c", [(5, 15), (0, 6), (30, 18), (101, 59), (1, 0), (9, 7)])
def test_mcnemar_agrees_with_statsmodels(b: int, c: int) -> None:
    table = [[10, b], [c, 20]]
    exact = sm_mcnemar(table, exact=True)
    chi = sm_mcnemar(table, exact=False, correction=False)
    chi_cc = sm_mcnemar(table, exact=False, correction=True)
    assert mcnemar_table(b, c, method="exact").p_value == pytest.approx(exact.pvalue)
    assert mcnemar_table(b, c, method="chi2").statistic == pytest.approx(chi.statistic)
    assert mcnemar_table(b, c, method="chi2").p_value == pytest.approx(chi.pvalue)
    assert mcnemar_table(b, c, method="chi2-cc").p_value == pytest.approx(chi_cc.pvalue)


def test_mcnemar_by_hand() -> None:
    # b = 2, c = 8: exact two-sided p = 2 * P(X <= 2 | 10, 1/2) = 2 * 56 / 1024
    assert mcnemar_table(2, 8, method="exact").p_value == pytest.approx(112 / 1024)
    # chi-square with Edwards' correction: (|2 - 8| - 1)^2 / 10 = 2.5
    assert mcnemar_table(2, 8, method="chi2-cc").statistic == pytest.approx(2.5)
    assert mcnemar_table(0, 0).p_value == 1.0
    # b == c: no continuity correction past zero, p = 1 (as R's mcnemar.test; statsmodels
    # would square |b - c| - 1 = -1 and report p = 0.84)
    assert mcnemar_table(12, 12, method="chi2-cc").p_value == 1.0


def test_mcnemar_auto_switches_at_25_discordant_pairs() -> None:
    assert mcnemar_table(10, 14).method == "exact"
    assert mcnemar_table(10, 15).method == "chi2-cc"


def test_mcnemar_from_calls_with_and_without_truth() -> None:
    truth = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0]
    a = [1, 1, 1, 0, 0, 0, 1, 0, 1, 0]  # wrong on cases 3, 6
    b = [1, 0, 0, 1, 0, 1, 0, 0, 0, 0]  # wrong on cases 1, 2, 5, 8
    r = mcnemar(truth, a, b)
    assert (r.b, r.c) == (4, 2)  # A right & B wrong: 1, 2, 5, 8; A wrong & B right: 3, 6
    assert r.proportion_a == 0.8 and r.proportion_b == 0.6
    r2 = mcnemar(None, a, b)  # compare positive calls: A+B- on cases 1, 2, 6, 8; A-B+ on 3, 5
    assert (r2.b, r2.c) == (4, 2)
    with pytest.raises(InvalidInputError, match="equal length"):
        mcnemar(None, [1, 0], [1])


# --- Cohen's kappa ------------------------------------------------------------------------------
def test_kappa_fleiss_levin_paik_table_18_1(published) -> None:
    ref = published["fleiss_levin_paik_2003_table18_1"]
    r = cohen_kappa_table(ref["table"])
    assert r.kappa == pytest.approx(ref["kappa"], abs=5e-4)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_se_agrees_with_statsmodels(published, weights) -> None:
    # statsmodels implements the Fleiss, Cohen & Everitt (1969) variances too
    table = np.array(published["fleiss_levin_paik_2003_table18_1"]["table"])
    r = cohen_kappa_table(table, weights)
    sm = sm_cohens_kappa(table, wt=weights)
    assert r.kappa == pytest.approx(sm.kappa)
    assert r.se == pytest.approx(sm.std_kappa)
    assert r.se_null == pytest.approx(sm.std_kappa0)
    assert r.kappa_ci[0] < r.kappa < r.kappa_ci[1]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_from_ratings_agrees_with_sklearn(weights) -> None:
    rng = np.random.default_rng(4)
    r1 = rng.integers(0, 5, 200)
    r2 = np.clip(r1 + rng.integers(-1, 2, 200), 0, 4)
    assert cohen_kappa(r1, r2, weights).kappa == pytest.approx(
        cohen_kappa_score(r1, r2, weights=weights)
    )


def test_kappa_hand_calculation_2x2() -> None:
    # po = 0.7; pe = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.4
    r = cohen_kappa(["y"] * 5 + ["n"] * 5, ["y", "y", "y", "y", "n", "y", "y", "n", "n", "n"])
    assert (r.observed_agreement, r.expected_agreement) == pytest.approx((0.7, 0.5))
    assert r.kappa == pytest.approx(0.4)


def test_kappa_category_order_and_errors() -> None:
    r = cohen_kappa(
        ["CT-0", "CT-2"], ["CT-1", "CT-2"], "linear", categories=["CT-0", "CT-1", "CT-2"]
    )
    assert r.categories == ["CT-0", "CT-1", "CT-2"]
    with pytest.raises(UnknownCategoryError, match="not among categories"):
        cohen_kappa(["a", "b"], ["a", "c"], categories=["a", "b"])
    with pytest.raises(InvalidInputError, match="weights must be one of"):
        cohen_kappa([1, 2], [1, 2], "cubic")
    with pytest.raises(InvalidInputError, match="undefined"):
        cohen_kappa([1, 1], [1, 1])


# --- Fleiss' kappa -----------------------------------------------------------------------------
def test_fleiss_kappa_worked_example(published) -> None:
    ref = published["fleiss_kappa_worked_example"]
    r = fleiss_kappa(ref["table"])
    assert r.kappa == pytest.approx(ref["kappa"], abs=5e-4)
    assert r.observed_agreement == pytest.approx(ref["p_bar"], abs=5e-4)
    assert r.expected_agreement == pytest.approx(ref["p_e"], abs=5e-4)
    assert r.kappa == pytest.approx(sm_fleiss_kappa(np.array(ref["table"])))
    assert r.kappa_ci[0] < r.kappa < r.kappa_ci[1]


def test_fleiss_kappa_from_ratings() -> None:
    ratings = [["a", "a", "a"], ["a", "b", "b"], ["b", "b", "b"], ["a", "a", "b"]]
    table, cats = rating_counts(ratings)
    assert cats == ["a", "b"]
    assert table.tolist() == [[3, 0], [1, 2], [0, 3], [2, 1]]
    assert fleiss_kappa(table).kappa == pytest.approx(sm_fleiss_kappa(table))
    with pytest.raises(InvalidInputError, match="same number"):
        fleiss_kappa([[3, 0], [1, 1]])
    with pytest.raises(InvalidCountsError):
        fleiss_kappa([[3, -1], [1, 1]])


# --- ICC ---------------------------------------------------------------------------------------
def test_icc_shrout_fleiss_1979(published) -> None:
    # Shrout & Fleiss 1979, Table 4; CIs as R psych::ICC prints for the same data
    ref = published["shrout_fleiss_1979"]
    table = icc_all(ref["data"])
    for form, value in ref["icc"].items():
        r = table[form]
        assert r.icc == pytest.approx(value, abs=0.005), form
        lo, hi = ref["ci_psych"][form]
        assert r.icc_ci[0] == pytest.approx(lo, abs=0.0015 if lo != round(lo, 2) else 0.005), form
        assert r.icc_ci[1] == pytest.approx(hi, abs=0.005), form
    assert table["ICC(1,1)"].f == pytest.approx(ref["f"]["ICC(1,1)"], abs=0.05)
    assert table["ICC(3,1)"].f == pytest.approx(ref["f"]["ICC(3,1)"], abs=0.05)


def test_icc_forms_and_aliases(published) -> None:
    data = published["shrout_fleiss_1979"]["data"]
    assert icc(data).form == "ICC(3,1)"
    assert icc(data, "ICC(C,1)").icc == icc(data, "ICC3").icc == icc(data, "icc(3,1)").icc
    assert icc(data, "ICC(A,k)").form == "ICC(2,k)"
    with pytest.raises(InvalidInputError, match="form must be one of"):
        icc(data, "ICC(4,1)")


def test_icc_perfect_agreement_and_errors() -> None:
    x = np.arange(10.0)
    assert icc(np.c_[x, x], "ICC(2,1)").icc == pytest.approx(1.0)
    # a constant offset keeps consistency (3,1) at 1 but lowers absolute agreement (2,1)
    assert icc(np.c_[x, x + 3], "ICC(3,1)").icc == pytest.approx(1.0)
    assert icc(np.c_[x, x + 3], "ICC(2,1)").icc < 0.9
    with pytest.raises(InvalidInputError, match="missing"):
        icc([[1, 2], [3, math.nan]])
    with pytest.raises(InvalidInputError, match="at least 2"):
        icc([[1, 2]])
