"""One query engine for QIDO-RS and C-FIND (PS3.4 C.2.2.2 matching).

Matching supported on the indexed attributes of each level:
single value, universal (empty), wildcard (``*`` and ``?``), list of UIDs
(backslash separated), and ranges for dates and times (``A-B``, ``A-``,
``-B``). Person names match case-insensitively; ``fuzzy=True`` also
matches the start of any name component.

The query itself is shared; its rows are rendered twice over: as pydicom
datasets by :func:`search` (C-FIND identifiers) and as PS3.18 DICOM JSON
by :func:`search_json` (QIDO-RS), straight from the column values and the
stored metadata JSON, which is much faster than writing datasets as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pydicom.valuerep import PersonName
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from radhub.catalog._bulk import name_key
from radhub.catalog._catalog import Catalog
from radhub.catalog._models import Instance, InstanceCheck, Patient, Series, Study
from radhub.catalog._tenancy import study_condition
from radhub.catalog.errors import QueryError

__all__ = ["QueryJsonResult", "QueryLevel", "QueryResult", "resolve_keyword", "search", "search_json"]


class QueryLevel(str, Enum):
    """Query/Retrieve level (PS3.4 C.6.2): DICOM's code strings."""

    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @classmethod
    def parse(cls, value: str) -> QueryLevel:
        v = value.strip().upper()
        if v == "INSTANCE":
            v = "IMAGE"
        try:
            return cls(v)
        except ValueError as exc:
            raise QueryError(f"query level must be STUDY, SERIES or IMAGE, got {value!r}") from exc


@dataclass(frozen=True)
class _Attr:
    keyword: str
    column: InstrumentedAttribute[Any]
    kind: str  # uid | str | pn | date | time | num | modalities
    level: QueryLevel
    key_column: InstrumentedAttribute[Any] | None = None


_ATTRS: dict[str, _Attr] = {
    a.keyword: a
    for a in [
        _Attr("PatientID", Patient.patient_id, "str", QueryLevel.STUDY),
        _Attr("IssuerOfPatientID", Patient.issuer, "str", QueryLevel.STUDY),
        _Attr("PatientName", Patient.patient_name, "pn", QueryLevel.STUDY, Patient.patient_name_key),
        _Attr("PatientBirthDate", Patient.birth_date, "date", QueryLevel.STUDY),
        _Attr("PatientSex", Patient.sex, "str", QueryLevel.STUDY),
        _Attr("StudyInstanceUID", Study.study_uid, "uid", QueryLevel.STUDY),
        _Attr("StudyDate", Study.study_date, "date", QueryLevel.STUDY),
        _Attr("StudyTime", Study.study_time, "time", QueryLevel.STUDY),
        _Attr("AccessionNumber", Study.accession_number, "str", QueryLevel.STUDY),
        _Attr("StudyID", Study.study_id, "str", QueryLevel.STUDY),
        _Attr("StudyDescription", Study.study_description, "str", QueryLevel.STUDY),
        _Attr(
            "ReferringPhysicianName",
            Study.referring_physician,
            "pn",
            QueryLevel.STUDY,
            Study.referring_physician_key,
        ),
        _Attr("InstitutionName", Study.institution_name, "str", QueryLevel.STUDY),
        _Attr("ModalitiesInStudy", Study.modalities, "modalities", QueryLevel.STUDY),
        _Attr("NumberOfStudyRelatedSeries", Study.num_series, "count", QueryLevel.STUDY),
        _Attr("NumberOfStudyRelatedInstances", Study.num_instances, "count", QueryLevel.STUDY),
        _Attr("SeriesInstanceUID", Series.series_uid, "uid", QueryLevel.SERIES),
        _Attr("Modality", Series.modality, "str", QueryLevel.SERIES),
        _Attr("SeriesNumber", Series.series_number, "num", QueryLevel.SERIES),
        _Attr("SeriesDescription", Series.series_description, "str", QueryLevel.SERIES),
        _Attr("BodyPartExamined", Series.body_part, "str", QueryLevel.SERIES),
        _Attr("PerformedProcedureStepStartDate", Series.performed_start_date, "date", QueryLevel.SERIES),
        _Attr("PerformedProcedureStepStartTime", Series.performed_start_time, "time", QueryLevel.SERIES),
        _Attr("NumberOfSeriesRelatedInstances", Series.num_instances, "count", QueryLevel.SERIES),
        _Attr("SOPInstanceUID", Instance.sop_uid, "uid", QueryLevel.IMAGE),
        _Attr("SOPClassUID", Instance.sop_class_uid, "uid", QueryLevel.IMAGE),
        _Attr("InstanceNumber", Instance.instance_number, "num", QueryLevel.IMAGE),
        _Attr("NumberOfFrames", Instance.frames, "count", QueryLevel.IMAGE),
        _Attr("Rows", Instance.rows, "count", QueryLevel.IMAGE),
        _Attr("Columns", Instance.columns, "count", QueryLevel.IMAGE),
    ]
}

# Attributes returned by default at each level (PS3.18 Tables 10.6.3-3..5).
DEFAULT_FIELDS: dict[QueryLevel, tuple[str, ...]] = {
    QueryLevel.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "StudyDescription",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    QueryLevel.SERIES: (
        "StudyInstanceUID",
        "Modality",
        "SeriesDescription",
        "SeriesNumber",
        "SeriesInstanceUID",
        "NumberOfSeriesRelatedInstances",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "BodyPartExamined",
    ),
    QueryLevel.IMAGE: (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceNumber",
        "Rows",
        "Columns",
        "NumberOfFrames",
    ),
}

_LEVEL_ORDER = {QueryLevel.STUDY: 0, QueryLevel.SERIES: 1, QueryLevel.IMAGE: 2}
_IGNORED_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "InstanceAvailability", "TimezoneOffsetFromUTC"}


def resolve_keyword(key: str) -> str:
    """A DICOM keyword for a keyword or an 8-hex-digit tag (``00100010``)."""
    k = key.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{8}", k):
        kw = keyword_for_tag(int(k, 16))
        if not kw:
            raise QueryError(f"unknown attribute tag {k}")
        return kw
    if tag_for_keyword(k) is None:
        raise QueryError(f"unknown attribute {k!r}: use a DICOM keyword or an 8-digit hex tag")
    return k


@dataclass(frozen=True)
class QueryResult:
    """Matches of one query as datasets, plus whether more exist past ``limit``."""

    datasets: list[Dataset]
    more: bool


@dataclass(frozen=True)
class QueryJsonResult:
    """Matches of one query as DICOM JSON objects, plus whether more exist past ``limit``."""

    items: list[dict[str, Any]]
    more: bool


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _wildcard_to_like(value: str) -> str:
    return _like_escape(value).replace("*", "%").replace("?", "_")


_DATE_RE = re.compile(r"^\d{8}$")


def _norm_date(v: str, key: str) -> str:
    v = v.strip().replace("-", "") if len(v.strip()) == 10 and v.count("-") == 2 else v.strip()
    if not _DATE_RE.match(v):
        raise QueryError(f"{key} value {v!r} is not a date YYYYMMDD")
    return v


def _norm_time(v: str, key: str) -> str:
    v = v.strip().replace(":", "")
    if not re.fullmatch(r"\d{2,6}(\.\d{1,6})?", v):
        raise QueryError(f"{key} value {v!r} is not a time HHMMSS[.FFFFFF]")
    return v


def normalise_time(v: str) -> str:
    """Stored form of a TM value: HHMMSS.FFFFFF padded so ranges compare as strings."""
    v = (v or "").strip().replace(":", "")
    if not v:
        return ""
    main, _, frac = v.partition(".")
    main = (main + "000000")[:6]
    return f"{main}.{(frac + '000000')[:6]}"


def _range(col: Any, value: str, key: str, kind: str) -> ColumnElement[bool]:
    norm = _norm_date if kind == "date" else _norm_time
    lo, _, hi = value.partition("-")
    conds = [col != ""]
    if lo.strip():
        lo_n = norm(lo, key)
        conds.append(col >= (normalise_time(lo_n) if kind == "time" else lo_n))
    if hi.strip():
        hi_n = norm(hi, key)
        if kind == "time":
            hi_n = normalise_time(hi_n)
            # an upper bound HHMM includes the whole minute
            hi_n = hi_n[: len(hi.strip().replace(":", ""))].ljust(13, "9") if "." not in hi else hi_n
        conds.append(col <= hi_n)
    if not lo.strip() and not hi.strip():
        raise QueryError(f"{key} range {value!r} has neither a start nor an end")
    return and_(*conds)


def _prefix_range(col: Any, pattern: str) -> ColumnElement[bool] | None:
    """``col`` between the literal prefix of a wildcard ``pattern`` and the next string after it.

    SQLite's LIKE is case-insensitive, so its plain (binary) index is never
    used for it; this range, added to the LIKE, lets it be. Strings compare
    by code point in Python as in SQLite's binary collation, so the range
    holds exactly the strings that start with the prefix. Not for
    PostgreSQL, whose collation order need not agree with the prefix
    (there an index with ``text_pattern_ops`` serves the LIKE itself).
    """
    prefix = re.split(r"[*?]", pattern, maxsplit=1)[0]
    if not prefix:
        return None
    chars = list(prefix)
    while chars and ord(chars[-1]) == 0x10FFFF:
        chars.pop()
    if not chars:
        return col >= prefix
    nxt = ord(chars[-1]) + 1
    chars[-1] = chr(0xE000 if 0xD800 <= nxt <= 0xDFFF else nxt)
    return and_(col >= prefix, col < "".join(chars))


def _condition(attr: _Attr, value: str, fuzzy: bool, sqlite: bool = False) -> ColumnElement[bool] | None:
    v = value.strip()
    if v == "" or v == "*":
        return None
    key = attr.keyword
    if attr.kind == "uid":
        uids = [u.strip() for u in v.split("\\") if u.strip()]
        for u in uids:
            if not re.fullmatch(r"[0-9.]{1,64}", u):
                raise QueryError(f"{key} value {u!r} is not a UID")
        return attr.column.in_(uids)
    if attr.kind in ("date", "time"):
        if "-" in v and not (attr.kind == "date" and len(v) == 10 and v[4] == "-" and v[7] == "-"):
            return _range(attr.column, v, key, attr.kind)
        if "\\" in v:
            raise QueryError(f"{key} does not accept a list of values")
        if attr.kind == "date":
            return attr.column == _norm_date(v, key)
        t = normalise_time(_norm_time(v, key))
        n = len(v.replace(":", ""))
        return attr.column.like(_like_escape(t[:n]) + "%", escape="\\")
    if attr.kind == "modalities":
        mods = [m.strip().upper() for m in v.split("\\") if m.strip()]
        return exists().where(Series.study_pk == Study.pk, Series.modality.in_(mods))
    if attr.kind == "count":
        try:
            return attr.column == int(v)
        except ValueError as exc:
            raise QueryError(f"{key} value {v!r} is not an integer") from exc
    if attr.kind == "pn":
        col = attr.key_column if attr.key_column is not None else attr.column
        pattern = name_key(v)
        if fuzzy:
            p = _wildcard_to_like(pattern)
            return or_(col.like(p + "%", escape="\\"), col.like("%^" + p + "%", escape="\\"), col.like("% " + p + "%", escape="\\"))
        if "*" in pattern or "?" in pattern:
            like = col.like(_wildcard_to_like(pattern), escape="\\")
            prefix = _prefix_range(col, pattern) if sqlite else None
            return like if prefix is None else and_(prefix, like)
        return col == pattern
    if attr.kind == "num":
        vals = [x.strip() for x in v.split("\\") if x.strip()]
        return attr.column.in_(vals)
    # str
    if "\\" in v:
        return attr.column.in_([x for x in v.split("\\")])
    if "*" in v or "?" in v:
        return attr.column.like(_wildcard_to_like(v), escape="\\")
    return attr.column == v


def _base_select(level: QueryLevel) -> Select[Any]:
    if level is QueryLevel.STUDY:
        return select(Study, Patient).join(Patient, Study.patient_pk == Patient.pk)
    if level is QueryLevel.SERIES:
        return (
            select(Series, Study, Patient)
            .join(Study, Series.study_pk == Study.pk)
            .join(Patient, Study.patient_pk == Patient.pk)
        )
    return (
        select(Instance, Series, Study, Patient)
        .join(Series, Instance.series_pk == Series.pk)
        .join(Study, Series.study_pk == Study.pk)
        .join(Patient, Study.patient_pk == Patient.pk)
    )


@dataclass(frozen=True)
class _Matches:
    """The rows of one query, before they are rendered as datasets or as JSON."""

    level: QueryLevel
    returned: list[str]
    """Keywords of the catalog columns at the start of each row, in order."""
    extra: list[str]
    """Keywords taken from the stored metadata (absent ones are returned empty)."""
    all_metadata: bool
    """Whether every stored attribute of each instance is returned (``includefield=all`` at IMAGE)."""
    rows: list[Any]
    extras: list[dict[str, Any] | None] | None
    """Stored metadata JSON of each row, when attributes are taken from it."""
    more: bool


def _flagged(lvl: QueryLevel, code: str) -> Any:
    """Matches with at least one instance carrying the ingest-check ``code`` (A8; ``any``: any code)."""
    checked = select(InstanceCheck.instance_pk)
    if code != "any":
        checked = checked.where(InstanceCheck.code == code)
    if lvl is QueryLevel.IMAGE:
        return Instance.pk.in_(checked)
    series = select(Instance.series_pk).where(Instance.pk.in_(checked))
    if lvl is QueryLevel.SERIES:
        return Series.pk.in_(series)
    return Study.pk.in_(select(Series.study_pk).where(Series.pk.in_(series)))


def _match(
    catalog: Catalog,
    level: QueryLevel | str,
    criteria: Mapping[str, str] | None,
    include_fields: Sequence[str],
    include_all: bool,
    limit: int | None,
    offset: int,
    fuzzy: bool,
    sort: Sequence[str] = (),
    flagged: str | None = None,
) -> _Matches:
    """Parse the query, run it and fetch the rows and metadata both renderers need."""
    lvl = level if isinstance(level, QueryLevel) else QueryLevel.parse(level)
    criteria = dict(criteria or {})
    if limit is not None and limit < 0:
        raise QueryError(f"limit must be >= 0, got {limit}")
    if offset < 0:
        raise QueryError(f"offset must be >= 0, got {offset}")

    q = _base_select(lvl)
    tenant = study_condition(Study)
    if tenant is not None:
        q = q.where(tenant)
    returned: list[str] = list(DEFAULT_FIELDS[lvl])
    extra: list[str] = []
    for raw_key, value in criteria.items():
        kw = resolve_keyword(raw_key)
        if kw in _IGNORED_KEYS:
            continue
        attr = _ATTRS.get(kw)
        if attr is None:
            if str(value).strip():
                raise QueryError(f"matching on {kw} is not supported; it may only be requested as a return key")
            extra.append(kw)
            continue
        if _LEVEL_ORDER[attr.level] > _LEVEL_ORDER[lvl]:
            raise QueryError(f"{kw} is an attribute of the {attr.level.value} level, not of {lvl.value}")
        if kw not in returned:
            returned.append(kw)
        cond = _condition(attr, str(value), fuzzy, catalog.is_sqlite)
        if cond is not None:
            q = q.where(cond)
    for f in include_fields:
        kw = resolve_keyword(f)
        attr = _ATTRS.get(kw)
        if attr is not None and _LEVEL_ORDER[attr.level] <= _LEVEL_ORDER[lvl]:
            if kw not in returned:
                returned.append(kw)
        elif kw not in extra:
            extra.append(kw)
    if include_all:
        for kw, attr in _ATTRS.items():
            if _LEVEL_ORDER[attr.level] <= _LEVEL_ORDER[lvl] and kw not in returned:
                returned.append(kw)

    order = {QueryLevel.STUDY: Study.pk, QueryLevel.SERIES: Series.pk, QueryLevel.IMAGE: Instance.pk}[lvl]
    if flagged is not None:
        q = q.where(_flagged(lvl, flagged))
    sort_by: list[Any] = []
    for key in sort:
        descending = key.startswith("-")
        kw = resolve_keyword(key.lstrip("-+"))
        attr = _ATTRS.get(kw)
        if attr is None or _LEVEL_ORDER[attr.level] > _LEVEL_ORDER[lvl]:
            raise QueryError(f"cannot sort {lvl.value} results by {kw}")
        sort_by.append(attr.column.desc() if descending else attr.column.asc())
    # the catalog's stable order breaks ties (and is the whole order when none is asked for)
    last_desc = bool(sort) and sort[-1].startswith("-")
    sort_by.append(order.desc() if last_desc else order)
    # fetch only the returned columns (never the metadata JSON of every row)
    all_metadata = include_all and lvl is QueryLevel.IMAGE
    want_extras = bool(extra) or all_metadata
    columns: list[Any] = [_ATTRS[kw].column for kw in returned]
    columns.append(order)
    if want_extras and lvl is QueryLevel.IMAGE:
        columns.append(Instance.metadata_json)
    q = q.with_only_columns(*columns, maintain_column_froms=True).order_by(*sort_by).offset(offset)
    if limit is not None:
        q = q.limit(limit + 1)

    with catalog.session() as s:
        rows = s.execute(q).all()
        more = limit is not None and len(rows) > limit
        if more:
            rows = rows[:limit]
        extras_by_row = _load_extras(s, lvl, [r[len(returned)] for r in rows], rows) if want_extras else None
    return _Matches(lvl, returned, extra, all_metadata, rows, extras_by_row, more)


def search(
    catalog: Catalog,
    level: QueryLevel | str,
    criteria: Mapping[str, str] | None = None,
    *,
    include_fields: Sequence[str] = (),
    include_all: bool = False,
    limit: int | None = None,
    offset: int = 0,
    fuzzy: bool = False,
) -> QueryResult:
    """Find studies, series or instances matching ``criteria``.

    Parameters
    ----------
    catalog
        The catalog to search.
    level
        ``STUDY``, ``SERIES`` or ``IMAGE`` (``INSTANCE`` is accepted).
    criteria
        Attribute keyword (or hex tag) to matching value; an empty value asks
        for the attribute to be returned (universal matching).
    include_fields
        Further attributes to return; those the catalog does not index are
        taken from the stored metadata of the first instance of each match.
    include_all
        Return every attribute available at the level (``includefield=all``).
    limit, offset
        Paging, in the catalog's stable order.
    fuzzy
        Fuzzy person-name matching (QIDO ``fuzzymatching=true``).

    Returns
    -------
    QueryResult
        One dataset per match, with QueryRetrieveLevel set (C-FIND's identifiers).

    Raises
    ------
    QueryError
        For an unknown attribute, one that cannot be matched at this level,
        or a malformed value.
    """
    m = _match(catalog, level, criteria, include_fields, include_all, limit, offset, fuzzy)
    return QueryResult(_datasets(m), m.more)


def search_json(
    catalog: Catalog,
    level: QueryLevel | str,
    criteria: Mapping[str, str] | None = None,
    *,
    include_fields: Sequence[str] = (),
    include_all: bool = False,
    limit: int | None = None,
    offset: int = 0,
    fuzzy: bool = False,
    sort: Sequence[str] = (),
    flagged: str | None = None,
) -> QueryJsonResult:
    """Find studies, series or instances matching ``criteria``, as DICOM JSON.

    The same query as :func:`search`, rendered straight from the catalog's
    rows as PS3.18 Annex F JSON objects: each is what
    ``Dataset.to_json_dict`` gives for the dataset :func:`search` returns,
    without the QueryRetrieveLevel (0008,0052) element. Attributes taken
    from the stored metadata are copied from its JSON; elements stored as
    BulkDataURIs come out without a value, and group 7FE0 is left out.

    Parameters
    ----------
    catalog, level, criteria, include_fields, include_all, limit, offset, fuzzy
        As for :func:`search`.
    sort
        Keywords to order by (``-StudyDate``: descending), then the catalog's order.
    flagged
        Only matches with an instance flagged by this ingest-check code (``any``: any code).

    Returns
    -------
    QueryJsonResult
        One JSON object per match, its keys (8-digit hex tags) in ascending order.

    Raises
    ------
    QueryError
        For an unknown attribute, one that cannot be matched at this level,
        or a malformed value.
    """
    m = _match(catalog, level, criteria, include_fields, include_all, limit, offset, fuzzy, sort, flagged)
    return QueryJsonResult(_json_items(m), m.more)


def _datasets(m: _Matches) -> list[Dataset]:
    """The matches as pydicom datasets (C-FIND identifiers)."""
    converters = [_converter(kw) for kw in m.returned]
    level_elem = (0x00080052, "CS", m.level.value)
    out: list[Dataset] = []
    for i, row in enumerate(m.rows):
        ds = Dataset()
        ds[level_elem[0]] = DataElement(level_elem[0], level_elem[1], level_elem[2], validation_mode=_TRUSTED)
        for conv, value in zip(converters, row):
            conv(ds, value)
        if m.extras is not None:
            meta = m.extras[i]
            if meta is not None:
                src = Dataset.from_json(meta, bulk_data_uri_handler=lambda *a: b"")
                keys = list(src.keys()) if m.all_metadata else [tag_for_keyword(k) for k in m.extra]
                for tag in keys:
                    if tag is not None and tag in src and tag not in ds and int(tag) >> 16 != 0x7FE0:
                        ds[tag] = src[tag]
            for kw in m.extra:
                if kw not in ds:
                    _set(ds, kw, None)
        out.append(ds)
    return out


# values come from the catalog, validated when they were ingested
_TRUSTED = pydicom_config.IGNORE


def _converter(keyword: str) -> Any:
    """A fast setter of one returned attribute from its column value."""
    attr = _ATTRS[keyword]
    tag = tag_for_keyword(keyword)
    vr = dictionary_VR(tag)
    is_int = vr in ("IS", "US", "UL", "SL", "SS")
    # values of these VRs are stored in their final Python form: skip pydicom's conversion
    wrap: Any = {"PN": PersonName, "UI": UID}.get(vr, str if vr in ("CS", "DA", "TM", "LO", "SH", "UI") else None)

    def convert(ds: Dataset, value: Any) -> None:
        if attr.kind == "modalities":
            value = [m for m in str(value or "").split("\\") if m]
            if not value:
                value = None
        elif attr.kind == "time" and value:
            value = str(value).rstrip("0").rstrip(".") if "." in str(value) else value
        if value is None or value == "":
            ds[tag] = DataElement(tag, vr, None, validation_mode=_TRUSTED)
            return
        if is_int:
            try:
                value = int(value)
            except (TypeError, ValueError):
                ds[tag] = DataElement(tag, vr, None, validation_mode=_TRUSTED)
                return
        if is_int:
            ds[tag] = DataElement(tag, vr, value, validation_mode=_TRUSTED, already_converted=True)
        elif wrap is not None and isinstance(value, str) and "\\" not in value:
            ds[tag] = DataElement(tag, vr, wrap(value), validation_mode=_TRUSTED, already_converted=True)
        else:
            ds[tag] = DataElement(tag, vr, value, validation_mode=_TRUSTED)

    return convert


_INT_VRS = frozenset(("IS", "US", "UL", "SL", "SS"))
_LEVEL_TAG = "00080052"
_NO_VALUE_KEYS = ("Value", "InlineBinary", "BulkDataURI")


def _json_items(m: _Matches) -> list[dict[str, Any]]:
    """The matches as DICOM JSON objects, without going through pydicom."""
    renderers = [(f"{tag_for_keyword(kw):08X}", _json_renderer(kw)) for kw in m.returned]
    # attributes asked for but not stored: empty, in the dictionary's VR (a sequence has no items)
    empty_extras: list[tuple[str, str]] = []
    for kw in m.extra:
        tag = tag_for_keyword(kw)
        if tag is not None:
            empty_extras.append((f"{tag:08X}", dictionary_VR(tag)))
    wanted = [key for key, _ in empty_extras]
    out: list[dict[str, Any]] = []
    for i, row in enumerate(m.rows):
        item = {key: render(value) for (key, render), value in zip(renderers, row)}
        if m.extras is not None:
            meta = m.extras[i]
            if meta is not None:
                keys = meta if m.all_metadata else [k for k in wanted if k in meta]
                for key in keys:
                    if key not in item and key != _LEVEL_TAG and not key.startswith("7FE0"):
                        item[key] = _metadata_element(meta[key])
            for key, vr in empty_extras:
                if key not in item and key != _LEVEL_TAG:
                    item[key] = {"vr": vr, "Value": []} if vr == "SQ" else {"vr": vr}
        out.append(dict(sorted(item.items())))
    return out


def _json_renderer(keyword: str) -> Any:
    """A function from one column value to its DICOM JSON element (as :func:`_converter` renders it)."""
    kind = _ATTRS[keyword].kind
    vr = dictionary_VR(tag_for_keyword(keyword))

    if kind == "modalities":

        def modalities(value: Any) -> dict[str, Any]:
            values = [m for m in str(value or "").split("\\") if m]
            return {"vr": vr, "Value": values} if values else {"vr": vr}

        return modalities
    if vr in _INT_VRS:

        def number(value: Any) -> dict[str, Any]:
            if value is None or value == "":
                return {"vr": vr}
            try:
                return {"vr": vr, "Value": [int(value)]}
            except (TypeError, ValueError):
                return {"vr": vr}

        return number
    time = kind == "time"

    def text(value: Any) -> dict[str, Any]:
        if time and value and "." in str(value):
            value = str(value).rstrip("0").rstrip(".")
        if value is None or value == "":
            return {"vr": vr}
        s = str(value)
        if "\\" in s:
            parts = s.split("\\")
            if vr == "PN":
                return {"vr": vr, "Value": [_pn_json(p) for p in parts]}
            if vr == "UI":
                return {"vr": vr, "Value": [p.strip() for p in parts]}
            return {"vr": vr, "Value": parts}
        if vr == "PN":
            name = _pn_json(s)
            return {"vr": vr, "Value": [name]} if name is not None else {"vr": vr}
        if vr == "UI":
            s = s.strip()
            return {"vr": vr, "Value": [s]} if s else {"vr": vr}
        return {"vr": vr, "Value": [s]}

    return text


def _pn_json(value: str) -> dict[str, str] | None:
    """A PN value's component groups as DICOM JSON (PS3.18 F.2.2), None when all are empty.

    Groups are split on ``=`` and trailing empty ones dropped, as pydicom's
    ``PersonName`` does; an empty group before a present one stays as ``""``.
    """
    groups = value.split("=")
    while groups and not groups[-1]:
        groups.pop()
    if not groups:
        return None
    out = {"Alphabetic": groups[0]}
    if len(groups) > 1:
        out["Ideographic"] = groups[1]
        if len(groups) > 2:
            out["Phonetic"] = groups[2]
    return out


def _metadata_element(element: dict[str, Any]) -> dict[str, Any]:
    """One element of stored metadata JSON as the dataset path returns it.

    That path reads the JSON with pydicom, giving every BulkDataURI an
    empty value, and writes it back: an element stored as a BulkDataURI
    has no value, an empty ``Value`` or ``InlineBinary`` is dropped, and a
    sequence always has a ``Value`` list. Everything else is stored in
    pydicom's own JSON form already and is returned as it is.
    """
    vr = element.get("vr")
    if vr == "SQ":
        items = element.get("Value") or []
        return {"vr": vr, "Value": [_metadata_item(i) for i in items]}
    if "BulkDataURI" in element:
        return {"vr": vr}
    if not any(element.get(k) for k in _NO_VALUE_KEYS):
        return {"vr": vr}
    value = element.get("Value")
    if isinstance(value, list) and len(value) == 1:
        one = value[0]
        if one is None or one == "" or (isinstance(one, dict) and not any(one.values())):
            return {"vr": vr}  # a single empty value reads as no value
    return element


def _metadata_item(item: dict[str, Any] | None) -> dict[str, Any]:
    """A sequence item of stored metadata JSON, its elements as :func:`_metadata_element` gives them."""
    if not item:
        return {}
    return {key: _metadata_element(element) for key, element in item.items()}


def _load_extras(s: Any, lvl: QueryLevel, pks: list[int], rows: Sequence[Any]) -> list[dict[str, Any] | None]:
    """Metadata JSON of the first instance of each matched study/series (or the instance)."""
    result: list[dict[str, Any] | None] = []
    for pk, row in zip(pks, rows):
        if lvl is QueryLevel.IMAGE:
            meta = row[-1]
        elif lvl is QueryLevel.SERIES:
            meta = s.execute(
                select(Instance.metadata_json).where(Instance.series_pk == pk).order_by(Instance.pk).limit(1)
            ).scalar_one_or_none()
        else:
            meta = s.execute(
                select(Instance.metadata_json)
                .join(Series, Instance.series_pk == Series.pk)
                .where(Series.study_pk == pk)
                .order_by(Instance.pk)
                .limit(1)
            ).scalar_one_or_none()
        result.append(json.loads(meta) if meta else None)
    return result


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    tag = tag_for_keyword(keyword)
    if tag is None:
        return
    vr = dictionary_VR(tag)
    if value is None or value == "":
        ds.add_new(tag, vr, None)
        return
    if vr in ("IS", "US", "UL", "SL", "SS"):
        try:
            value = int(value)
        except (TypeError, ValueError):
            ds.add_new(tag, vr, None)
            return
    ds.add_new(tag, vr, value)
