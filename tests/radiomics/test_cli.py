"""``radhub radiomics`` commands through radhub.cli.main (exit codes, one JSON object on stdout)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radhub.cli import main
from tests.radiomics.conftest import noise_table


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["radiomics", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _json(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def _manifest(tmp_path, mias_root, rows) -> str:
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=["id", "image", "mask", "label"]).to_csv(path, index=False)
    return str(path)


def test_extract_csv_and_parquet(tmp_path, mias_root, capsys) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(
        "imageType: {Original: {}}\nfeatureClass: {firstorder: [Mean, Entropy]}\nsetting: {force2D: true, binWidth: 8}\n"
    )
    manifest = _manifest(
        tmp_path,
        mias_root,
        [
            ["a", str(mias_root / "mdb001.png"), "circle:535,599,197", "B"],
            ["b", str(mias_root / "mdb005.png"), "circle:477,891,30", "B"],
            ["bad", str(mias_root / "mdb005.png"), "circle:4770,891,30", "B"],
        ],
    )
    code, out, err = _run(
        capsys,
        "extract",
        "--manifest",
        manifest,
        "--params",
        str(params),
        "--out",
        str(tmp_path / "f.parquet"),
        "--spacing",
        "0.2",
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    payload = _json(out)
    assert payload["n_ok"] == 2 and payload["n_failed"] == 1 and payload["n_features"] == 2
    assert "failed: bad: RoiOutsideImageError" in err
    table = pd.read_parquet(tmp_path / "f.parquet")
    assert list(table["status"]) == ["ok", "ok", "failed"]
    code, out, _ = _run(
        capsys,
        "extract",
        "--manifest",
        manifest,
        "--params",
        str(params),
        "--out",
        str(tmp_path / "f.csv"),
        "--spacing",
        "0.2",
        "--no-progress",
    )
    assert code == 0 and "2/3 ROIs extracted" in out


def test_extract_errors(tmp_path, mias_root, capsys) -> None:
    manifest = _manifest(
        tmp_path, mias_root, [["bad", str(mias_root / "mdb005.png"), "circle:4770,891,30", "B"]]
    )
    code, _, err = _run(
        capsys,
        "extract",
        "--manifest",
        manifest,
        "--params",
        "mammography_2d",
        "--out",
        str(tmp_path / "f.csv"),
        "--spacing",
        "0.2",
        "--no-progress",
    )
    assert code == 1 and "every ROI failed" in err
    code, _, err = _run(
        capsys,
        "extract",
        "--manifest",
        manifest,
        "--params",
        str(tmp_path / "none.yaml"),
        "--out",
        str(tmp_path / "f.csv"),
    )
    assert code == 2 and "none.yaml' does not exist" in err
    code, _, err = _run(
        capsys,
        "extract",
        "--manifest",
        str(tmp_path / "nope.csv"),
        "--params",
        "mammography_2d",
        "--out",
        str(tmp_path / "f.csv"),
    )
    assert code == 2 and "does not exist" in err
    code, _, err = _run(
        capsys,
        "extract",
        "--manifest",
        manifest,
        "--params",
        "mammography_2d",
        "--out",
        str(tmp_path / "f.txt"),
    )
    assert code == 2 and "must end in .csv or .parquet" in err


@pytest.fixture
def feature_csv(tmp_path):
    table = noise_table(n=90, p=10, seed=31, signal=3.0)
    table["birads"] = np.where(table["label"] == "M", "4c", "3")
    table.loc[:5, "birads"] = "4a"
    path = tmp_path / "features.csv"
    table.to_csv(path, index=False)
    return path


def test_search_then_predict(tmp_path, feature_csv, capsys) -> None:
    out_dir = tmp_path / "search"
    code, out, err = _run(
        capsys,
        "search",
        str(feature_csv),
        "--label",
        "label",
        "--preset",
        "quick",
        "--seed",
        "3",
        "--out",
        str(out_dir),
        "--json",
        "--no-progress",
    )
    assert code == 0, err
    payload = _json(out)
    for key in (
        "best_pipeline",
        "cv_auc",
        "test_auc",
        "test_auc_ci",
        "cutoff",
        "test_accuracy",
        "test_sensitivity",
        "test_specificity",
        "n_train",
        "n_test",
    ):
        assert key in payload, key
    assert payload["n_train"] + payload["n_test"] == 90 and payload["positive_label"] == "M"
    assert payload["test_auc"] > 0.8  # f0 carries the label
    code, out, err = _run(
        capsys, "predict", "--model", str(out_dir / "model"), str(feature_csv), "--json"
    )
    assert code == 0, err
    pred = _json(out)
    assert pred["n"] == 90 and {p["predicted"] for p in pred["predictions"]} <= {"B", "M"}
    code, out, _ = _run(capsys, "predict", "--model", str(out_dir / "model"), str(feature_csv))
    assert code == 0 and out.startswith("id,rad_score,predicted,positive")
    code, _, err = _run(
        capsys, "search", str(feature_csv), "--label", "nolabel", "--out", str(out_dir)
    )
    assert code == 2 and "--label column 'nolabel' is not in the table" in err
    code, _, err = _run(
        capsys,
        "search",
        str(feature_csv),
        "--label",
        "label",
        "--positive",
        "X",
        "--out",
        str(out_dir),
    )
    assert code == 2 and "--positive 'X' is not one of the labels" in err


def test_score_and_compare(tmp_path, feature_csv, capsys) -> None:
    rule = tmp_path / "rule.yaml"
    rule.write_text(
        "cutoff: 1\nitems:\n  - {feature: f0, direction: above, threshold: 1.5, points: 1}\n"
    )
    code, out, err = _run(
        capsys, "score", "--rule", str(rule), str(feature_csv), "--label", "label", "--json"
    )
    assert code == 0, err
    payload = _json(out)
    assert payload["n"] == 90 and 0.6 < payload["accuracy"]["accuracy"] <= 1
    table = pd.read_csv(feature_csv)
    table["model_call"] = np.where(table["f0"] >= 1.5, "M", "B")
    table["score_b"] = table["f1"]
    path = tmp_path / "cmp.csv"
    table.to_csv(path, index=False)
    code, out, err = _run(
        capsys,
        "compare",
        str(path),
        "--truth",
        "label",
        "--model",
        "model_call",
        "--reader",
        "birads",
        "--score-a",
        "f0",
        "--score-b",
        "score_b",
        "--json",
    )
    assert code == 0, err
    payload = _json(out)
    mc = payload["reader_comparison"]["mcnemar"]
    truth = table["label"] == "M"
    model_ok = (table["model_call"] == "M") == truth
    reader_ok = table["birads"].isin(["4c"]) == truth
    assert (mc["b"], mc["c"]) == (
        int((model_ok & ~reader_ok).sum()),
        int((~model_ok & reader_ok).sum()),
    )
    assert payload["delong"]["auc_a"] > payload["delong"]["auc_b"]
    code, _, err = _run(capsys, "compare", str(path), "--truth", "label")
    assert code == 2 and "give --model and --reader" in err
    table.loc[0, "birads"] = "0"
    table.to_csv(path, index=False)
    code, _, err = _run(
        capsys,
        "compare",
        str(path),
        "--truth",
        "label",
        "--model",
        "model_call",
        "--reader",
        "birads",
    )
    assert code == 2 and "not in the mapping" in err


def test_extract_on_a_dask_scheduler_address(tmp_path, mias_root, capsys, dask_executor) -> None:
    """--scheduler connects to an existing cluster (here the fixture's local one) and gives the same table."""
    manifest = _manifest(
        tmp_path,
        mias_root,
        [
            ["a", str(mias_root / "mdb001.png"), "circle:535,599,197", "B"],
            ["b", str(mias_root / "mdb005.png"), "circle:477,891,30", "B"],
        ],
    )
    address = dask_executor._cluster.scheduler_address
    args = ["--manifest", manifest, "--params", "mammography_2d", "--spacing", "0.2", "--no-progress", "--json"]
    code, out, err = _run(capsys, "extract", *args, "--out", str(tmp_path / "dask.csv"), "--scheduler", address)
    assert code == 0, err
    assert _json(out)["executor"] == "dask x2"
    code, _, err = _run(capsys, "extract", *args, "--out", str(tmp_path / "local.csv"))
    assert code == 0, err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask.csv"), pd.read_csv(tmp_path / "local.csv"))
    code, _, err = _run(capsys, "extract", *args, "--out", str(tmp_path / "x.csv"), "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and "cannot connect to the Dask scheduler" in err
