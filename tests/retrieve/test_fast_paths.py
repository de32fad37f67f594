"""The fast retrieve paths give what the general ones give.

* ``Catalog.locate`` (one driver-level query) returns what
  ``Catalog.instances(sop_uid=...)`` returns, on SQLite and PostgreSQL;
* grayscale rendering through a lookup table of the stored values gives the
  same 8-bit image as the element-by-element pipeline;
* WADO-RS instance bodies sent in one piece equal the streamed ones.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radhub.dicom import _render
from radhub.dicom._render import DecodedFrame, _lookup_domain, _render_grayscale
from radhub.retrieve import Retriever, render
from tests.dicomweb.conftest import (
    make_client,
    make_instance,
    open_archive,
    parse_multipart,
    stow_files,
    uids_of,
)
from tests.retrieve.conftest import corpus, pixels, row_params, rows_where

pytestmark = pytest.mark.timeout(300)


# ---------------------------------------------------------------------------
# Catalog.locate
# ---------------------------------------------------------------------------
def _ingest(archive, tmp_path, n: int, **attrs) -> list[tuple[str, str, str]]:
    uids = []
    for k in range(n):
        data = make_instance(**attrs)
        path = tmp_path / f"{k}-{uids_of(data)[2]}.dcm"
        path.write_bytes(data)
        archive.ingestor.ingest_file(path, source="test")
        uids.append(uids_of(data))
    return uids


def test_locate_returns_what_instances_returns(archive, tmp_path):
    study, series, sop = _ingest(archive, tmp_path, 3)[1]
    catalog = archive.catalog
    [expected] = catalog.instances(sop_uid=sop)
    assert catalog.locate(sop) == expected
    assert catalog.locate(sop, study_uid=study, series_uid=series) == expected
    assert catalog.locate(sop, study_uid=study) == expected
    assert catalog.locate(sop, series_uid=series) == expected
    assert isinstance(expected.size, int) and isinstance(expected.frames, int)


def test_locate_is_none_for_another_study_or_series_or_an_unknown_uid(archive, tmp_path):
    (study, _series, sop), (other_study, other_series, _) = _ingest(archive, tmp_path, 2)
    catalog = archive.catalog
    assert catalog.locate(sop, study_uid=other_study) is None
    assert catalog.locate(sop, series_uid=other_series) is None
    assert catalog.locate(sop, study_uid=study, series_uid=other_series) is None
    assert catalog.locate("1.2.3.4.5.6.7.8.9") is None
    assert catalog.instances(sop_uid=sop, study_uid=other_study) == []


def test_retriever_find_of_one_instance_matches_the_catalog(archive, tmp_path):
    uids = _ingest(archive, tmp_path, 2, StudyInstanceUID="1.2.826.0.1.3680043.8.498.77")
    retriever = Retriever(archive)
    study, series, sop = uids[0]
    assert retriever.find(study_uid=study, series_uid=series, sop_uid=sop) == (
        archive.catalog.instances(study_uid=study, series_uid=series, sop_uid=sop)
    )
    assert retriever.find(study_uid=study, series_uid=uids[1][1], sop_uid=sop) == []
    assert [i.sop_uid for i in retriever.find(study_uid=study)] == [u[2] for u in uids]


# ---------------------------------------------------------------------------
# grayscale rendering through a lookup table
# ---------------------------------------------------------------------------
@pytest.fixture
def direct(monkeypatch):
    """Render element by element (no lookup table), as before the fast path."""

    def use(flag: bool) -> None:
        if flag:
            monkeypatch.setattr(_render, "_lookup_domain", lambda pixels: None)
        else:
            monkeypatch.undo()

    return use


_OPTIONS = [
    {},
    {"window": (40.0, 400.0)},
    {"window": (100.0, 3.0), "voi_function": "LINEAR_EXACT"},
    {"window": (300.0, 1500.0), "voi_function": "SIGMOID"},
]


@pytest.mark.parametrize("row", row_params(rows_where(decodable="yes")))
def test_lookup_table_rendering_equals_the_direct_pipeline(row, direct):
    path = corpus(row["path"])
    for options in _OPTIONS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = render(path, **options)
            direct(True)
            slow = render(path, **options)
            direct(False)
        assert np.array_equal(pixels(fast), pixels(slow)), options


def _frame(values: np.ndarray, photometric: str = "MONOCHROME2", **attrs) -> DecodedFrame:
    ds = Dataset()
    ds.PhotometricInterpretation = photometric
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.set_original_encoding(False, True)
    bits = 8 * values.dtype.itemsize
    return DecodedFrame(ds, values, photometric, 0, bits)


def _lut_item(first: int, data: list[int], bits: int = 16, **attrs) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(data), first, bits]
    item.LUTData = data
    for key, value in attrs.items():
        setattr(item, key, value)
    return item


_RNG = np.random.default_rng(3)
_CT = _RNG.integers(-1024, 3000, size=(96, 96)).astype(np.int16)
_MR = _RNG.integers(0, 900, size=(80, 120)).astype(np.uint16)
_SPARSE = np.where(_RNG.random((64, 64)) < 0.5, 10, 2000).astype(np.uint16)  # two values


@pytest.mark.parametrize(
    ("frame", "options"),
    [
        pytest.param(_frame(_CT, RescaleSlope=1, RescaleIntercept=-1024), {}, id="ct-min-max"),
        pytest.param(
            _frame(_CT, RescaleSlope="0.5", RescaleIntercept=-20, WindowCenter=40, WindowWidth=400),
            {},
            id="ct-file-window",
        ),
        pytest.param(_frame(_CT, RescaleSlope=-2.5), {}, id="negative-slope-min-max"),
        pytest.param(_frame(_MR), {"window": (300, 1)}, id="width-1"),
        pytest.param(_frame(_MR, "MONOCHROME1"), {"window": (400, 600)}, id="monochrome1"),
        pytest.param(_frame(_MR, PresentationLUTShape="INVERSE"), {}, id="inverse"),
        pytest.param(_frame(_MR), {"window": (450, 200), "voi_function": "SIGMOID"}, id="sigmoid"),
        pytest.param(_frame(_SPARSE), {}, id="absent-values-in-range"),
        pytest.param(
            _frame(
                _MR,
                ModalityLUTSequence=Sequence(
                    [_lut_item(100, [(7 * k) % 4096 for k in range(600)], ModalityLUTType="HU")]
                ),
            ),
            {},
            id="modality-lut-sequence",
        ),
        pytest.param(
            # stored values 0 and 100 only; the absent 50 maps to the largest modality value
            _frame(
                _SPARSE // 20,
                ModalityLUTSequence=Sequence(
                    [_lut_item(0, [10] * 50 + [4000] + [20] * 60, ModalityLUTType="HU")]
                ),
            ),
            {},
            id="non-monotonic-modality-lut-min-max",
        ),
        pytest.param(
            _frame(_MR, VOILUTSequence=Sequence([_lut_item(0, [k * 60 for k in range(1000)])])),
            {},
            id="voi-lut-sequence",
        ),
    ],
)
def test_lookup_table_equals_direct_on_synthetic_frames(frame, options, direct):
    assert _lookup_domain(frame.pixels) is not None  # the fast path is taken
    fast = _render.render_frame(frame, **options)
    direct(True)
    slow = _render.render_frame(frame, **options)
    assert fast.dtype == slow.dtype == np.uint8
    assert np.array_equal(fast, slow)


def test_min_max_uses_the_values_present_not_the_whole_range():
    # the table covers 10..2000 but only 10 and 2000 occur: black and white
    image = _render_grayscale(_frame(_SPARSE), None, None)
    assert set(np.unique(image).tolist()) == {0, 255}


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.arange(16, dtype=np.uint16).reshape(4, 4), id="small-frame"),
        pytest.param(_MR.astype(np.float32), id="float"),
        pytest.param(np.array([[0, 1 << 30]] * 4096, dtype=np.int32), id="range-wider-than-frame"),
    ],
)
def test_lookup_table_is_skipped_where_it_would_not_be_smaller(values):
    assert _lookup_domain(values) is None
    image = _render_grayscale(_frame(values), None, None)
    assert image.dtype == np.uint8 and image.shape == values.shape


# ---------------------------------------------------------------------------
# WADO-RS bodies in one piece
# ---------------------------------------------------------------------------
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture
def wado(tmp_path):
    archive = open_archive(tmp_path / "data")
    study = pydicom.uid.generate_uid()
    series = pydicom.uid.generate_uid()
    objects = [make_instance(StudyInstanceUID=study, SeriesInstanceUID=series) for _ in range(3)]
    with make_client(archive) as client:
        boundary_files = []
        for k, data in enumerate(objects):
            path = tmp_path / f"{k}.dcm"
            path.write_bytes(data)
            boundary_files.append(path)
        r = stow_files(client, boundary_files)
        assert r.status_code == 200, r.text
        yield client, objects
    archive.close()


def _parts(r) -> list[tuple[bytes, str, str]]:
    assert r.status_code == 200, r.text
    return [
        (p.content, p.content_type, p.headers["content-location"])
        for p in parse_multipart(r.headers["content-type"], r.content)
    ]


@pytest.mark.parametrize("level", ["instance", "series", "study"])
@pytest.mark.parametrize("accept", [DICOM_ANY, "*/*"])
def test_whole_and_streamed_bodies_are_the_same(wado, monkeypatch, level, accept):
    client, objects = wado
    study, series, sop = uids_of(objects[1])
    url = {
        "instance": f"/dicomweb/studies/{study}/series/{series}/instances/{sop}",
        "series": f"/dicomweb/studies/{study}/series/{series}",
        "study": f"/dicomweb/studies/{study}",
    }[level]
    whole = _parts(client.get(url, headers={"Accept": accept}))
    monkeypatch.setattr(Retriever, "whole_body_limit", 0)
    streamed = _parts(client.get(url, headers={"Accept": accept}))
    assert whole == streamed
    expected = [objects[1]] if level == "instance" else objects
    assert sorted(p[0] for p in whole) == sorted(expected)


def test_series_body_is_streamed_per_instance_above_the_limit(wado, monkeypatch):
    client, objects = wado
    study, series, _ = uids_of(objects[0])
    # above the limit as a whole, each instance below it
    monkeypatch.setattr(Retriever, "whole_body_limit", max(len(o) for o in objects) + 1)
    r = client.get(f"/dicomweb/studies/{study}/series/{series}", headers={"Accept": DICOM_ANY})
    assert sorted(p[0] for p in _parts(r)) == sorted(objects)
    assert "content-length" not in r.headers  # streamed


@pytest.mark.parametrize("limit", [0, 1 << 30])
def test_single_application_dicom_is_bit_exact_with_its_length(wado, monkeypatch, limit):
    client, objects = wado
    monkeypatch.setattr(Retriever, "whole_body_limit", limit)
    study, series, sop = uids_of(objects[2])
    r = client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/{sop}",
        headers={"Accept": "application/dicom"},
    )
    assert r.status_code == 200, r.text
    assert r.content == objects[2]
    assert int(r.headers["content-length"]) == len(objects[2])
    assert pydicom.dcmread(io.BytesIO(r.content)).SOPInstanceUID == sop


def test_missing_instance_of_a_known_series_is_404(wado):
    client, objects = wado
    study, series, _ = uids_of(objects[0])
    r = client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/1.2.3.4.5.6.7",
        headers={"Accept": DICOM_ANY},
    )
    assert r.status_code == 404
    other_study = pydicom.uid.generate_uid()
    _, _, sop = uids_of(objects[0])
    r = client.get(
        f"/dicomweb/studies/{other_study}/series/{series}/instances/{sop}",
        headers={"Accept": DICOM_ANY},
    )
    assert r.status_code == 404


# ---------------------------------------------------------------------------
# parsed headers kept by blob digest
# ---------------------------------------------------------------------------
@pytest.fixture
def headers(monkeypatch):
    """An empty header cache, and a count of the headers parsed."""
    from radhub.retrieve import _frames

    monkeypatch.setattr(_frames, "_headers", type(_frames._headers)())
    parsed: list[int] = []
    real = _frames.locate_pixel_data

    def counting(fh):
        parsed.append(1)
        return real(fh)

    monkeypatch.setattr(_frames, "locate_pixel_data", counting)
    return _frames, parsed


_CACHED_FILES = [
    "pydicom/CT_small.dcm",
    "pydicom/MR_small.dcm",
    "pydicom/SC_jpeg_no_color_transform.dcm",
    "dcmqi/segmentations/23x38x3/multiframe/mf.dcm",
]


def test_cached_header_renders_and_extracts_frames_like_a_fresh_parse(headers):
    from radhub.retrieve import frame_bytes

    _frames, parsed = headers
    for name in _CACHED_FILES:
        path = corpus(name)
        expected_image = render(path, media_type="image/png", window=(40.0, 400.0))
        expected_frames = frame_bytes(path, [1])
        for _ in range(2):
            with open(path, "rb") as fh:
                assert render(fh, window=(40.0, 400.0), header_key=name) == expected_image
            with open(path, "rb") as fh:
                assert frame_bytes(fh, [1], header_key=name) == expected_frames
    # per file: two uncached parses, then one for the first keyed call only
    assert len(parsed) == 3 * len(_CACHED_FILES)


def test_each_key_has_its_own_header(headers):
    first, second = corpus("pydicom/CT_small.dcm"), corpus("pydicom/MR_small.dcm")
    with open(first, "rb") as fh:
        render(fh, header_key="a")
    with open(second, "rb") as fh:
        assert render(fh, header_key="b") == render(second)
    with open(first, "rb") as fh:
        assert render(fh, header_key="a") == render(first)


def test_header_cache_is_bounded_and_keeps_the_most_recent(headers):
    _frames, parsed = headers
    path = corpus("pydicom/CT_small.dcm")
    size = _frames._HEADER_CACHE_SIZE
    for k in range(size + 5):
        with open(path, "rb") as fh:
            frame_bytes_of(fh, f"key-{k}")
    assert len(_frames._headers) == size
    assert "key-0" not in _frames._headers and f"key-{size + 4}" in _frames._headers
    before = len(parsed)
    with open(path, "rb") as fh:
        frame_bytes_of(fh, f"key-{size + 4}")
    assert len(parsed) == before


def frame_bytes_of(fh, key):
    from radhub.retrieve import frame_bytes

    return frame_bytes(fh, [1], header_key=key)


def test_deflated_objects_are_not_kept(headers):
    _frames, parsed = headers
    path = corpus("pydicom/image_dfl.dcm")
    with open(path, "rb") as fh:
        first = render(fh, header_key="deflated")
    with open(path, "rb") as fh:
        assert render(fh, header_key="deflated") == first
    assert "deflated" not in _frames._headers and len(parsed) == 2
