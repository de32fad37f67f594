"""radhub.stats: diagnostic-accuracy statistics that reproduce published tables.

Independent of the rest of radhub (it imports nothing else of radhub's).
Every function returns a frozen dataclass with ``to_dict()`` (JSON-ready)
and ``summary()`` (a readable table); bad input raises
:class:`radhub.stats.errors.StatsError` (a ``ValueError``).

- 2x2 accuracy: :func:`accuracy`, :func:`accuracy_from_labels`,
  :func:`proportion_ci`, :func:`predictive_values`
- ROC: :func:`roc_curve`, :func:`roc_auc`, :func:`youden_cutoff`,
  :func:`apply_cutoff`, :func:`delong_test`, :func:`compare_independent_aucs`
- paired and agreement: :func:`mcnemar`, :func:`mcnemar_table`,
  :func:`cohen_kappa`, :func:`fleiss_kappa`, :func:`icc`, :func:`icc_all`
- distributions: :func:`chi2_distribution`
- staging from serial exams: :func:`staging_accuracy`
- forecasting: :func:`forecast_prevalence`, :func:`point_prevalence`
- figures and reports: :func:`plot_roc`, :func:`plot_forecast`,
  :func:`plot_distribution`, :func:`save_figure`, :func:`html_report`

Methods, formulas and references: docs/stats.md.
"""

from radhub.stats._accuracy import AccuracyResult, accuracy, accuracy_from_labels, predictive_values
from radhub.stats._agreement import (
    FleissKappaResult,
    KappaResult,
    McNemarResult,
    cohen_kappa,
    cohen_kappa_table,
    fleiss_kappa,
    mcnemar,
    mcnemar_table,
    rating_counts,
)
from radhub.stats._distribution import DistributionResult, GroupComparison, chi2_distribution
from radhub.stats._forecast import (
    CandidateScore,
    EtsSpec,
    ForecastResult,
    PrevalenceAt,
    forecast_prevalence,
    mape,
    mase,
    point_prevalence,
)
from radhub.stats._icc import IccResult, IccTable, icc, icc_all
from radhub.stats._plots import plot_distribution, plot_forecast, plot_roc, save_figure
from radhub.stats._proportion import proportion_ci
from radhub.stats._report import html_report, write_html_report
from radhub.stats._roc import (
    ComparisonResult,
    RocBand,
    RocCurve,
    RocResult,
    apply_cutoff,
    compare_independent_aucs,
    delong_test,
    roc_auc,
    roc_band,
    roc_curve,
    youden_cutoff,
)
from radhub.stats._staging import (
    StageResult,
    StagingResult,
    StagingTable,
    SummaryStatistic,
    mean_normal_ci,
    staging_accuracy,
)
from radhub.stats.errors import StatsError

__all__ = [
    "AccuracyResult",
    "CandidateScore",
    "ComparisonResult",
    "DistributionResult",
    "EtsSpec",
    "FleissKappaResult",
    "ForecastResult",
    "GroupComparison",
    "IccResult",
    "IccTable",
    "KappaResult",
    "McNemarResult",
    "PrevalenceAt",
    "RocBand",
    "RocCurve",
    "RocResult",
    "StageResult",
    "StagingResult",
    "StagingTable",
    "StatsError",
    "SummaryStatistic",
    "accuracy",
    "accuracy_from_labels",
    "apply_cutoff",
    "chi2_distribution",
    "cohen_kappa",
    "cohen_kappa_table",
    "compare_independent_aucs",
    "delong_test",
    "fleiss_kappa",
    "forecast_prevalence",
    "html_report",
    "icc",
    "icc_all",
    "mape",
    "mase",
    "mcnemar",
    "mcnemar_table",
    "mean_normal_ci",
    "plot_distribution",
    "plot_forecast",
    "plot_roc",
    "point_prevalence",
    "predictive_values",
    "proportion_ci",
    "rating_counts",
    "roc_auc",
    "roc_band",
    "roc_curve",
    "save_figure",
    "staging_accuracy",
    "write_html_report",
    "youden_cutoff",
]
