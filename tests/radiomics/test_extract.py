"""Extraction: parameters, manifests, provenance, failures reported per ROI, executor equivalence."""

from __future__ import annotations

import pandas as pd
import pytest

from radhub.radiomics import (
    PROVENANCE_COLUMNS,
    LocalExecutor,
    RoiSpec,
    extract_features,
    library_versions,
    load_params,
    read_manifest,
    read_table,
    write_table,
)
from radhub.radiomics.errors import ManifestError, ParameterError
from tests.radiomics.conftest import pyradiomics_case

SMALL_2D = {
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": [], "glcm": ["Contrast", "Correlation"], "shape2D": []},
    "setting": {"force2D": True, "binWidth": 8, "label": 1},
}


def _mias_specs(mias_root, n: int = 4) -> list[RoiSpec]:
    rois = [
        ("mdb001", 535, 425, 197),
        ("mdb005", 477, 133, 30),
        ("mdb010", 525, 425, 33),
        ("mdb012", 471, 458, 40),
    ]
    return [
        RoiSpec(
            id=f"{ref}-1",
            image=str(mias_root / f"{ref}.png"),
            mask=f"circle:{x},{1024 - y},{r}",
            label="B",
            spacing=(0.2, 0.2),
        )
        for ref, x, y, r in rois[:n]
    ]


def test_params_yaml_hash_and_errors(tmp_path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("setting:\n  binWidth: 8\n  force2D: true\nimageType:\n  Original: {}\n")
    b = tmp_path / "b.yaml"
    b.write_text(
        "# same parameters, other layout\nimageType: {Original: {}}\nsetting: {force2D: true, binWidth: 8}\n"
    )
    pa, pb = load_params(a), load_params(b)
    assert pa.sha256 == pb.sha256 and len(pa.sha256) == 64 and pa.is_2d
    assert load_params({"setting": {"binWidth": 9}}).sha256 != pa.sha256
    bad = tmp_path / "bad.yaml"
    bad.write_text("imageType:\n  Fourier: {}\n")
    with pytest.raises(ParameterError, match="bad.yaml: invalid pyradiomics parameters"):
        load_params(bad)
    with pytest.raises(ParameterError, match="unknown top-level keys"):
        load_params({"settings": {}})
    with pytest.raises(ParameterError, match="does not exist"):
        load_params(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_params(tmp_path / "broken.yaml")
    assert load_params("mammography_2d").is_2d


def test_wavelet_log_resampling_3d() -> None:
    params = load_params(
        {
            "imageType": {"Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0]}},
            "featureClass": {"firstorder": ["Mean", "Entropy"]},
            "setting": {
                "binWidth": 25,
                "resampledPixelSpacing": [2, 2, 2],
                "interpolator": "sitkBSpline",
            },
        }
    )
    spec = RoiSpec(
        "breast1",
        str(pyradiomics_case("breast1_image.nrrd")),
        str(pyradiomics_case("breast1_label.nrrd")),
    )
    table = extract_features([spec], params, progress=False).table
    names = [c for c in table.columns if c not in PROVENANCE_COLUMNS]
    assert {
        "original_firstorder_Mean",
        "wavelet-LLH_firstorder_Mean",
        "log-sigma-2-0-mm-3D_firstorder_Entropy",
    } <= set(names)
    assert len(names) == 2 * (1 + 8 + 2)


def test_table_provenance_and_failures(mias_root, tmp_path) -> None:
    specs = _mias_specs(mias_root, 2) + [
        RoiSpec("outside", str(mias_root / "mdb001.png"), "circle:2000,10,5", spacing=(0.2, 0.2)),
        RoiSpec("no-file", str(tmp_path / "none.png"), "circle:5,5,3", spacing=(0.2, 0.2)),
        RoiSpec("no-spacing", str(mias_root / "mdb001.png"), "circle:100,100,5"),
    ]
    params = load_params(SMALL_2D)
    result = extract_features(specs, params, progress=False)
    t = result.table
    assert list(t["id"]) == [s.id for s in specs]
    assert list(t["status"]) == ["ok", "ok", "failed", "failed", "failed"]
    errors = dict(result.failures)
    assert errors["outside"].startswith(
        "RoiOutsideImageError: circle centre (2000, 10) lies outside"
    )
    assert "does not exist" in errors["no-file"]
    assert "no pixel spacing" in errors["no-spacing"]
    assert t.loc[2:, "original_firstorder_Mean"].isna().all()
    assert (t["param_hash"] == params.sha256).all()
    for key, value in library_versions().items():
        assert (t[key] == value).all()
    assert t.loc[0, "image_id"].startswith("sha256:") and t.loc[0, "mask_id"] == specs[0].mask
    assert t.loc[0, "roi_voxels"] > 0
    # 2D shape features in mm: the 197-pixel disc at 0.2 mm has a diameter near 78.8 mm
    assert t.loc[0, "original_shape2D_MaximumDiameter"] == pytest.approx(2 * 197 * 0.2, rel=0.02)
    for suffix in ("csv", "parquet"):
        path = write_table(t, tmp_path / f"features.{suffix}")
        back = read_table(path)
        pd.testing.assert_series_equal(
            back["original_firstorder_Mean"],
            t["original_firstorder_Mean"],
            check_exact=False,
            rtol=1e-9,
        )
        assert list(back["id"]) == list(t["id"])
    with pytest.raises(ManifestError, match="must end in .csv or .parquet"):
        write_table(t, tmp_path / "features.xlsx")


def test_uint8_images_are_binned_correctly(tmp_path) -> None:
    """pyradiomics bins with max + 2 * binWidth in the image's type; a uint8 max of 250 would wrap (see _widen)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 251, size=(64, 64)).astype(
        np.uint8
    )  # full range: max + 16 wraps past 255
    Image.fromarray(arr).save(tmp_path / "bright.png")
    spec = RoiSpec("bright", str(tmp_path / "bright.png"), "circle:32,32,20", spacing=(0.2, 0.2))
    params = load_params(
        {
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Entropy"], "glcm": ["JointAverage"]},
            "setting": {"force2D": True, "binWidth": 8},
        }
    )
    result = extract_features([spec], params, progress=False)
    assert result.n_ok == 1, result.failures
    yy, xx = np.mgrid[0:64, 0:64]
    inside = arr[(xx - 32) ** 2 + (yy - 32) ** 2 <= 400].astype(int)
    bins = np.floor(inside / 8) - np.floor(inside.min() / 8) + 1  # pyradiomics' fixed bin width
    p = np.bincount(bins.astype(int))[1:] / bins.size
    p = p[p > 0]
    assert result.table.loc[0, "original_firstorder_Entropy"] == pytest.approx(
        -(p * np.log2(p)).sum(), rel=1e-6
    )
    assert result.table.loc[0, "original_glcm_JointAverage"] == pytest.approx(bins.mean(), rel=0.05)


def test_duplicate_ids_rejected(mias_root) -> None:
    specs = _mias_specs(mias_root, 1) * 2
    with pytest.raises(ManifestError, match="ids must be unique"):
        extract_features(specs, SMALL_2D, progress=False)


def test_manifest(tmp_path, mias_root) -> None:
    (tmp_path / "m.csv").write_text(
        f"image,mask,label,spacing\n{mias_root / 'mdb001.png'},circle:535,599,197,B,0.2\n".replace(
            "circle:535,599,197", '"circle:535,599,197"'
        )
        + "archive:1.2.3,seg.dcm,M,\n"
    )
    specs = read_manifest(tmp_path / "m.csv")
    assert (
        specs[0].id == "roi-0001"
        and specs[0].mask == "circle:535,599,197"
        and specs[0].spacing == (0.2,)
    )
    assert specs[1].image == "archive:1.2.3" and specs[1].mask == str(tmp_path / "seg.dcm")
    (tmp_path / "bad.csv").write_text("img,mask\na,b\n")
    with pytest.raises(ManifestError, match=r"lacks columns \['image'\]"):
        read_manifest(tmp_path / "bad.csv")


def test_executors_give_identical_tables(mias_root, dask_executor) -> None:
    specs = _mias_specs(mias_root, 4)
    params = load_params(SMALL_2D)
    serial = extract_features(specs, params, progress=False).table
    with LocalExecutor(2) as pool:
        pooled = extract_features(specs, params, executor=pool, progress=False).table
    dask = extract_features(specs, params, executor=dask_executor, progress=False).table
    pd.testing.assert_frame_equal(serial, pooled, check_exact=True)
    pd.testing.assert_frame_equal(serial, dask, check_exact=True)


def test_archive_image_and_seg_by_uid(sqlite_archive) -> None:
    import pydicom

    from tests.conftest import shared_data

    base = shared_data("dicom", "dcmqi", "segmentations", "23x38x3")
    for f in [*sorted((base / "image").iterdir()), base / "seg" / "label.seg"]:
        assert sqlite_archive.ingestor.ingest_file(f).status.value == "stored"
    image_uid = str(
        pydicom.dcmread(base / "image" / "IMG0001.dcm", stop_before_pixels=True).SeriesInstanceUID
    )
    seg_uid = str(
        pydicom.dcmread(base / "seg" / "label.seg", stop_before_pixels=True).SeriesInstanceUID
    )
    params = load_params(
        {"imageType": {"Original": {}}, "featureClass": {"firstorder": [], "shape": []}}
    )
    specs = [
        RoiSpec("files", str(base / "image"), str(base / "seg" / "label.seg")),
        RoiSpec("archive", f"archive:{image_uid}", f"archive:{seg_uid}"),
    ]
    t = extract_features(specs, params, settings=sqlite_archive.settings, progress=False).table
    assert list(t["status"]) == ["ok", "ok"], list(t["error"])
    features = [c for c in t.columns if c.startswith("original_")]
    pd.testing.assert_series_equal(t.loc[0, features], t.loc[1, features], check_names=False)
    assert t.loc[1, "image_id"].startswith(f"archive:{image_uid}:sha256:")
