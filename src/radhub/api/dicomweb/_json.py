"""DICOM JSON (PS3.18 Annex F) for DICOMweb responses.

The Store Instances Response Module (PS3.18 Annex I), QIDO-RS results with
their Retrieve URL, and stored metadata with ``bulk:<tag>`` placeholders
rewritten to absolute BulkDataURIs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from radhub.dicom import BULK_PLACEHOLDER

__all__ = [
    "PRIVATE_CREATOR",
    "PRIVATE_CREATOR_TAG",
    "REASON_TAG",
    "StowItem",
    "dataset_json",
    "rewrite_bulk_uris",
    "store_response",
]

PRIVATE_CREATOR = "RADHUB"
"""radhub's private creator, in (0009,0010): it reserves the elements (0009,10xx) (PS3.5 7.8.1)."""
PRIVATE_CREATOR_TAG = "00090010"
REASON_TAG = "00091001"
"""radhub's human-readable reason for a failure or warning in a STOW-RS response item.

A private data element (0009,1001), LT, of the block that (0009,0010)
``RADHUB`` reserves, so no standard reader gives it a meaning; ``radhub
import --url`` prints it. Its value is text for people, never parsed.
"""

# PS3.18 I.2.1 / I.2.2
WARNING_DATASET_MISMATCH = 0xB007
FAILURE_OUT_OF_RESOURCES = 0xA700
FAILURE_MISMATCH = 0xA900
FAILURE_CANNOT_UNDERSTAND = 0xC000
FAILURE_PROCESSING = 0x0110
FAILURE_DUPLICATE_INSTANCE = 0x0111


@dataclass(frozen=True)
class StowItem:
    """One part's outcome in a STOW-RS response."""

    sop_class_uid: str | None
    sop_instance_uid: str | None
    retrieve_url: str | None = None
    failure: int | None = None
    warning: int | None = None
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.failure is not None


def _ui(value: str | None) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _item(entry: StowItem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "00081150": _ui(entry.sop_class_uid),
        "00081155": _ui(entry.sop_instance_uid),
    }
    if entry.failure is not None:
        out["00081197"] = {"vr": "US", "Value": [entry.failure]}
    else:
        out["00081190"] = (
            {"vr": "UR", "Value": [entry.retrieve_url]} if entry.retrieve_url else {"vr": "UR"}
        )
        if entry.warning is not None:
            out["00081196"] = {"vr": "US", "Value": [entry.warning]}
    if entry.reason:
        out[PRIVATE_CREATOR_TAG] = {"vr": "LO", "Value": [PRIVATE_CREATOR]}
        out[REASON_TAG] = {"vr": "LT", "Value": [entry.reason]}
    return dict(sorted(out.items()))


def store_response(items: list[StowItem], study_retrieve_url: str | None) -> dict[str, Any]:
    """The Store Instances Response Module as DICOM JSON."""
    out: dict[str, Any] = {
        "00081190": {"vr": "UR", "Value": [study_retrieve_url]}
        if study_retrieve_url
        else {"vr": "UR"}
    }
    failed = [_item(i) for i in items if i.failed]
    ok = [_item(i) for i in items if not i.failed]
    if failed:
        out["00081198"] = {"vr": "SQ", "Value": failed}
    if ok:
        out["00081199"] = {"vr": "SQ", "Value": ok}
    return out


def dataset_json(ds: Dataset) -> dict[str, Any]:
    """DICOM JSON of a query result dataset (binary values inline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.to_json_dict(bulk_data_threshold=1 << 30)


def rewrite_bulk_uris(meta: dict[str, Any], instance_url: str, path: str = "") -> dict[str, Any]:
    """Replace ``bulk:<tag>`` placeholders with absolute BulkDataURIs, in place.

    A top-level element gets ``{instance_url}/bulk/<tag>``; one nested in a
    sequence gets ``{instance_url}/bulk/<seq tag>/<item index>/<tag>`` so
    that every URI names exactly one element.
    """
    for tag, element in meta.items():
        if not isinstance(element, dict):
            continue
        uri = element.get("BulkDataURI")
        if isinstance(uri, str) and uri.startswith(BULK_PLACEHOLDER):
            element["BulkDataURI"] = f"{instance_url}/bulk/{path}{tag}"
        if element.get("vr") == "SQ":
            for i, item in enumerate(element.get("Value") or []):
                if isinstance(item, dict):
                    rewrite_bulk_uris(item, instance_url, f"{path}{tag}/{i}/")
    return meta
