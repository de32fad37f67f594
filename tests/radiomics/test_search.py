"""Model search: the no-leakage rules of METHODS.md 7, a pure-noise control and a positive control."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from radhub.radiomics import (
    SEARCH_PRESETS,
    FeatureCleaner,
    PearsonFilter,
    PipelineSpec,
    RankSelector,
    SearchSpace,
    build_pipeline,
    cross_validate_grid,
    rank_features,
    run_search,
    split_train_test,
)
from radhub.radiomics.errors import SearchError
from radhub.stats import roc_auc
from tests.radiomics.conftest import noise_table

QUICK = SEARCH_PRESETS["quick"]
#: The quick grid without the random forest (whose fits dominate the run time).
FAST = SearchSpace(
    normalisers=("zscore", "minmax"),
    reducers=("none", "pca"),
    selectors=("anova", "kw"),
    n_features=(1, 2, 3, 5),
    classifiers=("lr", "lda", "nb"),
    n_splits=3,
)


def _xy(table):
    features = [c for c in table.columns if c.startswith("f")]
    return table[features].to_numpy(float), (table["label"] == "M").to_numpy(int)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pure_noise_gives_chance_auc(seed: int) -> None:
    """Random features and random labels: the test AUC's CI must contain 0.5.

    The CV AUC of the winner is optimistic (best of many), which is why the
    test set is kept apart; a leak would show up as a test AUC far above 0.5.
    """
    X, y = _xy(noise_table(n=150, p=40, seed=seed))
    result = run_search(X, y, space=FAST, seed=seed, progress=False)
    lo, hi = result.test_roc.auc_ci
    assert lo <= 0.5 <= hi, (result.test_roc.auc, lo, hi)
    assert result.cv.cv_auc > result.test_roc.auc - 0.3  # the CV optimum is reported, not hidden


def test_signal_is_found() -> None:
    X, y = _xy(noise_table(n=150, p=40, seed=3, signal=2.0))
    result = run_search(X, y, space=FAST, seed=3, progress=False)
    assert result.test_roc.auc_ci[0] > 0.7
    assert result.test_accuracy.accuracy > 0.7
    # the selected feature is the informative one
    selector = result.pipeline.named_steps["select"]
    cleaner = result.pipeline.named_steps["clean"]
    if result.best.reducer == "none":
        assert 0 in cleaner.support_[selector.support_]


def test_test_rows_never_reach_the_search() -> None:
    """Changing the test rows' features leaves every CV number and the chosen pipeline unchanged."""
    X, y = _xy(noise_table(n=90, p=20, seed=4, signal=1.0))
    train, test = split_train_test(y, test_size=0.3, seed=4)
    a = run_search(X, y, space=FAST, seed=4, split=(train, test), progress=False)
    poisoned = X.copy()
    poisoned[test] = 1e6 * np.random.default_rng(0).normal(size=poisoned[test].shape)
    b = run_search(poisoned, y, space=FAST, seed=4, split=(train, test), progress=False)
    np.testing.assert_array_equal(a.cv.table["cv_auc"].to_numpy(), b.cv.table["cv_auc"].to_numpy())
    assert a.best == b.best and a.cutoff == b.cutoff
    np.testing.assert_array_equal(a.train_scores, b.train_scores)


def test_cv_scores_are_out_of_fold() -> None:
    """Each fold is fitted on its own training rows: the pooled CV AUC equals a manual fold loop."""
    from sklearn.model_selection import StratifiedKFold

    from radhub.radiomics import rad_score

    X, y = _xy(noise_table(n=60, p=10, seed=5, signal=1.0))
    space = SearchSpace(
        normalisers=("zscore",),
        reducers=("pca",),
        selectors=("anova",),
        n_features=(3,),
        classifiers=("lr",),
        n_splits=3,
        n_repeats=1,
    )
    cv = cross_validate_grid(X, y, space=space, seed=7, progress=False)
    manual = np.empty(y.size)
    for tr, va in StratifiedKFold(3, shuffle=True, random_state=7).split(X, y):
        pipe = build_pipeline(PipelineSpec("zscore", "pca", "anova", 3, "lr"), 7).fit(X[tr], y[tr])
        manual[va] = rad_score(pipe, X[va])
    np.testing.assert_allclose(cv.oof_scores, manual)
    assert cv.cv_auc == pytest.approx(roc_auc(y, manual).auc)


def test_grouped_split_and_folds_keep_groups_apart() -> None:
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(40), 3)
    y = np.repeat(rng.integers(0, 2, 40), 3)
    train, test = split_train_test(y, groups, test_size=0.3, seed=6)
    assert not set(groups[train]) & set(groups[test])
    assert np.intersect1d(train, test).size == 0 and train.size + test.size == y.size
    assert abs(y[test].mean() - y.mean()) < 0.15  # stratified
    from radhub.radiomics._search import _folds

    for tr, va in _folds(y[train], groups[train], 5, 0):
        assert not set(groups[train][tr]) & set(groups[train][va])


def test_results_table_and_ranking() -> None:
    X, y = _xy(noise_table(n=80, p=12, seed=8, signal=1.5))
    result = run_search(X, y, space=QUICK, seed=8, progress=False)
    table = result.cv.table
    assert len(table) == QUICK.size
    ranked = table[table["rank"].notna()]
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["cv_auc"].is_monotonic_decreasing
    assert str(result.best) == table.iloc[0]["name"]
    d = result.to_dict()
    for key in (
        "best_pipeline",
        "cv_auc",
        "test_auc",
        "test_auc_ci",
        "cutoff",
        "test_accuracy",
        "test_sensitivity",
        "test_specificity",
        "n_train",
        "n_test",
    ):
        assert key in d
    assert d["n_train"] + d["n_test"] == 80


def test_same_seed_same_result_and_executor_equivalence(dask_executor) -> None:
    from radhub.radiomics import LocalExecutor

    X, y = _xy(noise_table(n=70, p=10, seed=9, signal=1.0))
    a = run_search(X, y, space=FAST, seed=9, progress=False)
    with LocalExecutor(2) as pool:
        b = run_search(X, y, space=FAST, seed=9, executor=pool, progress=False)
    c = run_search(X, y, space=FAST, seed=9, executor=dask_executor, progress=False)
    for other in (b, c):
        np.testing.assert_array_equal(
            a.cv.table["cv_auc"].to_numpy(), other.cv.table["cv_auc"].to_numpy()
        )
        np.testing.assert_array_equal(a.test_scores, other.test_scores)


def test_every_step_and_classifier_fits() -> None:
    X, y = _xy(noise_table(n=60, p=15, seed=10, signal=1.0))
    from radhub.radiomics import CLASSIFIERS, NORMALISERS, REDUCERS, SELECTORS, rad_score

    for n, r, s, c in zip(NORMALISERS * 3, REDUCERS * 3, SELECTORS * 2, CLASSIFIERS):
        pipe = build_pipeline(PipelineSpec(n, r, s, 4, c), 0).fit(X, y)
        score = rad_score(pipe, X)
        assert score.shape == (60,) and np.all((score >= 0) & (score <= 1))


def test_rankings() -> None:
    X, y = _xy(noise_table(n=80, p=10, seed=11, signal=3.0))
    for method in ("anova", "kw", "mi", "rfe", "lasso"):
        order = rank_features(method, X, y, 0)
        assert sorted(order) == list(range(10))
        assert order[0] == 0, method  # f0 carries the signal
    with pytest.raises(SearchError, match="unknown selector"):
        rank_features("boruta", X, y)


def test_pearson_filter_drops_duplicates() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 1))
    X = np.hstack([a, 2 * a + 1, rng.normal(size=(50, 1))])
    assert list(PearsonFilter(0.99).fit(X).support_) == [0, 2]


def test_bad_inputs() -> None:
    with pytest.raises(SearchError, match="classifiers must be a non-empty subset"):
        SearchSpace(classifiers=("knn",))
    X, y = _xy(noise_table(n=12, p=5, seed=1))
    with pytest.raises(SearchError, match="cross-validation needs at least"):
        cross_validate_grid(X[:8], y[:8], space=SearchSpace(n_splits=5), progress=False)
    with pytest.raises(SearchError, match="test_size must be in"):
        split_train_test(y, test_size=1.5)
    with pytest.raises(SearchError, match="no feature is finite"):
        cross_validate_grid(
            np.ones((20, 3)), np.r_[np.zeros(10), np.ones(10)], space=QUICK, progress=False
        )


@parametrize_with_checks([FeatureCleaner(), PearsonFilter(), RankSelector("anova", 1)])
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)


def test_numerical_failure_marks_the_pipeline_not_the_search() -> None:
    """libsvm cannot fit unscaled features of size 1e100; that pipeline fails, the search goes on."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    X = rng.normal(size=(40, 4)) * 1e100
    X[:, 0] += y * 1e100
    space = SearchSpace(
        normalisers=("none", "zscore"),
        reducers=("none",),
        selectors=("anova",),
        n_features=(2,),
        classifiers=("svm_linear", "lr"),
        n_splits=3,
    )
    cv = cross_validate_grid(X, y, space=space, progress=False)
    status = dict(zip(cv.table["name"], cv.table["cv_status"]))
    assert status["none + none + ANOVA_2 + SVM-linear"].startswith("failed")
    assert status["Z-score + none + ANOVA_2 + SVM-linear"] == "ok"
    assert cv.table.loc[cv.table["cv_status"] != "ok", "rank"].isna().all()
