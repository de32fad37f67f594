"""radhub.radiomics: ROIs, pyradiomics features, FAE-style model search, score rules.

- images and ROIs: :func:`read_image`, :func:`image_from_archive`,
  :func:`read_mask`, :func:`mask_from_seg`, :func:`circle_mask`,
  :func:`sphere_mask`, :func:`polygon_mask`, :func:`check_mask`
- extraction: :func:`load_params`, :func:`extract_features` (through an
  :class:`Executor`: :class:`LocalExecutor` or :class:`DaskExecutor`)
- model search (FAE-style): :class:`SearchSpace`, :func:`run_search`,
  :func:`cross_validate_grid`, :func:`split_train_test`, :class:`RadiomicsModel`
- reader comparison and score rules: :func:`compare_with_reader`,
  :func:`compare_models`, :func:`dichotomise`, :func:`load_rule`, :func:`apply_rule`
- mini-MIAS replication of seed 000: :func:`run_mias`

Statistics (ROC, DeLong, Youden, McNemar, accuracy CIs) come from
:mod:`radhub.stats`. Methods and the mini-MIAS replication: docs/radiomics.md.
"""

import logging

from radhub.radiomics._executor import DaskExecutor, Executor, LocalExecutor, make_executor
from radhub.radiomics._extract import (
    PROVENANCE_COLUMNS,
    ExtractionResult,
    RoiResult,
    RoiSpec,
    extract_features,
    extract_roi,
    library_versions,
    read_manifest,
    read_table,
    write_table,
)
from radhub.radiomics._images import image_from_archive, image_id, read_image, volume_from_datasets
from radhub.radiomics._mias import (
    MIAS_TASKS,
    PUBLISHED,
    MiasAnnotation,
    MiasResult,
    mias_rois,
    parse_info,
    run_mias,
)
from radhub.radiomics._model import RadiomicsModel
from radhub.radiomics._params import PARAMETER_PRESETS, ExtractionParams, load_params
from radhub.radiomics._pipeline import (
    CLASSIFIERS,
    NORMALISERS,
    REDUCERS,
    SELECTORS,
    FeatureCleaner,
    PearsonFilter,
    PipelineSpec,
    RankSelector,
    build_pipeline,
    rad_score,
    rank_features,
)
from radhub.radiomics._readers import (
    BIRADS_MAPPING,
    ReaderComparison,
    compare_models,
    compare_with_reader,
    dichotomise,
    load_mapping,
)
from radhub.radiomics._report import write_search_outputs
from radhub.radiomics._roi import (
    check_mask,
    circle_mask,
    mask_from_seg,
    parse_shape,
    polygon_mask,
    read_mask,
    sphere_mask,
)
from radhub.radiomics._rules import RuleItem, ScoreRule, apply_rule, load_rule
from radhub.radiomics._search import (
    SEARCH_PRESETS,
    CvResult,
    SearchResult,
    SearchSpace,
    cross_validate_grid,
    run_search,
    split_train_test,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BIRADS_MAPPING",
    "CLASSIFIERS",
    "CvResult",
    "DaskExecutor",
    "Executor",
    "ExtractionParams",
    "ExtractionResult",
    "FeatureCleaner",
    "LocalExecutor",
    "MIAS_TASKS",
    "MiasAnnotation",
    "MiasResult",
    "NORMALISERS",
    "PARAMETER_PRESETS",
    "PROVENANCE_COLUMNS",
    "PUBLISHED",
    "PearsonFilter",
    "PipelineSpec",
    "REDUCERS",
    "RadiomicsModel",
    "RankSelector",
    "ReaderComparison",
    "RoiResult",
    "RoiSpec",
    "RuleItem",
    "SEARCH_PRESETS",
    "SELECTORS",
    "ScoreRule",
    "SearchResult",
    "SearchSpace",
    "apply_rule",
    "build_pipeline",
    "check_mask",
    "circle_mask",
    "compare_models",
    "compare_with_reader",
    "cross_validate_grid",
    "dichotomise",
    "extract_features",
    "extract_roi",
    "image_from_archive",
    "image_id",
    "library_versions",
    "load_mapping",
    "load_params",
    "load_rule",
    "make_executor",
    "mask_from_seg",
    "mias_rois",
    "parse_info",
    "parse_shape",
    "polygon_mask",
    "rad_score",
    "rank_features",
    "read_image",
    "read_manifest",
    "read_mask",
    "read_table",
    "run_mias",
    "run_search",
    "sphere_mask",
    "split_train_test",
    "volume_from_datasets",
    "write_search_outputs",
    "write_table",
]
