"""radhub.radiomics: ROIs, pyradiomics features, FAE-style model search, score rules.

- images and ROIs: :func:`read_image`, :func:`image_from_archive`,
  :func:`read_mask`, :func:`mask_from_seg`, :func:`circle_mask`,
  :func:`sphere_mask`, :func:`polygon_mask`, :func:`check_mask`
- extraction: :func:`load_params`, :func:`extract_features` (through an
  :class:`Executor`: :class:`LocalExecutor` or :class:`DaskExecutor`)

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
from radhub.radiomics._params import PARAMETER_PRESETS, ExtractionParams, load_params
from radhub.radiomics._roi import (
    check_mask,
    circle_mask,
    mask_from_seg,
    parse_shape,
    polygon_mask,
    read_mask,
    sphere_mask,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "PARAMETER_PRESETS",
    "PROVENANCE_COLUMNS",
    "DaskExecutor",
    "Executor",
    "ExtractionParams",
    "ExtractionResult",
    "LocalExecutor",
    "RoiResult",
    "RoiSpec",
    "check_mask",
    "circle_mask",
    "extract_features",
    "extract_roi",
    "image_from_archive",
    "image_id",
    "library_versions",
    "load_params",
    "make_executor",
    "mask_from_seg",
    "parse_shape",
    "polygon_mask",
    "read_image",
    "read_manifest",
    "read_mask",
    "read_table",
    "sphere_mask",
    "volume_from_datasets",
    "write_table",
]
