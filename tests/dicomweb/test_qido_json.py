"""QIDO-RS results built straight from catalog rows (:func:`radhub.catalog.search_json`).

The JSON must be exactly what the dataset path (:func:`radhub.catalog.search`
then ``Dataset.to_json_dict``, as C-FIND uses it) gives for the same query,
without QueryRetrieveLevel: checked over the whole shared corpus on SQLite
and on PostgreSQL. Person-name wildcards must be answered from an index on
both backends.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import event

from radhub.api.dicomweb._json import dataset_json
from radhub.catalog import search, search_json
from radhub.catalog._query import _converter, _json_renderer, _metadata_element
from tests.dicomweb.conftest import (
    DICOM_JSON,
    corpus_path,
    corpus_rows,
    make_client,
    make_instance,
)

LEVEL = "00080052"

# attributes the catalog does not index (taken from the stored metadata), with
# multi-valued, sequence, pixel-data (group 7FE0), absent and deeper-level ones
NOT_INDEXED = (
    "Manufacturer",
    "SeriesDate",
    "ImageType",
    "ImagePositionPatient",
    "WindowCenter",
    "ReferencedImageSequence",
    "PixelData",
    "SmallestImagePixelValue",
    "ClinicalTrialSponsorName",
    "SpecificCharacterSet",
    "QueryRetrieveLevel",
    "SOPClassUID",
    "00100010",
)


def _dataset_path(catalog: Any, level: str, criteria: dict[str, str], **options: Any) -> tuple[list[str], bool]:
    """Today's results: pydicom datasets written as JSON, without QueryRetrieveLevel."""
    result = search(catalog, level, criteria, **options)
    items = []
    for ds in result.datasets:
        item = dataset_json(ds)
        item.pop(LEVEL, None)
        items.append(json.dumps(dict(sorted(item.items()))))
    return items, result.more


def _json_path(catalog: Any, level: str, criteria: dict[str, str], **options: Any) -> tuple[list[str], bool]:
    result = search_json(catalog, level, criteria, **options)
    return [json.dumps(item) for item in result.items], result.more


def _load_corpus(archive: Any) -> None:
    for row in corpus_rows():
        archive.ingestor.ingest_file(corpus_path(row), source="test")


CASES: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({}, {"include_all": True}),
    ({}, {"include_fields": NOT_INDEXED}),
    ({}, {"include_fields": NOT_INDEXED, "include_all": True}),
    ({"Manufacturer": "", "BodyPartExamined": ""}, {}),
    ({}, {"limit": 7, "offset": 3}),
]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_search_json_and_qido_are_the_dataset_path_as_json(archive):
    _load_corpus(archive)
    catalog = archive.catalog
    compared = 0
    for level in ("STUDY", "SERIES", "IMAGE"):
        for criteria, options in CASES:
            if "BodyPartExamined" in criteria and level == "STUDY":
                continue
            expected, more = _dataset_path(catalog, level, criteria, **options)
            got, got_more = _json_path(catalog, level, criteria, **options)
            assert got_more == more, (level, criteria, options)
            assert len(got) == len(expected) > 0, (level, criteria, options)
            for a, b in zip(got, expected):
                assert a == b, (level, criteria, options)
            compared += len(got)
    # matching criteria go through the same shared part
    for level, criteria, options in [
        ("STUDY", {"PatientName": "compressedsamples*"}, {}),
        ("STUDY", {"PatientName": "archib"}, {"fuzzy": True}),
        ("STUDY", {"ModalitiesInStudy": "MR\\CT", "StudyDate": "20000101-"}, {}),
        ("STUDY", {"ReferringPhysicianName": "*"}, {"include_fields": ("00081030",)}),
        ("SERIES", {"Modality": "CT"}, {"include_fields": NOT_INDEXED}),
        ("IMAGE", {"PatientID": "1CT1"}, {"include_all": True}),
    ]:
        expected, _ = _dataset_path(catalog, level, criteria, **options)
        got, _ = _json_path(catalog, level, criteria, **options)
        assert got == expected and got, (level, criteria)
    assert compared > 1000
    _check_qido_responses(archive)


def _old_response(catalog: Any, level: str, criteria: dict[str, str], **options: Any) -> list[Any]:
    """A QIDO-RS response as it was built from datasets before ``search_json``."""
    base = "http://testserver/dicomweb"
    out = []
    for ds in search(catalog, level, criteria, **options).datasets:
        del ds.QueryRetrieveLevel
        item = dataset_json(ds)
        study, series, sop = ds.get("StudyInstanceUID"), ds.get("SeriesInstanceUID"), ds.get("SOPInstanceUID")
        url = None
        if level == "STUDY" and study:
            url = f"{base}/studies/{study}"
        elif level == "SERIES" and study and series:
            url = f"{base}/studies/{study}/series/{series}"
        elif level == "IMAGE" and study and series and sop:
            url = f"{base}/studies/{study}/series/{series}/instances/{sop}"
        item["00081190"] = {"vr": "UR", "Value": [url]} if url else {"vr": "UR"}
        out.append(dict(sorted(item.items())))
    return out


def _check_qido_responses(archive: Any) -> None:
    """QIDO-RS answers exactly what it answered when built from datasets."""
    catalog = archive.catalog
    study = search(catalog, "STUDY", {"PatientID": "1CT1"}).datasets[0].StudyInstanceUID
    requests = [
        ("/dicomweb/studies", "STUDY", {}, {}),
        ("/dicomweb/series?includefield=Manufacturer,ImageType", "SERIES", {}, {"include_fields": ("Manufacturer", "ImageType")}),
        ("/dicomweb/instances?includefield=all", "IMAGE", {}, {"include_all": True}),
        (f"/dicomweb/studies/{study}/instances", "IMAGE", {"StudyInstanceUID": str(study)}, {}),
    ]
    with make_client(archive) as client:
        for url, level, criteria, options in requests:
            r = client.get(url, headers={"Accept": DICOM_JSON})
            assert r.status_code == 200, r.text
            expected = _old_response(catalog, level, criteria, **options)
            assert json.dumps(r.json()) == json.dumps(expected), url


# ---------------------------------------------------------------------------
# the renderers, value by value, against the dataset path
# ---------------------------------------------------------------------------
def _converted(keyword: str, value: Any) -> dict[str, Any]:
    ds = Dataset()
    _converter(keyword)(ds, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [element] = ds.to_json_dict(bulk_data_threshold=1 << 30).values()
    return element


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientName", "Doe^John"),
        ("PatientName", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
        ("PatientName", "A=B=C=D"),
        ("PatientName", "A=="),
        ("PatientName", "A==C"),
        ("PatientName", "=B"),
        ("PatientName", "="),
        ("PatientName", "A=B\\C"),
        ("PatientName", " "),
        ("PatientName", ""),
        ("ReferringPhysicianName", "^"),
        ("ReferringPhysicianName", None),
        ("StudyInstanceUID", "1.2.3 "),
        ("StudyInstanceUID", "1.2\\1.3 "),
        ("StudyInstanceUID", " "),
        ("PatientID", " x "),
        ("PatientID", "a\\ b \\\\"),
        ("PatientID", "\\"),
        ("StudyDescription", "é\\ü"),
        ("PatientSex", "M"),
        ("ModalitiesInStudy", "CT"),
        ("ModalitiesInStudy", "CT\\MR\\\\SR"),
        ("ModalitiesInStudy", "\\"),
        ("ModalitiesInStudy", ""),
        ("SeriesNumber", "12"),
        ("SeriesNumber", " 3 "),
        ("SeriesNumber", "1.5"),
        ("SeriesNumber", "1\\2"),
        ("SeriesNumber", ""),
        ("InstanceNumber", "-4"),
        ("Rows", 0),
        ("Columns", 512),
        ("NumberOfFrames", None),
        ("NumberOfStudyRelatedInstances", 300),
        ("StudyTime", "120000.000000"),
        ("StudyTime", "123456.500000"),
        ("StudyTime", "000000.000000"),
        ("StudyTime", "1230"),
        ("StudyTime", "."),
        ("PerformedProcedureStepStartTime", "12.5\\13"),
        ("StudyDate", "20200101"),
        ("PatientBirthDate", ""),
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_column_renderer_is_the_converter(keyword, value):
    assert _json_renderer(keyword)(value) == _converted(keyword, value)


def test_multi_valued_person_name_with_an_empty_value_is_null():
    # the dataset path cannot render this (pydicom raises IndexError)
    assert _json_renderer("PatientName")("A\\") == {"vr": "PN", "Value": [{"Alphabetic": "A"}, None]}


def _round_trip(element: dict[str, Any]) -> dict[str, Any]:
    """What the dataset path does to one stored element."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = Dataset.from_json({"00091010": element}, bulk_data_uri_handler=lambda *a: b"")
        return ds.to_json_dict(bulk_data_threshold=1 << 30)["00091010"]


@pytest.mark.parametrize(
    "element",
    [
        {"vr": "OB", "BulkDataURI": "bulk:00091010"},
        {"vr": "OW", "BulkDataURI": "bulk:00091010"},
        {"vr": "UN", "BulkDataURI": "bulk:00091010"},
        {"vr": "OB", "InlineBinary": "AAEC"},
        {"vr": "OB", "InlineBinary": ""},
        {"vr": "LO", "Value": ["a", "b"]},
        {"vr": "LO", "Value": [""]},
        {"vr": "LO", "Value": []},
        {"vr": "LO"},
        {"vr": "DS", "Value": [1.5, -2.0]},
        {"vr": "IS", "Value": [3]},
        {"vr": "FD", "Value": [0.1]},
        {"vr": "AT", "Value": ["00100010"]},
        {"vr": "PN", "Value": [{"Alphabetic": "A^B", "Ideographic": "C"}]},
        {"vr": "PN", "Value": [{"Alphabetic": ""}]},
        {"vr": "SQ"},
        {"vr": "SQ", "Value": []},
        {"vr": "SQ", "Value": [{}]},
        {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                    "00091020": {"vr": "OB", "BulkDataURI": "bulk:00091010/0/00091020"},
                    "00091030": {"vr": "SQ", "Value": [{"00091040": {"vr": "OW", "BulkDataURI": "x"}}]},
                },
                {"00081155": {"vr": "UI", "Value": ["1.2.3"]}},
            ],
        },
    ],
)
def test_metadata_element_is_the_round_trip(element):
    assert json.dumps(_metadata_element(json.loads(json.dumps(element)))) == json.dumps(_round_trip(element))


# ---------------------------------------------------------------------------
# person-name wildcards use an index
# ---------------------------------------------------------------------------
def _statements(catalog: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    event.listen(
        catalog.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, parameters, context, many: seen.append((statement, parameters)),
    )
    return seen


def _plan(catalog: Any, explain: str, level: str, criteria: dict[str, str]) -> str:
    """The query plan of the statement ``search_json`` runs for ``criteria``."""
    seen = _statements(catalog)
    search_json(catalog, level, criteria, limit=10_000)
    [(statement, parameters)] = [s for s in seen if "LIKE" in s[0].upper()]
    with catalog.engine.connect() as conn:
        return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(f"{explain} {statement}", parameters))


_PATIENTS = (
    "INSERT INTO patients (patient_id, issuer, patient_name, patient_name_key, birth_date, sex) "
    "SELECT 'P' || i, '', 'Name' || i || '^X', 'NAME' || i || '^X', '', '' FROM {series}"
)
_STUDIES = (
    "INSERT INTO studies (study_uid, patient_pk, study_date, study_time, accession_number, study_id, "
    "study_description, referring_physician, referring_physician_key, institution_name, modalities, "
    "num_series, num_instances, size_bytes, created_at, updated_at) "
    "SELECT '1.2.' || i, i, '20200101', '', 'A' || i, '', '', 'Doc' || (i / 10) || '^Y', "
    "'DOC' || (i / 10) || '^Y', '', 'CT', 1, 1, 0, '2020-01-01', '2020-01-01' FROM {series}"
)


def _fill(catalog: Any, n: int) -> None:
    """``n`` patients with one study each, straight into the tables, then statistics."""
    pg = not catalog.is_sqlite
    series = (
        f"generate_series(1, {n}) AS g(i)"
        if pg
        else f"(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n}) SELECT i FROM g)"
    )
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql(_PATIENTS.format(series=series))
        conn.exec_driver_sql(_STUDIES.format(series=series))
        conn.exec_driver_sql("ANALYZE")


@pytest.mark.postgres
def test_postgresql_answers_name_wildcards_from_the_pattern_indexes(tmp_path, postgres_server):
    from tests.dicomweb.conftest import open_archive

    archive = open_archive(tmp_path / "data", postgres_server.create_database())
    try:
        catalog = archive.catalog
        _fill(catalog, 50_000)
        got = search_json(catalog, "STUDY", {"PatientName": "name123*"}, limit=10_000).items
        assert len(got) == 111  # NAME123, NAME1230..NAME1239, NAME12300..NAME12399
        plan = _plan(catalog, "EXPLAIN", "STUDY", {"PatientName": "NAME123*"})
        assert "ix_patients_patient_name_key_pattern" in plan, plan
        assert "~>=~" in plan, plan
        plan = _plan(catalog, "EXPLAIN", "STUDY", {"ReferringPhysicianName": "doc12*"})
        assert "ix_studies_referring_physician_key_pattern" in plan, plan
    finally:
        archive.close()


def test_sqlite_answers_name_wildcards_from_the_name_index(sqlite_archive):
    catalog = sqlite_archive.catalog
    _fill(catalog, 20_000)
    plan = _plan(catalog, "EXPLAIN QUERY PLAN", "STUDY", {"PatientName": "NAME123*"})
    assert "USING INDEX ix_patients_patient_name_key (patient_name_key>? AND patient_name_key<?)" in plan, plan
    assert len(search_json(catalog, "STUDY", {"PatientName": "name123*"}).items) == 111


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_name_wildcards_at_the_edges_of_the_prefix(tmp_path, request, backend):
    from tests.dicomweb.conftest import open_archive

    url = None if backend == "sqlite" else request.getfixturevalue("postgres_server").create_database()
    archive = open_archive(tmp_path / "data", url)
    try:
        names = ["Smit", "Smith", "Smith^Anna", "Smithz", "Smiti", "SMITH-JONES", "Öz^Ali", "Özz", "Oz", "Ö", "P"]
        for i, name in enumerate(names):
            data = make_instance(PatientName=name, PatientID=f"E{i}", SpecificCharacterSet="ISO_IR 192")
            assert archive.ingestor.ingest_bytes(data, source="test").ok

        def found(pattern: str) -> list[str]:
            items = search_json(archive.catalog, "STUDY", {"PatientName": pattern}).items
            return sorted(item["00100010"]["Value"][0]["Alphabetic"] for item in items)

        assert found("smith*") == ["SMITH-JONES", "Smith", "Smith^Anna", "Smithz"]
        assert found("SMITH?") == ["Smithz"]
        assert found("smit*") == sorted(["Smit", "Smith", "Smith^Anna", "Smithz", "Smiti", "SMITH-JONES"])
        assert found("öz*") == ["Öz^Ali", "Özz"]
        assert found("Ö*") == ["Ö", "Öz^Ali", "Özz"]
        assert found("*z") == ["Oz", "Smithz", "Özz"]
        assert found("?Z*") == ["Oz", "Öz^Ali", "Özz"]
    finally:
        archive.close()
