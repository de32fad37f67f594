"""The mini-MIAS replication: Info.txt parsing, ROIs, grouped split, and one quick end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from radhub.radiomics import MIAS_TASKS, mias_rois, parse_info, parse_shape, read_image
from radhub.radiomics.errors import MiasError


def test_info_counts_match_the_readme(mias_root) -> None:
    rows = parse_info(mias_root / "Info.txt")
    assert (
        len(rows) == 330
    )  # 322 films; mdb005, 132, 144, 223, 239, 249 have two rows, mdb226 three
    assert len({r.refnum for r in rows}) == 322
    abnormal = [r for r in rows if r.severity in ("B", "M")]
    assert len(abnormal) == 123 and len({r.refnum for r in abnormal}) == 115
    masses = [r for r in abnormal if r.abnormality in MIAS_TASKS["mass"]]
    assert (
        sum(r.severity == "B" for r in masses) == 39
        and sum(r.severity == "M" for r in masses) == 20
    )
    calcs = [r for r in abnormal if r.abnormality == "CALC"]
    assert (
        sum(r.severity == "B" for r in calcs) == 15 and sum(r.severity == "M" for r in calcs) == 15
    )
    no_xy = sorted(r.refnum for r in abnormal if r.x is None)
    assert no_xy == ["mdb059", "mdb216", "mdb233", "mdb245"]


def test_rois_exclude_rows_without_coordinates(mias_root) -> None:
    specs, info = mias_rois(mias_root, "calcification")
    assert info["excluded_no_coordinates"] == 3 and info["excluded_no_coordinates_refnums"] == [
        "mdb216",
        "mdb233",
        "mdb245",
    ]
    assert info["rois"] == len(specs) == 27
    assert {s.label for s in specs} == {"B", "M"}
    specs, info = mias_rois(mias_root, "mass")
    assert info["excluded_no_coordinates_refnums"] == ["mdb059"] and len(specs) == 58
    assert {"mdb005", "mdb132", "mdb144"} <= set(info["images_with_several_rois"])
    mdb005 = [s for s in specs if s.id.startswith("mdb005")]
    assert [s.id for s in mdb005] == ["mdb005-1", "mdb005-2"] and mdb005[0].group == mdb005[
        1
    ].group == "p003"
    specs, info = mias_rois(mias_root, "mass", include_arch_asym=True)
    assert len(specs) == 58 + 34
    with pytest.raises(MiasError, match="task must be one of"):
        mias_rois(mias_root, "cyst")  # type: ignore[arg-type]


def test_y_origin_is_bottom_left(mias_root) -> None:
    """mdb028 (CIRC M, x 338, y 314, r 56) is a bright mass: the flipped disc is brighter than the unflipped one."""
    specs, _ = mias_rois(mias_root, "mass")
    spec = next(s for s in specs if s.id == "mdb028-1")
    assert spec.mask == "circle:338,710,56"
    img = read_image(spec.image, spacing=0.2)
    arr = sitk.GetArrayFromImage(img).astype(float)
    flipped = sitk.GetArrayFromImage(parse_shape(spec.mask, img)) == 1
    unflipped = sitk.GetArrayFromImage(parse_shape("circle:338,314,56", img)) == 1
    assert arr[flipped].mean() > arr[unflipped].mean() + 20


def test_missing_root(tmp_path) -> None:
    with pytest.raises(MiasError, match="Info.txt"):
        mias_rois(tmp_path, "mass")


@pytest.mark.slow
def test_quick_replication_end_to_end(mias_root, tmp_path, capsys) -> None:
    from radhub.cli import main

    code = main(
        [
            "radiomics",
            "mias",
            "--root",
            str(mias_root),
            "--task",
            "calcification",
            "--out",
            str(tmp_path / "calc"),
            "--preset",
            "quick",
            "--json",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    m = json.loads(out)
    assert m["rois"]["excluded_no_coordinates"] == 3
    assert m["n_train"] + m["n_test"] == 27 and m["patients_in_both"] == 0
    assert sum(m["n_test_by_class"].values()) == m["n_test"] >= 6
    assert m["n_features_extracted"] == 102
    assert 0 <= m["test_auc_ci"][0] <= m["test_auc"] <= m["test_auc_ci"][1] <= 1
    assert m["published"]["auc"] == 0.88
    for name in (
        "report.html",
        "metrics.json",
        "features.csv",
        "results.csv",
        "roc_test.png",
        "roc_train_cv.png",
        "model/model_card.md",
    ):
        assert (tmp_path / "calc" / name).is_file(), name
    html = (tmp_path / "calc" / "report.html").read_text()
    assert "published" in html and "0.88" in html
    saved = json.loads((tmp_path / "calc" / "metrics.json").read_text())
    assert saved["test_auc"] == m["test_auc"] and np.isfinite(saved["cutoff"])
