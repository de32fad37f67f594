"""``radhub stats ...`` (radhub.cli._stats): tables, one JSON object with --json, exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from radhub.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["stats", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one JSON object: json.loads rejects trailing data


@pytest.fixture
def roc_csv(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    a, b = rng.normal(y, 1), rng.normal(0.4 * y, 1)
    path = tmp_path / "scores.csv"
    lines = ["label,model,reader,call_a,call_b"]
    lines += [
        f"{'malignant' if t else 'benign'},{x:.4f},{z:.4f},{int(x > 0.5)},{int(z > 0.2)}"
        for t, x, z in zip(y, a, b)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path, y, a, b


def test_accuracy_json_keys_and_values(capsys) -> None:
    d = run_json(
        capsys,
        "accuracy",
        "--tp",
        "83",
        "--fp",
        "71",
        "--fn",
        "17",
        "--tn",
        "381",
        "--prevalence",
        "0.096",
    )
    for key in (
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "accuracy",
        "youden",
        "lr_pos",
        "lr_neg",
        "dor",
        "ppv_at_prevalence",
        "npv_at_prevalence",
    ):
        assert isinstance(d[key], float) and isinstance(d[key + "_ci"], list), key
        assert len(d[key + "_ci"]) == 2
    assert d["sensitivity"] == 0.83
    assert round(d["ppv_at_prevalence"], 3) == 0.359


def test_accuracy_table_and_bad_counts(capsys) -> None:
    code, out, _ = run(capsys, "accuracy", "--tp", "83", "--fp", "71", "--fn", "17", "--tn", "381")
    assert code == 0 and "Sensitivity" in out and "95% CI" in out
    code, out, err = run(
        capsys, "accuracy", "--tp", "-3", "--fp", "1", "--fn", "1", "--tn", "1", "--json"
    )
    assert code == 2 and out == "" and "tp must be a non-negative integer" in err
    code, _, err = run(capsys, "accuracy", "--tp", "3", "--fp", "0", "--fn", "1", "--tn", "0")
    assert code == 2 and "no condition-absent" in err
    code, _, err = run(
        capsys,
        "accuracy",
        "--tp",
        "3",
        "--fp",
        "1",
        "--fn",
        "1",
        "--tn",
        "1",
        "--prevalence",
        "1.5",
    )
    assert code == 2 and "prevalence" in err


def test_roc_and_plot(capsys, roc_csv, tmp_path) -> None:
    path, y, a, _ = roc_csv
    png = tmp_path / "roc.png"
    d = run_json(
        capsys,
        "roc",
        str(path),
        "--label",
        "label",
        "--score",
        "model",
        "--positive",
        "malignant",
        "--plot",
        str(png),
    )
    from sklearn.metrics import roc_auc_score

    assert d["auc"] == pytest.approx(roc_auc_score(y, np.round(a, 4)))
    assert {"auc", "auc_ci", "cutoff", "sensitivity", "specificity"} <= set(d)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "roc", str(path), "--label", "label", "--score", "model")
    assert code == 2 and "--positive" in err
    code, _, err = run(capsys, "roc", str(path), "--label", "nope", "--score", "model")
    assert code == 2 and "not in scores.csv" in err


def test_compare_roc(capsys, roc_csv) -> None:
    path, *_ = roc_csv
    d = run_json(
        capsys,
        "compare-roc",
        str(path),
        "--label",
        "label",
        "--score",
        "model",
        "--score",
        "reader",
        "--positive",
        "malignant",
    )
    assert {"auc_a", "auc_b", "difference", "difference_ci", "z", "p_value"} <= set(d)
    code, _, err = run(
        capsys,
        "compare-roc",
        str(path),
        "--label",
        "label",
        "--score",
        "model",
        "--positive",
        "malignant",
    )
    assert code == 2 and "exactly two" in err


def test_mcnemar_and_kappa(capsys, tmp_path) -> None:
    path = tmp_path / "reads.csv"
    path.write_text("truth,a,b,c\n1,1,1,1\n1,1,0,1\n0,0,0,1\n0,1,0,0\n1,0,1,1\n0,0,0,0\n")
    d = run_json(capsys, "mcnemar", str(path), "--truth", "truth", "--a", "a", "--b", "b")
    assert (d["b"], d["c"], d["method"]) == (1, 2, "exact")  # rows 2 / rows 4, 5
    d = run_json(capsys, "kappa", str(path), "--rater", "a", "--rater", "b")
    from sklearn.metrics import cohen_kappa_score

    assert d["kappa"] == pytest.approx(cohen_kappa_score([1, 1, 0, 1, 0, 0], [1, 0, 0, 0, 1, 0]))
    d = run_json(capsys, "kappa", str(path), "--rater", "a", "--rater", "b", "--rater", "c")
    assert d["n_raters"] == 3
    code, _, err = run(
        capsys,
        "kappa",
        str(path),
        "--rater",
        "a",
        "--rater",
        "b",
        "--rater",
        "c",
        "--weights",
        "linear",
    )
    assert code == 2 and "two raters only" in err


def test_icc(capsys, tmp_path, published) -> None:
    path = tmp_path / "icc.csv"
    rows = published["shrout_fleiss_1979"]["data"]
    path.write_text("j1,j2,j3,j4\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    args = [a for i in range(1, 5) for a in ("--rater", f"j{i}")]
    d = run_json(capsys, "icc", str(path), *args)
    assert round(d["ICC(3,1)"]["icc"], 2) == 0.71


def test_chi2_with_control(capsys, tmp_path) -> None:
    path = tmp_path / "dist.csv"
    path.write_text("category,no AI,AI-B\nother,95,97\nCT-4,5,3\n")
    d = run_json(capsys, "chi2", str(path), "--control", "no AI")
    assert d["comparisons"][0]["relative_difference"][1] == pytest.approx(-0.4)
    assert d["groups"] == ["no AI", "AI-B"] and d["categories"] == ["other", "CT-4"]
    code, _, err = run(capsys, "chi2", str(path), "--control", "AI-Z")
    assert code == 2 and "not a column" in err


def test_staging_reproduces_the_published_table(capsys, stats_data) -> None:
    path = stats_data("ct04/transitions.csv")
    d = run_json(capsys, "staging", str(path), "--threshold", "CT-3", "--prevalence", "0.096")
    s1 = d["stages"][0]
    assert (s1["tp"], s1["fn"], s1["fp"], s1["tn"]) == (83, 17, 71, 381)
    assert round(100 * s1["ppv_at_prevalence"], 1) == 35.9
    assert round(100 * d["summary"]["sensitivity"]["mean"], 1) == 68.7
    code, out, err = run(capsys, "staging", str(path), "--threshold", "CT-7")
    assert code == 2 and "not a category" in err and out == ""
    code, out, _ = run(capsys, "staging", str(path), "--threshold", "CT-3")
    assert code == 0 and "Threshold CT-3" in out


def test_forecast_with_plot_and_errors(capsys, tmp_path, stats_data) -> None:
    src = stats_data("covid-moscow/moscow_cumulative.csv")
    png = tmp_path / "fc.svg"
    d = run_json(
        capsys,
        "forecast",
        str(src),
        "--date",
        "date",
        "--value",
        "cumulative_cases",
        "--cumulative",
        "--end",
        "2020-11-28",
        "--holdout-days",
        "13",
        "--horizon",
        "30",
        "--arima-order",
        "0,2,1",
        "--no-ets",
        "--population",
        "12678079",
        "--at",
        "2020-12-20",
        "--plot",
        str(png),
    )
    assert d["best"] == "ARIMA(0,2,1)"
    assert d["candidates"][0]["mape"] == pytest.approx(0.178, abs=1e-3)
    assert d["at"]["point_prevalence"] == pytest.approx(d["at"]["cumulative_cases"] / 12678079)
    assert png.read_text().lstrip().startswith("<?xml")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,cases\n"
        + "\n".join(f"2021-01-{i:02d},{100 + i if i != 15 else 10}" for i in range(1, 31))
        + "\n"
    )
    code, _, err = run(
        capsys,
        "forecast",
        str(bad),
        "--date",
        "date",
        "--value",
        "cases",
        "--cumulative",
        "--holdout-days",
        "5",
        "--horizon",
        "5",
    )
    assert code == 2 and "decreases on 2021-01-15" in err


def test_report_writes_self_contained_html(capsys, roc_csv, tmp_path, stats_data) -> None:
    path, *_ = roc_csv
    out = tmp_path / "report.html"
    code, _, err = run(
        capsys,
        "report",
        "roc",
        str(path),
        "--label",
        "label",
        "--score",
        "model",
        "--positive",
        "malignant",
        "--html",
        str(out),
    )
    assert code == 0, err
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "AUC" in page and "http://" not in page and "<script" not in page
    staging = tmp_path / "staging.html"
    code, _, _ = run(
        capsys,
        "report",
        "staging",
        str(stats_data("ct04/transitions.csv")),
        "--threshold",
        "CT-3",
        "--prevalence",
        "0.096",
        "--html",
        str(staging),
    )
    assert code == 0 and "0.359" in staging.read_text()
    code, _, err = run(
        capsys, "report", "staging", str(stats_data("ct04/transitions.csv")), "--threshold", "CT-3"
    )
    assert code == 2 and "--html" in err


def test_subprocess_entry_point(stats_data) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "radhub.cli",
            "stats",
            "staging",
            str(stats_data("ct04/transitions.csv")),
            "--threshold",
            "CT-3",
            "--prevalence",
            "0.096",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert [s["tp"] for s in d["stages"]] == [83, 107, 73]
