"""Model search in the manner of FAE (Song et al. 2020): normaliser x reducer x selector x
number of features x classifier, cross-validated on the training set only.

Leakage rules (METHODS.md 7): every fitted step is fitted inside each
training fold; the test rows are split off first (grouped, stratified) and
touched once, by the refitted best pipeline; the Youden cutoff is chosen on
the cross-validated training predictions and applied unchanged to the test set.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from radhub.radiomics._executor import Executor, LocalExecutor, single_threaded
from radhub.radiomics._pipeline import (
    CLASSIFIERS,
    NORMALISERS,
    REDUCERS,
    SELECTORS,
    FeatureCleaner,
    PipelineSpec,
    build_pipeline,
    make_classifier,
    make_normaliser,
    make_reducer,
    rad_score,
    rank_features,
)
from radhub.radiomics.errors import SearchError
from radhub.stats import (
    AccuracyResult,
    RocResult,
    accuracy_from_labels,
    apply_cutoff,
    roc_auc,
    youden_cutoff,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SEARCH_PRESETS",
    "CvResult",
    "SearchResult",
    "SearchSpace",
    "cross_validate_grid",
    "run_search",
    "split_train_test",
]


@dataclass(frozen=True)
class SearchSpace:
    """The grid and the cross-validation scheme.

    Attributes
    ----------
    normalisers, reducers, selectors, classifiers : tuple of str
        Names from ``NORMALISERS`` (zscore, minmax, none), ``REDUCERS``
        (none, pca, pcc), ``SELECTORS`` (rfe, anova, kw, mi, lasso) and
        ``CLASSIFIERS`` (lr, lasso_lr, svm_linear, svm_rbf, rf, xgb, lda, nb).
    n_features : tuple of int
        Numbers of selected features to try (values above what a fold
        offers are skipped for that pipeline).
    n_splits, n_repeats : int
        Repeated stratified (grouped) K-fold on the training set.
    pcc_threshold : float
        |r| above which the PCC reducer drops a feature.
    rf_trees : int
        Trees of the random forest (its fit time dominates the search).
    """

    normalisers: tuple[str, ...] = NORMALISERS
    reducers: tuple[str, ...] = REDUCERS
    selectors: tuple[str, ...] = SELECTORS
    n_features: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 15)
    classifiers: tuple[str, ...] = CLASSIFIERS
    n_splits: int = 5
    n_repeats: int = 1
    pcc_threshold: float = 0.99
    rf_trees: int = 50

    def __post_init__(self) -> None:
        for name, values, allowed in (
            ("normalisers", self.normalisers, NORMALISERS),
            ("reducers", self.reducers, REDUCERS),
            ("selectors", self.selectors, SELECTORS),
            ("classifiers", self.classifiers, CLASSIFIERS),
        ):
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise SearchError(f"{name} must be a non-empty subset of {allowed}, got {values!r}")
        if not self.n_features or any(int(k) < 1 for k in self.n_features):
            raise SearchError(f"n_features must be positive integers, got {self.n_features!r}")
        if self.n_splits < 2 or self.n_repeats < 1:
            raise SearchError(
                f"need n_splits >= 2 and n_repeats >= 1, got {self.n_splits}, {self.n_repeats}"
            )

    @property
    def size(self) -> int:
        """Number of pipelines in the grid."""
        return (
            len(self.normalisers)
            * len(self.reducers)
            * len(self.selectors)
            * len(self.n_features)
            * len(self.classifiers)
        )

    def specs(self) -> list[PipelineSpec]:
        """All grid points in grid order (the order ties are broken in)."""
        return [
            PipelineSpec(n, r, s, int(k), c)
            for n in self.normalisers
            for r in self.reducers
            for s in self.selectors
            for k in self.n_features
            for c in self.classifiers
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "normalisers": list(self.normalisers),
            "reducers": list(self.reducers),
            "selectors": list(self.selectors),
            "n_features": list(self.n_features),
            "classifiers": list(self.classifiers),
            "n_splits": self.n_splits,
            "n_repeats": self.n_repeats,
            "pcc_threshold": self.pcc_threshold,
            "rf_trees": self.rf_trees,
            "n_pipelines": self.size,
        }


#: ``quick`` for tests and previews (96 pipelines, 3 folds); ``default`` every
#: normaliser, reducer, selector and classifier with 1-10, 13 and 15 features
#: (4,320 pipelines), one 5-fold pass and 50-tree forests, a few CPU-minutes
#: for a hundred ROIs; ``full`` 1-20 features, 5-fold x 3 repeats, 100 trees.
SEARCH_PRESETS: dict[str, SearchSpace] = {
    "quick": SearchSpace(
        normalisers=("zscore", "minmax"),
        reducers=("none", "pca"),
        selectors=("anova", "kw"),
        n_features=(1, 2, 3, 5),
        classifiers=("lr", "rf", "nb"),
        n_splits=3,
        n_repeats=1,
    ),
    "default": SearchSpace(),
    "full": SearchSpace(n_features=tuple(range(1, 21)), n_repeats=3, rf_trees=100),
}


def split_train_test(
    y: ArrayLike, groups: ArrayLike | None = None, *, test_size: float = 0.3, seed: int = 0
) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """Stratified hold-out split that keeps every group on one side.

    Groups (patients, images) are split, stratified by the group's label
    (positive if any of its rows is positive); all rows of a group follow it.

    Returns
    -------
    train_index, test_index : arrays of row indices (sorted)

    Raises
    ------
    SearchError
        ``test_size`` outside (0, 1) or too few groups of a class to put one on each side.
    """
    target = np.asarray(y, dtype=int)
    if not 0 < test_size < 1:
        raise SearchError(f"test_size must be in (0, 1), got {test_size}")
    grp = np.arange(target.size) if groups is None else np.asarray(groups)
    if grp.shape != target.shape:
        raise SearchError("groups and labels must have the same length")
    uniq, inverse = np.unique(grp, return_inverse=True)
    group_label = np.zeros(uniq.size, dtype=int)
    np.maximum.at(group_label, inverse, target)
    counts = np.bincount(group_label, minlength=2)
    if counts.min() < 2:
        raise SearchError(
            f"need at least 2 groups of each class to split, got {counts[0]} negative and {counts[1]} positive"
        )
    try:
        _, g_test = train_test_split(
            np.arange(uniq.size), test_size=test_size, stratify=group_label, random_state=seed
        )
    except ValueError as exc:
        raise SearchError(
            f"cannot split {uniq.size} groups with test_size={test_size}: {exc}"
        ) from exc
    test_groups = np.zeros(uniq.size, bool)
    test_groups[g_test] = True
    is_test = test_groups[inverse]
    return np.nonzero(~is_test)[0], np.nonzero(is_test)[0]


def _folds(
    y: NDArray[np.int_], groups: NDArray[Any] | None, n_splits: int, seed: int
) -> list[tuple[NDArray[np.int_], NDArray[np.int_]]]:
    counts = np.bincount(y, minlength=2)
    if counts.min() < n_splits:
        raise SearchError(
            f"{n_splits}-fold cross-validation needs at least {n_splits} training cases per class, "
            f"got {counts[0]} negative and {counts[1]} positive; lower n_splits"
        )
    if groups is not None and np.unique(groups).size < y.size:
        splitter: Any = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        folds = list(splitter.split(np.zeros(y.size), y, groups))
    else:
        folds = list(
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(
                np.zeros(y.size), y
            )
        )
    for _, val in folds:
        if np.unique(y[val]).size < 2 and groups is None:
            raise SearchError("a validation fold holds one class only; lower n_splits")
    return folds


@dataclass(frozen=True)
class _Unit:
    X: NDArray[np.float64]
    y: NDArray[np.int_]
    train: NDArray[np.int_]
    val: NDArray[np.int_]
    repeat: int
    reducer: str
    space: SearchSpace
    seed: int


def _cv_unit(unit: _Unit) -> dict[tuple[str, str, str, int, str], NDArray[np.float64]]:
    """Validation scores of every (normaliser, selector, k, classifier) for one fold and reducer."""
    single_threaded()
    space, seed = unit.space, unit.seed
    Xtr, ytr, Xva = unit.X[unit.train], unit.y[unit.train], unit.X[unit.val]
    out: dict[tuple[str, str, str, int, str], NDArray[np.float64]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cleaner = FeatureCleaner().fit(Xtr)
        ctr, cva = cleaner.transform(Xtr), cleaner.transform(Xva)
        for norm in space.normalisers:
            scaler = make_normaliser(norm)
            ntr, nva = (
                (ctr, cva)
                if scaler == "passthrough"
                else (scaler.fit_transform(ctr), scaler.transform(cva))
            )
            reducer = make_reducer(unit.reducer, seed, space.pcc_threshold)
            rtr, rva = (
                (ntr, nva)
                if reducer == "passthrough"
                else (reducer.fit_transform(ntr), reducer.transform(nva))
            )
            cache: dict[tuple[tuple[int, ...], str], NDArray[np.float64]] = {}
            failed = np.full(unit.val.size, np.nan)
            for sel in space.selectors:
                try:
                    order = rank_features(sel, rtr, ytr, seed)
                except _FIT_ERRORS:
                    order = None
                for k in space.n_features:
                    if k > rtr.shape[1]:
                        continue
                    cols = None if order is None else np.sort(order[:k])
                    for clf in space.classifiers:
                        if cols is None:
                            out[(norm, unit.reducer, sel, int(k), clf)] = failed
                            continue
                        key = (tuple(int(c) for c in cols), clf)
                        if key not in cache:
                            cache[key] = _fit_score(
                                clf, seed, space, rtr[:, cols], ytr, rva[:, cols]
                            )
                        out[(norm, unit.reducer, sel, int(k), clf)] = cache[key]
    return out


#: Numerical failures of one fit (e.g. libsvm on unscaled features): the
#: pipeline is marked as failed in that fold instead of stopping the search.
_FIT_ERRORS = (ValueError, np.linalg.LinAlgError, FloatingPointError, OverflowError)


def _fit_score(
    clf: str,
    seed: int,
    space: SearchSpace,
    Xtr: NDArray[np.float64],
    ytr: NDArray[np.int_],
    Xva: NDArray[np.float64],
) -> NDArray[np.float64]:
    try:
        model = make_classifier(clf, seed, space.rf_trees).fit(Xtr, ytr)
        scores = rad_score(model, Xva)
    except _FIT_ERRORS:
        return np.full(Xva.shape[0], np.nan)
    return scores if np.all(np.isfinite(scores)) else np.full(Xva.shape[0], np.nan)


@dataclass(frozen=True)
class CvResult:
    """Cross-validated results of every pipeline on the training set.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per pipeline: its steps, ``cv_auc`` (mean over repeats of
        the AUC of the pooled out-of-fold scores), ``cv_auc_sd`` (SD over
        repeats) and ``rank``; pipelines that could not run in every fold
        (more features than a fold offers, or a fit that failed numerically,
        e.g. an SVM on unscaled features) have NaN AUC, no rank and the
        reason in ``cv_status``.
    best : PipelineSpec
        Highest ``cv_auc``; ties go to fewer features, then grid order.
    oof_scores : ndarray (n_train,)
        Out-of-fold Rad-scores of the best pipeline, averaged over repeats.
    seconds : float
    """

    table: pd.DataFrame = field(repr=False)
    best: PipelineSpec
    oof_scores: NDArray[np.float64] = field(repr=False)
    space: SearchSpace
    seed: int
    seconds: float

    @property
    def cv_auc(self) -> float:
        """Cross-validated AUC of the best pipeline."""
        return float(self.table.loc[self.table["rank"] == 1, "cv_auc"].iloc[0])


def cross_validate_grid(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike | None = None,
    *,
    space: SearchSpace | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    progress: bool = True,
) -> CvResult:
    """Score every pipeline of ``space`` by repeated stratified K-fold on (X, y).

    Only the rows given are used: pass the training set. Each fold fits the
    cleaner, normaliser, reducer, selector and classifier on its training
    rows and scores its validation rows. Repeat ``r`` shuffles with seed
    ``seed + r``. Work is split into (repeat, fold, reducer) units run by ``executor``.

    Raises
    ------
    SearchError
        Too few cases per class for the folds, or labels that are not 0/1.
    """
    sp = space or SEARCH_PRESETS["default"]
    arr = np.asarray(X, dtype=float)
    target = np.asarray(y, dtype=int)
    if arr.ndim != 2 or arr.shape[0] != target.size:
        raise SearchError(
            f"X must be 2-d with one row per label, got {arr.shape} and {target.size} labels"
        )
    if set(np.unique(target)) != {0, 1}:
        raise SearchError("labels must be 0/1 with both classes present")
    if FeatureCleaner().fit(arr).support_.size == 0:
        raise SearchError("no feature is finite and varying in the training rows")
    grp = None if groups is None else np.asarray(groups)
    start = time.perf_counter()
    units = []
    for r in range(sp.n_repeats):
        for train, val in _folds(target, grp, sp.n_splits, seed + r):
            for red in sp.reducers:
                units.append(_Unit(arr, target, train, val, r, red, sp, seed))
    ex = executor or LocalExecutor(1)
    results = ex.map(_cv_unit, units, desc="search", progress=progress)
    n = target.size
    oof: dict[tuple[str, str, str, int, str], NDArray[np.float64]] = {}
    seen: dict[tuple[str, str, str, int, str], int] = {}
    for unit, res in zip(units, results):
        for key, scores in res.items():
            buf = oof.setdefault(key, np.full((sp.n_repeats, n), np.nan))
            buf[unit.repeat, unit.val] = scores
            seen[key] = seen.get(key, 0) + 1
    folds_per_key = sp.n_repeats * sp.n_splits
    rows = []
    for i, spec in enumerate(sp.specs()):
        key = (spec.normaliser, spec.reducer, spec.selector, spec.n_features, spec.classifier)
        aucs: list[float] = []
        if seen.get(key, 0) != folds_per_key:
            status = "not evaluable: more features than a fold offers"
        elif np.isnan(oof[key]).any():
            status = "failed: a fit failed numerically in a fold"
        else:
            status = "ok"
            aucs = [roc_auc(target, oof[key][r]).auc for r in range(sp.n_repeats)]
        rows.append(
            {
                **spec.to_dict(),
                "cv_auc": float(np.mean(aucs)) if aucs else np.nan,
                "cv_auc_sd": float(np.std(aucs, ddof=1)) if len(aucs) > 1 else np.nan,
                "cv_status": status,
                "grid_order": i,
            }
        )
    table = pd.DataFrame(rows)
    ok = table["cv_auc"].notna()
    if not ok.any():
        raise SearchError("no pipeline could be cross-validated (too few features or cases)")
    ranked = table[ok].sort_values(
        ["cv_auc", "n_features", "grid_order"], ascending=[False, True, True]
    )
    table["rank"] = pd.Series(dtype="Int64")
    table.loc[ranked.index, "rank"] = np.arange(1, len(ranked) + 1)
    table = table.sort_values(["rank", "grid_order"], na_position="last").reset_index(drop=True)
    top = table.iloc[0]
    best = PipelineSpec(
        top["normaliser"],
        top["reducer"],
        top["selector"],
        int(top["n_features"]),
        top["classifier"],
    )
    best_key = (best.normaliser, best.reducer, best.selector, best.n_features, best.classifier)
    return CvResult(
        table, best, np.nanmean(oof[best_key], axis=0), sp, seed, time.perf_counter() - start
    )


@dataclass(frozen=True)
class SearchResult:
    """Everything the search produced: the CV grid, the refitted model and its one test evaluation.

    Attributes
    ----------
    cv : CvResult
        Grid results on the training set.
    pipeline : sklearn Pipeline
        The best pipeline refitted on all training rows.
    cutoff : float
        Youden-optimal Rad-score threshold on the out-of-fold training scores.
    train_roc : RocResult
        ROC of the out-of-fold training scores (DeLong CI).
    test_roc : RocResult
        ROC of the test scores (DeLong CI); its own ``cutoff`` is *not* used.
    test_accuracy : AccuracyResult
        2x2 accuracy on the test set at ``cutoff`` (Wilson CIs).
    train_index, test_index : row indices into the input table
    train_scores, test_scores : Rad-scores (out-of-fold for training rows)
    """

    cv: CvResult
    pipeline: Any = field(repr=False)
    feature_names: list[str] = field(repr=False)
    cutoff: float
    train_roc: RocResult = field(repr=False)
    test_roc: RocResult = field(repr=False)
    test_accuracy: AccuracyResult = field(repr=False)
    train_index: NDArray[np.int_] = field(repr=False)
    test_index: NDArray[np.int_] = field(repr=False)
    y: NDArray[np.int_] = field(repr=False)
    train_scores: NDArray[np.float64] = field(repr=False)
    test_scores: NDArray[np.float64] = field(repr=False)
    ids: list[str] = field(repr=False)
    labels: tuple[str, str]
    seed: int
    seconds: float

    @property
    def best(self) -> PipelineSpec:
        """The chosen pipeline."""
        return self.cv.best

    def n_by_class(self, index: NDArray[np.int_]) -> dict[str, int]:
        """Cases per class (negative label, positive label) among the rows ``index``."""
        yy = self.y[index]
        return {self.labels[0]: int((yy == 0).sum()), self.labels[1]: int((yy == 1).sum())}

    def to_dict(self) -> dict[str, Any]:
        """The metrics JSON (the CLI's ``--json`` keys plus details)."""
        acc = self.test_accuracy
        return {
            "best_pipeline": str(self.best),
            "best_pipeline_steps": self.best.to_dict(),
            "cv_auc": self.cv.cv_auc,
            "train_cv_auc_ci": list(self.train_roc.auc_ci),
            "test_auc": self.test_roc.auc,
            "test_auc_ci": list(self.test_roc.auc_ci),
            "test_auc_ci_method": self.test_roc.ci_method,
            "cutoff": self.cutoff,
            "test_accuracy": acc.accuracy,
            "test_accuracy_ci": list(acc.accuracy_ci),
            "test_sensitivity": acc.sensitivity,
            "test_sensitivity_ci": list(acc.sensitivity_ci),
            "test_specificity": acc.specificity,
            "test_specificity_ci": list(acc.specificity_ci),
            "test_ppv": _nan_none(acc.ppv),
            "test_ppv_ci": [_nan_none(v) for v in acc.ppv_ci],
            "test_npv": _nan_none(acc.npv),
            "test_npv_ci": [_nan_none(v) for v in acc.npv_ci],
            "test_2x2": {"tp": acc.tp, "fp": acc.fp, "fn": acc.fn, "tn": acc.tn},
            "n_train": int(self.train_index.size),
            "n_test": int(self.test_index.size),
            "n_train_by_class": self.n_by_class(self.train_index),
            "n_test_by_class": self.n_by_class(self.test_index),
            "positive_label": self.labels[1],
            "n_features_input": len(self.feature_names),
            "n_pipelines": int(self.cv.table["cv_auc"].notna().sum()),
            "n_pipelines_failed": int(self.cv.table["cv_status"].str.startswith("failed").sum()),
            "n_pipelines_not_evaluable": int(
                self.cv.table["cv_status"].str.startswith("not evaluable").sum()
            ),
            "search_space": self.cv.space.to_dict(),
            "seed": self.seed,
            "seconds": round(self.seconds, 1),
        }


def _nan_none(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def run_search(
    X: ArrayLike,
    y: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    feature_names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    labels: tuple[str, str] = ("0", "1"),
    test_size: float = 0.3,
    seed: int = 0,
    space: SearchSpace | None = None,
    split: tuple[ArrayLike, ArrayLike] | None = None,
    executor: Executor | None = None,
    progress: bool = True,
) -> SearchResult:
    """Split, search on the training set, refit the best pipeline, evaluate once on the test set.

    Parameters
    ----------
    X : array (n, p)
        Features (NaN allowed; columns unusable in a training fold are dropped there).
    y : array of 0/1
        1 is the positive class (``labels[1]``).
    groups : array, optional
        Rows sharing a group (patient, image) stay on one side of the
        split and of every CV fold.
    test_size, seed : float, int
        Hold-out fraction and the seed of the split, folds and models.
    space : SearchSpace, optional
        Default: ``SEARCH_PRESETS["default"]``.
    split : (train_index, test_index), optional
        A fixed split instead of :func:`split_train_test`.
    executor : Executor, optional
        Runs the CV units (default in-process).

    Returns
    -------
    SearchResult
    """
    start = time.perf_counter()
    arr = np.asarray(X, dtype=float)
    target = np.asarray(y, dtype=int)
    grp = None if groups is None else np.asarray(groups)
    if split is None:
        train, test = split_train_test(target, grp, test_size=test_size, seed=seed)
    else:
        train, test = (np.asarray(split[0], dtype=int), np.asarray(split[1], dtype=int))
        if np.intersect1d(train, test).size:
            raise SearchError("the given split puts some rows in both train and test")
    if np.unique(target[test]).size < 2:
        raise SearchError("the test set holds one class only; use a larger test_size or more data")
    cv = cross_validate_grid(
        arr[train],
        target[train],
        None if grp is None else grp[train],
        space=space,
        seed=seed,
        executor=executor,
        progress=progress,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pipeline = build_pipeline(cv.best, seed, cv.space.pcc_threshold, cv.space.rf_trees).fit(
                arr[train], target[train]
            )
            test_scores = rad_score(pipeline, arr[test])
        except _FIT_ERRORS as exc:
            raise SearchError(f"refitting {cv.best} on all training rows failed: {exc}") from exc
    cutoff = youden_cutoff(target[train], cv.oof_scores)
    train_roc = roc_auc(target[train], cv.oof_scores)
    test_roc = roc_auc(target[test], test_scores)
    calls = apply_cutoff(test_scores, cutoff).astype(int)
    test_acc = accuracy_from_labels(target[test], calls)
    names = (
        list(feature_names) if feature_names is not None else [f"f{i}" for i in range(arr.shape[1])]
    )
    return SearchResult(
        cv=cv,
        pipeline=pipeline,
        feature_names=names,
        cutoff=float(cutoff),
        train_roc=train_roc,
        test_roc=test_roc,
        test_accuracy=test_acc,
        train_index=train,
        test_index=test,
        y=target,
        train_scores=cv.oof_scores,
        test_scores=test_scores,
        ids=list(ids) if ids is not None else [str(i) for i in range(target.size)],
        labels=labels,
        seed=seed,
        seconds=time.perf_counter() - start,
    )
