"""Saved models and model cards, score rules, reader comparison (McNemar) and DeLong between models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radhub.radiomics import (
    BIRADS_MAPPING,
    SEARCH_PRESETS,
    RadiomicsModel,
    apply_rule,
    compare_models,
    compare_with_reader,
    dichotomise,
    load_mapping,
    load_rule,
    run_search,
    write_search_outputs,
)
from radhub.radiomics.errors import ModelError, RadiomicsError, RuleError
from tests.radiomics.conftest import noise_table


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    table = noise_table(n=90, p=12, seed=21, signal=1.5)
    features = [c for c in table.columns if c.startswith("f")]
    y = (table["label"] == "M").to_numpy(int)
    result = run_search(
        table[features].to_numpy(float),
        y,
        feature_names=features,
        ids=table["id"].tolist(),
        labels=("B", "M"),
        space=SEARCH_PRESETS["quick"],
        seed=21,
        progress=False,
    )
    out = tmp_path_factory.mktemp("search")
    metrics = write_search_outputs(
        result, out, data_info={"table": "synthetic", "label_column": "label"}
    )
    return table, result, out, metrics


def test_outputs_written(searched) -> None:
    _, result, out, metrics = searched
    for name in (
        "results.csv",
        "predictions.csv",
        "metrics.json",
        "roc_train_cv.png",
        "roc_test.png",
        "report.html",
    ):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["test_auc"] == pytest.approx(
        result.test_roc.auc
    )
    card = (out / "model" / "model_card.md").read_text()
    for heading in ("## Data", "## Pipeline", "## Test-set performance", "## Limits"):
        assert heading in card
    assert str(result.best) in card
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Test set (touched once)" in html
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["split"]) == {"train_cv", "test"} and len(preds) == 90
    assert metrics["cutoff"] == result.cutoff


def test_model_roundtrip_predicts_the_same(searched) -> None:
    table, result, out, _ = searched
    model = RadiomicsModel.load(out / "model")
    test_rows = table.iloc[result.test_index]
    pred = model.predict(test_rows)
    np.testing.assert_allclose(pred["rad_score"].to_numpy(), result.test_scores)
    expected = np.where(result.test_scores >= result.cutoff, "M", "B")
    assert list(pred["predicted"]) == list(expected)
    assert list(pred["id"]) == list(test_rows["id"])
    # a row with a missing feature is not guessed
    broken = test_rows.copy()
    broken.iloc[0, broken.columns.get_loc(model.feature_names[0])] = np.nan
    p2 = model.predict(broken)
    assert np.isnan(p2.loc[0, "rad_score"]) and p2.loc[0, "predicted"] == ""
    with pytest.raises(ModelError, match="lacks 12 feature columns"):
        model.predict(table[["id", "label"]])


def test_tampered_model_is_refused(searched, tmp_path) -> None:
    _, _, out, _ = searched
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(out / "model", copy)
    with (copy / "model.joblib").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="does not match the SHA-256"):
        RadiomicsModel.load(copy)
    with pytest.raises(ModelError, match="is not a saved model"):
        RadiomicsModel.load(tmp_path / "nothing")


def test_rule_points_and_cutoff(tmp_path) -> None:
    (tmp_path / "rule.yaml").write_text(
        "name: demo\ncutoff: 2\nitems:\n"
        "  - {feature: a, direction: above, threshold: 10, points: 1}\n"
        "  - {feature: b, direction: '<', threshold: 0.5, points: 2}\n"
    )
    rule = load_rule(tmp_path / "rule.yaml")
    table = pd.DataFrame(
        {"id": ["x", "y", "z", "w"], "a": [10, 9, 11, np.nan], "b": [0.9, 0.4, 0.5, 0.1]}
    )
    scored = apply_rule(rule, table)
    assert list(scored["total"][:3]) == [1, 2, 1]  # a >= 10 inclusive; b < 0.5 strict
    assert list(scored["positive"]) == [False, True, False, None]
    assert np.isnan(scored.loc[3, "total"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cutoff: 1\n", "'items' must be a non-empty list"),
        ("items: [{feature: a, direction: above, threshold: 1, points: 1}]\n", "'cutoff'"),
        (
            "cutoff: 1\nitems: [{feature: a, direction: sideways, threshold: 1, points: 1}]\n",
            "direction 'sideways'",
        ),
        (
            "cutoff: 1\nitems: [{feature: a, direction: above, threshold: x, points: 1}]\n",
            "threshold must be a number",
        ),
        (
            "cutoff: 1\nitems: [{feature: a, direction: above}]\n",
            r"lacks \['points', 'threshold'\]",
        ),
    ],
)
def test_rule_errors(tmp_path, text: str, message: str) -> None:
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(RuleError, match=message):
        load_rule(tmp_path / "r.yaml")


def test_rule_missing_feature() -> None:
    rule = load_rule(
        {
            "cutoff": 1,
            "items": [{"feature": "zz", "direction": "above", "threshold": 1, "points": 1}],
        }
    )
    with pytest.raises(RuleError, match=r"lacks features used by rule 'rule': \['zz'\]"):
        apply_rule(rule, pd.DataFrame({"id": ["a"], "a": [1.0]}))


def test_birads_dichotomy() -> None:
    assert list(dichotomise(["2", "3", "4a", "4B", "4c", "5", "BI-RADS 4a", 2.0])) == [
        0,
        0,
        0,
        1,
        1,
        1,
        0,
        0,
    ]
    with pytest.raises(RadiomicsError, match=r"reader calls \['0', '6'\] are not in the mapping"):
        dichotomise(["0", "6", "2"])
    custom = load_mapping({"benign": [2, 3], "malignant": ["4a", "4b", "4c", 5]})
    assert list(dichotomise(["4a", "3"], custom)) == [1, 0]
    assert BIRADS_MAPPING["4a"] == 0 and BIRADS_MAPPING["4b"] == 1


def test_mcnemar_model_vs_reader() -> None:
    # 20 cases: model right and reader wrong on 6, the reverse on 1 (b = 6, c = 1)
    truth = np.array([1] * 10 + [0] * 10)
    model = truth.copy()
    reader = truth.copy()
    reader[[0, 1, 2, 10, 11, 12]] = 1 - truth[[0, 1, 2, 10, 11, 12]]
    model[[19]] = 1
    res = compare_with_reader(truth, model, reader)
    assert (res.mcnemar.b, res.mcnemar.c) == (6, 1)
    # exact two-sided binomial: 2 * P(X <= 1 | n = 7, p = 1/2) = 2 * 8 / 128
    assert res.mcnemar.p_value == pytest.approx(16 / 128)
    assert res.model.accuracy == pytest.approx(19 / 20) and res.reader.accuracy == pytest.approx(
        14 / 20
    )


def test_delong_between_models() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    strong = y + rng.normal(scale=0.5, size=200)
    weak = y + rng.normal(scale=2.0, size=200)
    res = compare_models(y, strong, weak)
    assert res.auc_a > res.auc_b and res.p_value < 0.01
    same = compare_models(y, strong, strong)
    assert same.difference == 0 and same.p_value == 1.0
