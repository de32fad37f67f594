"""Chi-square distribution comparison (radhub.stats._distribution) against scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency
from scipy.stats.contingency import association
from statsmodels.stats.contingency_tables import Table

from radhub.stats import chi2_distribution
from radhub.stats.errors import InvalidCountsError, UnknownCategoryError

# categories CT-0..CT-4 (rows) x groups (columns); invented counts in the shape of seed 001's study
TABLE = np.array(
    [
        [300, 250, 280],
        [400, 420, 410],
        [200, 230, 215],
        [80, 85, 77],
        [20, 15, 18],
    ]
)
CATS = ["CT-0", "CT-1", "CT-2", "CT-3", "CT-4"]
GROUPS = ["no AI", "AI-A", "AI-B"]


def test_agrees_with_scipy_and_statsmodels() -> None:
    r = chi2_distribution(TABLE, categories=CATS, groups=GROUPS)
    stat, p, df, expected = chi2_contingency(TABLE, correction=False)
    assert r.chi2 == pytest.approx(stat)
    assert r.p_value == pytest.approx(p)
    assert r.df == df
    np.testing.assert_allclose(r.expected, expected)
    t = Table(TABLE)
    np.testing.assert_allclose(r.standardized_residuals, t.standardized_resids, atol=1e-12)
    np.testing.assert_allclose(r.pearson_residuals, t.resid_pearson, atol=1e-12)
    np.testing.assert_allclose(r.contributions, t.chi2_contribs, atol=1e-12)
    assert r.contributions.sum() == pytest.approx(r.chi2)
    assert r.cramers_v == pytest.approx(association(TABLE, method="cramer"))


def test_relative_share_difference_against_control() -> None:
    # CT-4: 5% of the control group, 3% of group B -> "assigned 40% less often"
    table = [[95, 97], [5, 3]]
    r = chi2_distribution(table, "no AI", categories=["other", "CT-4"], groups=["no AI", "AI-B"])
    (cmp,) = r.comparisons
    assert cmp.group == "AI-B"
    assert cmp.relative_difference[1] == pytest.approx(-0.4)
    assert cmp.relative_difference[0] == pytest.approx(0.97 / 0.95 - 1)
    stat, p, _, _ = chi2_contingency(np.array(table)[:, [1, 0]], correction=False)
    assert cmp.chi2 == pytest.approx(stat) and cmp.p_value == pytest.approx(p)
    assert "-40.0%" in r.summary()


def test_control_by_index_and_errors() -> None:
    r = chi2_distribution(TABLE, 0, groups=GROUPS)
    assert r.control == "no AI" and [c.group for c in r.comparisons] == ["AI-A", "AI-B"]
    with pytest.raises(UnknownCategoryError, match="not a column"):
        chi2_distribution(TABLE, "AI-Z", groups=GROUPS)
    with pytest.raises(InvalidCountsError, match="no observations"):
        chi2_distribution([[1, 2], [0, 0]])
    with pytest.raises(InvalidCountsError, match="non-negative integer"):
        chi2_distribution([[1, -2], [3, 4]])
