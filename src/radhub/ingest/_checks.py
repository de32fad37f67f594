"""Ingest checks (PRODUCT.md A8, seed 002 image rules): flag, never reject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom.dataset import Dataset

from radhub.dicom import json_text

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


def _present(ds: Dataset | Mapping[str, Any], keyword: str) -> bool:
    if isinstance(ds, Dataset):
        value = ds.get(keyword)
        text = None if value is None else str(value)
    else:
        text = json_text(dict(ds), keyword)
    return text is not None and text.strip() not in ("", "^", "^^^^")


def run_checks(ds: Dataset | Mapping[str, Any]) -> list[str]:
    """Codes of the identification and exposure fields missing from ``ds``.

    ``ds`` is a dataset or its PS3.18 JSON (ingest passes the JSON it has
    built anyway: reading values from it is much cheaper than from pydicom).

    kVp and mAs (Exposure, or X-Ray Tube Current x Exposure Time, or
    Exposure in uAs) are required for CR, DX and CT.
    """
    flags = [code for code, kws in _REQUIRED.items() if not any(_present(ds, k) for k in kws)]
    if isinstance(ds, Dataset):
        modality = str(ds.get("Modality", "") or "").strip().upper()
    else:
        modality = (json_text(dict(ds), "Modality") or "").strip().upper()
    if modality in _EXPOSURE_MODALITIES:
        if not _present(ds, "KVP"):
            flags.append("missing_kvp")
        has_mas = (
            _present(ds, "Exposure")
            or _present(ds, "ExposureInuAs")
            or (_present(ds, "XRayTubeCurrent") and _present(ds, "ExposureTime"))
            or _present(ds, "ExposureInmAs")
        )
        if not has_mas:
            flags.append("missing_mas")
    return sorted(flags)
