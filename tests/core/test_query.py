"""The one query engine (QIDO-RS and C-FIND): PS3.4 C.2.2.2 matching on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from radhub.catalog import QueryError, QueryLevel, search

STUDIES = [
    # patient name, id, date, time, modality, accession, description
    ("Doe^John", "P001", "20200105", "101500", "CT", "ACC1", "CHEST"),
    ("Doe^Jane", "P002", "20200210", "083000", "MR", "ACC2", "BRAIN"),
    ("Smith^Anna", "P003", "20210315", "230000", "CT", "ACC3", "ABDOMEN"),
    ("smith^bob", "P004", "20211231", "120000", "CR", "ACC4", "HAND"),
    ("Ivanov^Ivan", "P005", "", "", "MG", "ACC5", "SCREENING"),
]


@pytest.fixture
def populated(archive, make_instance):
    uids = {}
    for name, pid, date, time, mod, acc, desc in STUDIES:
        study = generate_uid()
        series = generate_uid()
        n = 3 if mod == "CT" else 1
        for i in range(n):
            res = archive.ingestor.ingest_bytes(
                make_instance(
                    StudyInstanceUID=study,
                    SeriesInstanceUID=series,
                    PatientName=name,
                    PatientID=pid,
                    StudyDate=date or None,
                    StudyTime=time or None,
                    Modality=mod,
                    AccessionNumber=acc,
                    StudyDescription=desc,
                    InstanceNumber=str(i + 1),
                ),
                source="test",
            )
            assert res.ok, res.reason
        uids[pid] = (study, series)
    # a second series (SR) in P001's study
    sr_series = generate_uid()
    archive.ingestor.ingest_bytes(
        make_instance(StudyInstanceUID=uids["P001"][0], SeriesInstanceUID=sr_series, PatientName="Doe^John", PatientID="P001", Modality="SR", StudyDate="20200105"),
        source="test",
    )
    return archive, uids


def ids(result):
    return sorted(str(ds.PatientID) for ds in result.datasets)


def test_universal_returns_all_with_counts(populated):
    archive, uids = populated
    r = search(archive.catalog, "STUDY", {})
    assert len(r.datasets) == 5 and not r.more
    by_id = {str(d.PatientID): d for d in r.datasets}
    assert by_id["P001"].NumberOfStudyRelatedSeries == 2
    assert by_id["P001"].NumberOfStudyRelatedInstances == 4
    assert sorted(by_id["P001"].ModalitiesInStudy) == ["CT", "SR"]


def test_single_value_and_wildcards(populated):
    archive, _ = populated
    cat = archive.catalog
    assert ids(search(cat, "STUDY", {"PatientID": "P003"})) == ["P003"]
    assert ids(search(cat, "STUDY", {"PatientID": "P00?"})) == ["P001", "P002", "P003", "P004", "P005"]
    assert ids(search(cat, "STUDY", {"PatientName": "Doe*"})) == ["P001", "P002"]
    # person names match case-insensitively
    assert ids(search(cat, "STUDY", {"PatientName": "SMITH*"})) == ["P003", "P004"]
    assert ids(search(cat, "STUDY", {"PatientName": "doe^jane"})) == ["P002"]
    assert ids(search(cat, "STUDY", {"PatientName": "*an*"})) == ["P002", "P003", "P005"]
    assert ids(search(cat, "STUDY", {"AccessionNumber": "ACC4"})) == ["P004"]
    # wildcard characters of SQL are literal
    assert ids(search(cat, "STUDY", {"PatientID": "P%"})) == []
    assert ids(search(cat, "STUDY", {"PatientID": "P_01"})) == []


def test_fuzzy_person_name(populated):
    archive, _ = populated
    assert ids(search(archive.catalog, "STUDY", {"PatientName": "ann"}, fuzzy=True)) == ["P003"]
    assert ids(search(archive.catalog, "STUDY", {"PatientName": "ann"})) == []


def test_uid_list(populated):
    archive, uids = populated
    crit = {"StudyInstanceUID": f"{uids['P001'][0]}\\{uids['P004'][0]}"}
    assert ids(search(archive.catalog, "STUDY", crit)) == ["P001", "P004"]


def test_date_and_time_ranges(populated):
    archive, _ = populated
    cat = archive.catalog
    assert ids(search(cat, "STUDY", {"StudyDate": "20200101-20201231"})) == ["P001", "P002"]
    assert ids(search(cat, "STUDY", {"StudyDate": "20210101-"})) == ["P003", "P004"]
    assert ids(search(cat, "STUDY", {"StudyDate": "-20200131"})) == ["P001"]
    assert ids(search(cat, "STUDY", {"StudyDate": "20211231"})) == ["P004"]
    assert ids(search(cat, "STUDY", {"StudyTime": "080000-110000"})) == ["P001", "P002"]
    assert ids(search(cat, "STUDY", {"StudyDate": "20200101-20211231", "ModalitiesInStudy": "CT"})) == ["P001", "P003"]
    assert ids(search(cat, "STUDY", {"ModalitiesInStudy": "SR\\MG"})) == ["P001", "P005"]


def test_series_and_instance_levels(populated):
    archive, uids = populated
    cat = archive.catalog
    study, series = uids["P001"]
    r = search(cat, QueryLevel.SERIES, {"StudyInstanceUID": study})
    assert sorted(str(d.Modality) for d in r.datasets) == ["CT", "SR"]
    ct = [d for d in r.datasets if d.Modality == "CT"][0]
    assert ct.NumberOfSeriesRelatedInstances == 3
    r = search(cat, "SERIES", {"Modality": "CT"})
    assert len(r.datasets) == 2
    r = search(cat, "IMAGE", {"SeriesInstanceUID": series})
    assert sorted(int(d.InstanceNumber) for d in r.datasets) == [1, 2, 3]
    assert all(d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" for d in r.datasets)
    r = search(cat, "INSTANCE", {"StudyInstanceUID": study, "InstanceNumber": "2"})
    assert len(r.datasets) == 1


def test_limit_offset_and_more(populated):
    archive, _ = populated
    cat = archive.catalog
    page1 = search(cat, "STUDY", {}, limit=2)
    page2 = search(cat, "STUDY", {}, limit=2, offset=2)
    page3 = search(cat, "STUDY", {}, limit=2, offset=4)
    assert page1.more and page2.more and not page3.more
    seen = ids(page1) + ids(page2) + ids(page3)
    assert sorted(seen) == ["P001", "P002", "P003", "P004", "P005"]


def test_includefield_from_metadata(populated):
    archive, _ = populated
    r = search(archive.catalog, "STUDY", {"PatientID": "P001"}, include_fields=["Manufacturer", "00180050"])
    ds = r.datasets[0]
    assert "Manufacturer" in ds and str(ds.Manufacturer) == "GE MEDICAL SYSTEMS"
    assert "SliceThickness" in ds
    r = search(archive.catalog, "IMAGE", {"PatientID": "P003"}, include_all=True)
    assert "ImagePositionPatient" in r.datasets[0]
    assert "PixelData" not in r.datasets[0]


@pytest.mark.parametrize(
    ("level", "criteria", "message"),
    [
        ("STUDY", {"NotAKeyword": "x"}, "unknown attribute"),
        ("STUDY", {"Manufacturer": "GE*"}, "not supported"),
        ("STUDY", {"StudyDate": "2020-13"}, "not a date"),
        ("STUDY", {"StudyInstanceUID": "1.2.abc"}, "not a UID"),
        ("STUDY", {"SOPInstanceUID": "1.2.3"}, "IMAGE level"),
        ("PATIENTX", {}, "query level"),
    ],
)
def test_bad_queries_raise_clear_errors(populated, level, criteria, message):
    archive, _ = populated
    with pytest.raises(QueryError, match=message):
        search(archive.catalog, level, criteria)
