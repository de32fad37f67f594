"""C-FIND SCP: identifiers become criteria for the one query engine, :func:`radhub.catalog.search`.

Matching is relational at STUDY, SERIES and IMAGE level (PS3.4 C.4.1.2.2.2):
higher-level unique keys are optional, and any level may be queried
directly. The Patient Root PATIENT level is answered from study-level
matches grouped by Patient ID and Issuer.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from radhub.archive import Archive
from radhub.catalog import DEFAULT_FIELDS, QueryError, QueryLevel, search
from radhub.net._contexts import QueryModel
from radhub.net._status import DimseStatus, status_dataset
from radhub.net.errors import IdentifierError

logger = logging.getLogger(__name__)

__all__ = ["FindQuery", "FindService", "parse_find_identifier"]

_PAGE = 500

PATIENT_KEYS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
)
_PATIENT_COUNTS = (
    "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances",
)
# Keys the SCP answers itself (not criteria for the catalog).
_RESPONSE_ONLY = {"RetrieveAETitle", "InstanceAvailability"}
_SKIPPED = {"QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC"}

_UNIQUE_KEYS = {
    "PATIENT": ("PatientID",),
    "STUDY": ("StudyInstanceUID",),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID"),
    "IMAGE": ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"),
}


def _level_only_keys() -> dict[str, set[str]]:
    """Attributes that belong to a level below the given one (from the engine's default fields)."""
    study = set(DEFAULT_FIELDS[QueryLevel.STUDY])
    series = set(DEFAULT_FIELDS[QueryLevel.SERIES]) - study
    image = set(DEFAULT_FIELDS[QueryLevel.IMAGE]) - study - series
    return {"STUDY": series | image, "SERIES": image, "IMAGE": set()}


_BELOW = _level_only_keys()


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    return int(tag) if tag is not None else 0


@dataclass(frozen=True)
class FindQuery:
    """A C-FIND identifier translated for :func:`radhub.catalog.search`.

    Attributes
    ----------
    level
        ``PATIENT``, ``STUDY``, ``SERIES`` or ``IMAGE``.
    criteria
        Keyword to matching value (``""`` asks for the attribute to be returned).
    requested
        Every keyword the identifier asked for, in tag order (the response
        carries these, plus the unique keys of the level).
    """

    level: str
    criteria: dict[str, str]
    requested: tuple[str, ...] = field(default=())


def _value_string(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        if value.strip(b"\x00 "):
            raise IdentifierError(
                DimseStatus.CANNOT_UNDERSTAND,
                f"matching on binary values is not supported ({elem.keyword})",
                [int(elem.tag)],
            )
        return ""
    if isinstance(value, (MultiValue, list)):
        return "\\".join(str(v) for v in value)
    if isinstance(value, PersonName):
        return str(value)
    return str(value).strip()


def _sequence_is_empty(elem: DataElement) -> bool:
    for item in elem.value or []:
        for sub in item:
            if sub.VR == "SQ":
                if not _sequence_is_empty(sub):
                    return False
            elif sub.value not in (None, "", b"") and str(sub.value).strip():
                return False
    return True


def parse_find_identifier(
    identifier: Dataset, model: QueryModel = QueryModel.STUDY_ROOT
) -> FindQuery:
    """Translate a C-FIND request identifier into a :class:`FindQuery`.

    Parameters
    ----------
    identifier
        The request's identifier (decoded).
    model
        The information model the request was sent under.

    Raises
    ------
    IdentifierError
        ``0xA900`` if the Query/Retrieve Level is missing or not one of the
        model's, or a key of a lower level carries a matching value;
        ``0xC000`` for values the SCP cannot match (sequence matching,
        binary values) or an identifier that cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
            elements = list(identifier)
    except Exception as exc:
        raise IdentifierError(
            DimseStatus.CANNOT_UNDERSTAND, "the identifier cannot be decoded"
        ) from exc
    if not level:
        raise IdentifierError(
            DimseStatus.DATASET_DOES_NOT_MATCH,
            "the identifier lacks Query/Retrieve Level (0008,0052)",
            [_tag("QueryRetrieveLevel")],
        )
    if level not in model.levels:
        raise IdentifierError(
            DimseStatus.DATASET_DOES_NOT_MATCH,
            f"level {level[:16]} is not one of {', '.join(model.levels)}",
            [_tag("QueryRetrieveLevel")],
        )

    criteria: dict[str, str] = {}
    requested: list[str] = []
    for elem in elements:
        tag = elem.tag
        if tag.is_private or tag.element == 0 or not elem.keyword:
            continue
        kw = elem.keyword
        if kw in _SKIPPED:
            continue
        if kw in _RESPONSE_ONLY:
            requested.append(kw)
            continue
        if elem.VR == "SQ":
            if not _sequence_is_empty(elem):
                raise IdentifierError(
                    DimseStatus.CANNOT_UNDERSTAND,
                    f"sequence matching is not supported ({kw})",
                    [int(tag)],
                )
            value = ""
        else:
            try:
                value = _value_string(elem)
            except IdentifierError:
                raise
            except Exception as exc:
                raise IdentifierError(
                    DimseStatus.CANNOT_UNDERSTAND,
                    f"the value of {kw} cannot be decoded",
                    [int(tag)],
                ) from exc
        if level == "PATIENT":
            if kw not in PATIENT_KEYS and kw not in _PATIENT_COUNTS:
                if value:
                    raise IdentifierError(
                        DimseStatus.DATASET_DOES_NOT_MATCH,
                        f"{kw} is not a PATIENT level attribute",
                        [int(tag)],
                    )
                continue
            if kw in _PATIENT_COUNTS and value:
                raise IdentifierError(
                    DimseStatus.CANNOT_UNDERSTAND, f"matching on {kw} is not supported", [int(tag)]
                )
        elif kw in _BELOW[level]:
            if value:
                raise IdentifierError(
                    DimseStatus.DATASET_DOES_NOT_MATCH,
                    f"{kw} is below the {level} level; query that level instead",
                    [int(tag)],
                )
            continue
        requested.append(kw)
        if kw not in _PATIENT_COUNTS:
            criteria[kw] = value
    return FindQuery(level, criteria, tuple(requested))


def _needs_utf8(ds: Dataset) -> bool:
    for elem in ds:
        value = elem.value
        if isinstance(value, (str, PersonName)) and not str(value).isascii():
            return True
        if isinstance(value, MultiValue) and any(not str(v).isascii() for v in value):
            return True
    return False


def _response(match: Dataset, query: FindQuery, ae_title: str) -> Dataset:
    """Only the requested keys (and the level's unique keys), plus level and Retrieve AE Title."""
    out = Dataset()
    keywords = dict.fromkeys([*query.requested, *_UNIQUE_KEYS[query.level]])
    for kw in keywords:
        if kw == "RetrieveAETitle":
            continue
        if kw == "InstanceAvailability":
            out.InstanceAvailability = "ONLINE"
            continue
        tag = tag_for_keyword(kw)
        if tag is None:
            continue
        if tag in match:
            out[tag] = match[tag]
        else:
            out.add_new(tag, dictionary_VR(tag), None)
    out.QueryRetrieveLevel = query.level
    out.RetrieveAETitle = ae_title
    if _needs_utf8(out):
        out.SpecificCharacterSet = "ISO_IR 192"
    return out


def run_find(archive: Archive, query: FindQuery) -> Iterator[Dataset]:
    """Matches of ``query`` as full datasets, paging through the catalog.

    Raises
    ------
    radhub.catalog.QueryError
        For values the query engine cannot match.
    """
    if query.level == "PATIENT":
        yield from _patients(archive, query)
        return
    offset = 0
    while True:
        page = search(archive.catalog, query.level, query.criteria, limit=_PAGE, offset=offset)
        yield from page.datasets
        if not page.more:
            return
        offset += len(page.datasets)


def _patients(archive: Archive, query: FindQuery) -> Iterator[Dataset]:
    criteria = {kw: v for kw, v in query.criteria.items() if kw in PATIENT_KEYS}
    criteria.update({kw: criteria.get(kw, "") for kw in PATIENT_KEYS})
    patients: dict[tuple[str, str], Dataset] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    offset = 0
    while True:
        page = search(archive.catalog, QueryLevel.STUDY, criteria, limit=_PAGE, offset=offset)
        for study in page.datasets:
            key = (
                str(study.get("PatientID", "") or ""),
                str(study.get("IssuerOfPatientID", "") or ""),
            )
            if key not in patients:
                patient = Dataset()
                for kw in PATIENT_KEYS:
                    if kw in study:
                        patient[study[kw].tag] = study[kw]
                patients[key] = patient
                counts[key] = [0, 0, 0]
            c = counts[key]
            c[0] += 1
            c[1] += int(study.get("NumberOfStudyRelatedSeries", 0) or 0)
            c[2] += int(study.get("NumberOfStudyRelatedInstances", 0) or 0)
        if not page.more:
            break
        offset += len(page.datasets)
    for key, patient in patients.items():
        for kw, n in zip(_PATIENT_COUNTS, counts[key]):
            setattr(patient, kw, n)
        yield patient


class FindService:
    """The EVT_C_FIND handler of one archive.

    Parameters
    ----------
    archive
        The archive queried.
    ae_title
        Returned as Retrieve AE Title in every match.
    """

    def __init__(self, archive: Archive, ae_title: str) -> None:
        self.archive = archive
        self.ae_title = ae_title

    def __call__(self, event: Any) -> Iterator[tuple[Any, Dataset | None]]:
        """Yield ``(0xFF00, identifier)`` per match, then pynetdicom sends Success."""
        start = time.perf_counter()
        status = DimseStatus.SUCCESS
        try:
            for status_or_ds, match in self.responses(
                event.identifier,
                QueryModel.of(str(event.request.AffectedSOPClassUID)),
                lambda: event.is_cancelled,
            ):
                if isinstance(status_or_ds, Dataset):
                    status = DimseStatus(status_or_ds.Status)
                    yield status_or_ds, match
                    continue
                if status_or_ds is DimseStatus.CANCEL:
                    status = DimseStatus.CANCEL
                yield int(status_or_ds), match
        finally:
            self.archive.metrics.dimse_latency.labels(
                command="C-FIND", status=f"{int(status):04X}"
            ).observe(time.perf_counter() - start)

    def responses(
        self, identifier: Dataset, model: QueryModel, is_cancelled: Any = lambda: False
    ) -> Iterator[tuple[Any, Dataset | None]]:
        """The (status, identifier) pairs answering one C-FIND request.

        Pending ``0xFF00`` with the response identifier per match; ``0xFE00``
        if ``is_cancelled()`` becomes true; a failure status dataset (with
        Error Comment and Offending Element) for an identifier that cannot be
        processed. The final Success is added by pynetdicom.
        """
        try:
            query = parse_find_identifier(identifier, model)
        except IdentifierError as exc:
            logger.info("C-FIND identifier refused: 0x%04X", exc.status)
            yield status_dataset(exc.status, str(exc), exc.offending), None
            return
        matches = run_find(self.archive, query)
        while True:
            if is_cancelled():
                yield DimseStatus.CANCEL, None
                return
            try:
                match = next(matches)
            except StopIteration:
                return
            except QueryError as exc:
                logger.info("C-FIND at %s level refused by the query engine", query.level)
                yield status_dataset(DimseStatus.CANNOT_UNDERSTAND, str(exc)), None
                return
            except Exception as exc:  # noqa: BLE001 - catalog failure: answer instead of aborting
                logger.error("C-FIND failed: catalog error (%s)", type(exc).__name__)
                yield (
                    status_dataset(DimseStatus.OUT_OF_RESOURCES, "the catalog cannot be queried"),
                    None,
                )
                return
            yield DimseStatus.PENDING, _response(match, query, self.ae_title)
