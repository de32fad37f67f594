"""Pipeline steps of the FAE-style search: cleaner, normalisers, reducers, ranking selectors, classifiers.

Every step follows scikit-learn's estimator contract (``__init__`` stores
parameters, ``fit`` returns ``self``, fitted attributes end in ``_``), so a
chosen pipeline is an ordinary :class:`sklearn.pipeline.Pipeline` that is
fitted on training rows only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFE, f_classif, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted, validate_data

from radhub.radiomics.errors import SearchError

__all__ = [
    "CLASSIFIERS",
    "NORMALISERS",
    "REDUCERS",
    "SELECTORS",
    "FeatureCleaner",
    "PearsonFilter",
    "PipelineSpec",
    "RankSelector",
    "build_pipeline",
    "make_classifier",
    "make_normaliser",
    "make_reducer",
    "rank_features",
    "rad_score",
]

NORMALISERS = ("zscore", "minmax", "none")
REDUCERS = ("none", "pca", "pcc")
SELECTORS = ("rfe", "anova", "kw", "mi", "lasso")
CLASSIFIERS = ("lr", "lasso_lr", "svm_linear", "svm_rbf", "rf", "xgb", "lda", "nb")

_LABELS = {
    "zscore": "Z-score",
    "minmax": "Min-Max",
    "none": "none",
    "pca": "PCA",
    "pcc": "PCC",
    "rfe": "RFE",
    "anova": "ANOVA",
    "kw": "KW",
    "mi": "MI",
    "lasso": "LASSO",
    "lr": "LR",
    "lasso_lr": "LASSO-LR",
    "svm_linear": "SVM-linear",
    "svm_rbf": "SVM-RBF",
    "rf": "RF",
    "xgb": "XGB",
    "lda": "LDA",
    "nb": "NB",
}


@dataclass(frozen=True, order=True)
class PipelineSpec:
    """One point of the search grid."""

    normaliser: str
    reducer: str
    selector: str
    n_features: int
    classifier: str

    def __str__(self) -> str:
        """FAE-style name, e.g. ``Z-score + PCA + RFE_9 + RF``."""
        return (
            f"{_LABELS[self.normaliser]} + {_LABELS[self.reducer]} + "
            f"{_LABELS[self.selector]}_{self.n_features} + {_LABELS[self.classifier]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Fields plus the readable name."""
        return {
            "normaliser": self.normaliser,
            "reducer": self.reducer,
            "selector": self.selector,
            "n_features": self.n_features,
            "classifier": self.classifier,
            "name": str(self),
        }


class FeatureCleaner(TransformerMixin, BaseEstimator):
    """Drop features that are non-finite anywhere or constant in the training rows."""

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> FeatureCleaner:
        """Find the usable columns of ``X``."""
        arr = validate_data(self, X, dtype=np.float64, ensure_all_finite=False)
        finite = np.all(np.isfinite(arr), axis=0)
        spread = np.zeros(arr.shape[1], bool)
        spread[finite] = np.ptp(arr[:, finite], axis=0) > 0
        self.support_ = np.nonzero(finite & spread)[0]
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Keep the usable columns."""
        check_is_fitted(self, "support_")
        arr = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        return arr[:, self.support_]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class PearsonFilter(TransformerMixin, BaseEstimator):
    """Remove redundant features: scanning left to right, drop a feature whose
    absolute Pearson correlation with an already kept one exceeds ``threshold``
    (FAE's PCC reducer)."""

    def __init__(self, threshold: float = 0.99) -> None:
        self.threshold = threshold

    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> PearsonFilter:
        """Choose the kept columns on the training rows."""
        arr = validate_data(self, X, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.abs(np.corrcoef(arr, rowvar=False)) if arr.shape[1] > 1 else np.ones((1, 1))
        corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
        kept: list[int] = []
        for j in range(arr.shape[1]):
            if all(corr[j, i] <= self.threshold for i in kept):
                kept.append(j)
        self.support_ = np.array(kept, dtype=int)
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Keep the non-redundant columns."""
        check_is_fitted(self, "support_")
        return validate_data(self, X, dtype=np.float64, reset=False)[:, self.support_]


#: Iteration cap of libsvm: unscaled radiomics features (values up to 1e6) can
#: otherwise keep a linear SVM iterating for minutes on a few dozen cases.
_SVM_MAX_ITER = 100_000


def _standardised(X: NDArray[np.float64]) -> NDArray[np.float64]:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _kruskal_scores(X: NDArray[np.float64], y: NDArray[np.int_]) -> NDArray[np.float64]:
    from scipy.stats import kruskal

    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        a, b = X[y == 0, j], X[y == 1, j]
        try:
            out[j] = float(kruskal(a, b).statistic)
        except ValueError:  # all values identical
            out[j] = 0.0
    return np.nan_to_num(out, nan=0.0)


def rank_features(
    method: str, X: ArrayLike, y: ArrayLike, random_state: int = 0
) -> NDArray[np.int_]:
    """Column indices ordered from most to least useful by one selector.

    - ``anova``: F statistic (f_classif); ``kw``: Kruskal-Wallis H;
      ``mi``: mutual information (k-NN estimate, seeded);
    - ``rfe``: recursive feature elimination with a linear SVM, one feature per step
      (so the best k are exactly those RFE keeps when asked for k);
    - ``lasso``: |coefficient| of an L1 logistic regression (C = 1), ties
      (zero coefficients) ordered by the F statistic.

    RFE and LASSO rank by coefficient size, which compares features only on
    a common scale, so they see z-scored columns (statistics of the rows
    given, i.e. of the training fold); their rankings therefore do not
    depend on the normaliser, and an unscaled input cannot stall the SVM.

    Ties keep column order (stable sort), so rankings are deterministic.
    """
    arr = np.asarray(X, dtype=float)
    target = np.asarray(y, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f_scores = np.nan_to_num(f_classif(arr, target)[0], nan=0.0)
        if method == "anova":
            key = f_scores
        elif method == "kw":
            key = _kruskal_scores(arr, target)
        elif method == "mi":
            key = mutual_info_classif(arr, target, random_state=random_state)
        elif method == "rfe":
            rfe = RFE(
                SVC(kernel="linear", C=1.0, max_iter=_SVM_MAX_ITER), n_features_to_select=1, step=1
            )
            rfe.fit(_standardised(arr), target)
            return np.argsort(rfe.ranking_, kind="stable")
        elif method == "lasso":
            model = LogisticRegression(
                l1_ratio=1.0, solver="liblinear", C=1.0, random_state=random_state
            )
            coef = np.abs(model.fit(_standardised(arr), target).coef_.ravel())
            return np.lexsort((-f_scores, -coef))
        else:
            raise SearchError(f"unknown selector {method!r}; choose from {SELECTORS}")
    return np.argsort(-key, kind="stable")


class RankSelector(TransformerMixin, BaseEstimator):
    """Keep the ``k`` best features by :func:`rank_features` (in their original column order)."""

    def __init__(self, method: str = "anova", k: int = 1, random_state: int = 0) -> None:
        self.method = method
        self.k = k
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> RankSelector:
        """Rank the features on the training rows."""
        arr, y = validate_data(self, X, y, dtype=np.float64)
        if not 1 <= self.k <= arr.shape[1]:
            raise SearchError(f"cannot select {self.k} features from {arr.shape[1]}")
        self.ranking_ = rank_features(self.method, arr, y, self.random_state)
        self.support_ = np.sort(self.ranking_[: self.k])
        return self

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Keep the selected columns."""
        check_is_fitted(self, "support_")
        return validate_data(self, X, dtype=np.float64, reset=False)[:, self.support_]


def make_normaliser(name: str) -> Any:
    """``StandardScaler``, ``MinMaxScaler`` or ``"passthrough"``."""
    if name == "zscore":
        return StandardScaler()
    if name == "minmax":
        return MinMaxScaler()
    if name == "none":
        return "passthrough"
    raise SearchError(f"unknown normaliser {name!r}; choose from {NORMALISERS}")


def make_reducer(name: str, random_state: int = 0, pcc_threshold: float = 0.99) -> Any:
    """``PCA`` (all components), :class:`PearsonFilter` or ``"passthrough"``."""
    if name == "pca":
        return PCA(svd_solver="full", random_state=random_state)
    if name == "pcc":
        return PearsonFilter(pcc_threshold)
    if name == "none":
        return "passthrough"
    raise SearchError(f"unknown reducer {name!r}; choose from {REDUCERS}")


def _xgb(random_state: int) -> ClassifierMixin:
    from xgboost import XGBClassifier

    return XGBClassifier(
        n_estimators=100,
        max_depth=3,
        learning_rate=0.1,
        n_jobs=1,
        random_state=random_state,
        verbosity=0,
        eval_metric="logloss",
    )


_FACTORIES: dict[str, Callable[[int, int], Any]] = {
    "lr": lambda s, t: LogisticRegression(C=1.0, max_iter=1000, random_state=s),
    "lasso_lr": lambda s, t: LogisticRegression(
        l1_ratio=1.0, solver="liblinear", C=1.0, random_state=s
    ),
    "svm_linear": lambda s, t: SVC(kernel="linear", C=1.0, max_iter=_SVM_MAX_ITER, random_state=s),
    "svm_rbf": lambda s, t: SVC(
        kernel="rbf", C=1.0, gamma="scale", max_iter=_SVM_MAX_ITER, random_state=s
    ),
    "rf": lambda s, t: RandomForestClassifier(n_estimators=t, random_state=s, n_jobs=1),
    "xgb": lambda s, t: _xgb(s),
    "lda": lambda s, t: LinearDiscriminantAnalysis(),
    "nb": lambda s, t: GaussianNB(),
}


def make_classifier(name: str, random_state: int = 0, rf_trees: int = 100) -> Any:
    """A classifier with fixed (library default-like) hyper-parameters and seed.

    ``rf_trees`` is the number of trees of the random forest.
    """
    try:
        return _FACTORIES[name](random_state, rf_trees)
    except KeyError:
        raise SearchError(f"unknown classifier {name!r}; choose from {CLASSIFIERS}") from None


def build_pipeline(
    spec: PipelineSpec, random_state: int = 0, pcc_threshold: float = 0.99, rf_trees: int = 100
) -> Pipeline:
    """The unfitted scikit-learn pipeline of a grid point."""
    return Pipeline(
        [
            ("clean", FeatureCleaner()),
            ("normalise", make_normaliser(spec.normaliser)),
            ("reduce", make_reducer(spec.reducer, random_state, pcc_threshold)),
            ("select", RankSelector(spec.selector, spec.n_features, random_state)),
            ("classify", make_classifier(spec.classifier, random_state, rf_trees)),
        ]
    )


def rad_score(model: Any, X: ArrayLike) -> NDArray[np.float64]:
    """The Rad-score: probability of the positive class.

    ``predict_proba`` where the classifier has it; SVMs give the logistic
    function of their decision value (monotone, so AUC and the Youden cutoff
    are those of the decision value).
    """
    if hasattr(model, "predict_proba") and not isinstance(_final(model), SVC):
        return np.asarray(model.predict_proba(X), dtype=float)[:, 1]
    decision = np.asarray(model.decision_function(X), dtype=float)
    return 1.0 / (1.0 + np.exp(-decision))


def _final(model: Any) -> Any:
    return model.steps[-1][1] if isinstance(model, Pipeline) else model
