"""pyradiomics extraction parameters: YAML files, validation, presets and a stable hash."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from radhub.radiomics.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = ["PARAMETER_PRESETS", "ExtractionParams", "load_params"]

#: Named parameter sets. ``mammography_2d`` is the 2D set used for the
#: mini-MIAS replication: original image only, all feature classes, 102 features.
PARAMETER_PRESETS: dict[str, dict[str, Any]] = {
    "mammography_2d": {
        "imageType": {"Original": {}},
        "featureClass": {
            "firstorder": [],
            "shape2D": [],
            "glcm": [],
            "glrlm": [],
            "glszm": [],
            "gldm": [],
            "ngtdm": [],
        },
        "setting": {
            "force2D": True,
            "force2Ddimension": 0,
            "binWidth": 8,
            "label": 1,
            "minimumROIDimensions": 2,
            "minimumROISize": 20,
        },
    },
    "ct_3d": {
        "imageType": {"Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0, 3.0]}},
        "featureClass": {
            "firstorder": [],
            "shape": [],
            "glcm": [],
            "glrlm": [],
            "glszm": [],
            "gldm": [],
            "ngtdm": [],
        },
        "setting": {
            "binWidth": 25,
            "resampledPixelSpacing": [1.0, 1.0, 1.0],
            "interpolator": "sitkBSpline",
            "label": 1,
        },
    },
}


@dataclass(frozen=True)
class ExtractionParams:
    """A validated pyradiomics parameter set.

    Attributes
    ----------
    params : dict
        The parameters as pyradiomics reads them (``imageType``,
        ``featureClass``, ``setting``, ``voxelSetting``).
    sha256 : str
        Hash of the canonical JSON of ``params`` (sorted keys): the same
        parameters give the same hash whatever the YAML layout or comments.
    source : str
        File name or preset name the parameters came from.
    """

    params: dict[str, Any] = field(repr=False)
    sha256: str
    source: str

    @property
    def label(self) -> int:
        """Mask label pyradiomics extracts (``setting.label``, default 1)."""
        return int(self.params.get("setting", {}).get("label", 1) or 1)

    @property
    def is_2d(self) -> bool:
        """Whether ``force2D`` is set."""
        return bool(self.params.get("setting", {}).get("force2D", False))

    def to_yaml(self) -> str:
        """The parameters as YAML (loadable by :func:`load_params` and by pyradiomics)."""
        return yaml.safe_dump(self.params, sort_keys=True)


def _canonical_hash(params: Mapping[str, Any]) -> str:
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _validate(params: dict[str, Any], where: str) -> None:
    import pykwalify.core

    from radiomics import featureextractor

    if not isinstance(params, dict):
        raise ParameterError(f"{where}: parameters must be a mapping, got {type(params).__name__}")
    unknown = set(params) - {"imageType", "featureClass", "setting", "voxelSetting"}
    if unknown:
        raise ParameterError(
            f"{where}: unknown top-level keys {sorted(unknown)}; pyradiomics reads "
            "imageType, featureClass, setting and voxelSetting"
        )
    radiomics_logger = logging.getLogger("radiomics")
    level = radiomics_logger.level
    radiomics_logger.setLevel(logging.ERROR)
    pykwalify_log = logging.getLogger("pykwalify")
    pk_level = pykwalify_log.level
    pykwalify_log.setLevel(logging.CRITICAL)
    try:
        featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(params))
    except pykwalify.errors.SchemaError as exc:
        raise ParameterError(f"{where}: invalid pyradiomics parameters: {exc.msg}") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise ParameterError(f"{where}: invalid pyradiomics parameters: {exc}") from exc
    finally:
        radiomics_logger.setLevel(level)
        pykwalify_log.setLevel(pk_level)


def load_params(source: str | Path | Mapping[str, Any]) -> ExtractionParams:
    """Load and validate extraction parameters.

    Parameters
    ----------
    source : path, preset name or mapping
        A pyradiomics YAML (or JSON) parameter file, the name of one of
        :data:`PARAMETER_PRESETS`, or the parameters themselves.

    Returns
    -------
    ExtractionParams

    Raises
    ------
    ParameterError
        Missing file, YAML syntax error, or parameters that pyradiomics'
        schema rejects (unknown image type, feature class or setting).

    Examples
    --------
    >>> p = load_params("mammography_2d")
    >>> p.is_2d, len(p.sha256)
    (True, 64)
    """
    if isinstance(source, Mapping):
        params, where = copy.deepcopy(dict(source)), "parameters"
    elif isinstance(source, str) and source in PARAMETER_PRESETS:
        params, where = copy.deepcopy(PARAMETER_PRESETS[source]), source
    else:
        path = Path(source)
        where = path.name
        if not path.is_file():
            presets = ", ".join(sorted(PARAMETER_PRESETS))
            raise ParameterError(
                f"parameter file {str(path)!r} does not exist (presets: {presets})"
            )
        try:
            params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ParameterError(f"{where} is not valid YAML: {exc}") from exc
    _validate(params, where)
    return ExtractionParams(params=params, sha256=_canonical_hash(params), source=where)
