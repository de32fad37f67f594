"""Ingest checks (PRODUCT.md A8, seed 002 image rules): flag, never reject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom.dataset import Dataset

from radhub.dicom import dataset_to_json, json_text

__all__ = ["CHECK_CODES", "run_checks"]

_REQUIRED = {
    "missing_patient_name": ("PatientName",),
    "missing_patient_id": ("PatientID",),
    "missing_patient_sex": ("PatientSex",),
    "missing_patient_age": ("PatientAge", "PatientBirthDate"),  # either satisfies
    "missing_institution": ("InstitutionName",),
    "missing_study_date": ("StudyDate",),
    "missing_modality": ("Modality",),
}
_EXPOSURE_MODALITIES = {"CR", "DX", "CT"}

CHECK_CODES: tuple[str, ...] = tuple(sorted([*_REQUIRED, "missing_kvp", "missing_mas"]))
"""Every code :func:`run_checks` can return."""


def _present(meta: dict[str, Any], keyword: str) -> bool:
    text = json_text(meta, keyword)
    return text is not None and text.strip() not in ("", "^", "^^^^")


def run_checks(ds: Dataset | Mapping[str, Any]) -> list[str]:
    """Codes of the identification and exposure fields missing from ``ds``.

    ``ds`` is a dataset or its PS3.18 JSON (ingest passes the JSON it has
    built anyway: reading values from it is much cheaper than from pydicom).

    kVp and mAs (Exposure, or X-Ray Tube Current x Exposure Time, or
    Exposure in uAs) are required for CR, DX and CT.
    """
    meta = dataset_to_json(ds) if isinstance(ds, Dataset) else dict(ds)
    flags = [code for code, kws in _REQUIRED.items() if not any(_present(meta, k) for k in kws)]
    modality = (json_text(meta, "Modality") or "").strip().upper()
    if modality in _EXPOSURE_MODALITIES:
        if not _present(meta, "KVP"):
            flags.append("missing_kvp")
        has_mas = (
            _present(meta, "Exposure")
            or _present(meta, "ExposureInuAs")
            or (_present(meta, "XRayTubeCurrent") and _present(meta, "ExposureTime"))
            or _present(meta, "ExposureInmAs")
        )
        if not has_mas:
            flags.append("missing_mas")
    return sorted(flags)
