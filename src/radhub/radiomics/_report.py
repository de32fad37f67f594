"""Outputs of a search: results table, predictions, metrics.json, ROC plots, model, report.html."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radhub.radiomics._extract import library_versions
from radhub.radiomics._model import RadiomicsModel
from radhub.radiomics._search import SearchResult
from radhub.stats import plot_roc, save_figure

logger = logging.getLogger(__name__)

__all__ = ["html_page", "write_search_outputs"]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem} td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3} pre{background:#f6f6f6;padding:1rem;overflow-x:auto;font-size:.85rem}
img{max-width:48%;height:auto} .note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem 1rem}
footer{color:#777;font-size:.8rem;margin-top:2rem}
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return "n/a" if not np.isfinite(value) else f"{float(value):.{digits}f}"
    return str(value)


def _ci(ci: Sequence[Any] | None) -> str:
    if not ci or any(v is None for v in ci):
        return ""
    return f"{_fmt(ci[0])} to {_fmt(ci[1])}"


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A small HTML table with escaped cells."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(title: str, sections: Sequence[str], images: Sequence[Path] = ()) -> str:
    """A standalone HTML page (PNG images inlined as data URIs, no external resources)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *sections,
    ]
    if images:
        parts.append("<h2>ROC curves</h2><p>")
        for img in images:
            data = base64.b64encode(Path(img).read_bytes()).decode("ascii")
            parts.append(
                f'<img alt="{html.escape(Path(img).stem)}" src="data:image/png;base64,{data}">'
            )
        parts.append("</p>")
    parts.append(
        f"<footer>radhub radiomics, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC</footer></body></html>"
    )
    return "\n".join(parts)


def metrics_sections(metrics: dict[str, Any]) -> list[str]:
    """HTML sections describing a search's metrics (used by both reports)."""
    rows = [
        ["AUC", _fmt(metrics["test_auc"]), _ci(metrics["test_auc_ci"])],
        ["Accuracy", _fmt(metrics["test_accuracy"]), _ci(metrics["test_accuracy_ci"])],
        ["Sensitivity", _fmt(metrics["test_sensitivity"]), _ci(metrics["test_sensitivity_ci"])],
        ["Specificity", _fmt(metrics["test_specificity"]), _ci(metrics["test_specificity_ci"])],
        ["PPV", _fmt(metrics["test_ppv"]), _ci(metrics["test_ppv_ci"])],
        ["NPV", _fmt(metrics["test_npv"]), _ci(metrics["test_npv_ci"])],
    ]
    t = metrics["test_2x2"]
    return [
        "<h2>Best pipeline</h2>",
        (
            f"<p><b>{html.escape(metrics['best_pipeline'])}</b>, chosen among {metrics['n_pipelines']} pipelines "
            f"by cross-validated AUC on the training set: {_fmt(metrics['cv_auc'])}. Being the best of many, "
            "this CV AUC is optimistic; the test AUC below is the honest estimate.</p>"
        ),
        (
            f"<p>Rad-score cutoff {_fmt(metrics['cutoff'], 4)} (Youden-optimal on the out-of-fold training "
            "scores, applied unchanged to the test set).</p>"
        ),
        "<h2>Test set (touched once)</h2>",
        html_table(["Statistic", "Estimate", "95% CI"], rows),
        (
            f"<p>2x2 at the cutoff: TP {t['tp']}, FP {t['fp']}, FN {t['fn']}, TN {t['tn']}. AUC CI: DeLong; "
            "proportions: Wilson score intervals.</p>"
        ),
        "<h2>Data</h2>",
        html_table(
            ["Set", *metrics["n_train_by_class"].keys(), "total"],
            [
                ["train", *metrics["n_train_by_class"].values(), metrics["n_train"]],
                ["test", *metrics["n_test_by_class"].values(), metrics["n_test"]],
            ],
        ),
    ]


def write_search_outputs(
    result: SearchResult,
    out: str | Path,
    *,
    title: str = "Radiomics model search",
    data_info: dict[str, Any] | None = None,
    extra_sections: Sequence[str] = (),
    extra_metrics: dict[str, Any] | None = None,
    name: str = "radiomics model",
) -> dict[str, Any]:
    """Write every output of a search into ``out`` and return the metrics dict.

    Files: ``results.csv`` (all pipelines), ``predictions.csv`` (out-of-fold
    training and test Rad-scores with calls), ``metrics.json``,
    ``roc_train_cv.png``, ``roc_test.png``, ``model/`` (model.joblib,
    model.json, model_card.md) and ``report.html``.
    """
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    metrics = result.to_dict()
    if extra_metrics:
        metrics.update(extra_metrics)
    result.cv.table.to_csv(d / "results.csv", index=False, float_format="%.6g")
    y = result.y
    rows = []
    for split, index, scores in (
        ("train_cv", result.train_index, result.train_scores),
        ("test", result.test_index, result.test_scores),
    ):
        for i, s in zip(index, scores):
            rows.append(
                {
                    "id": result.ids[i],
                    "split": split,
                    "label": result.labels[y[i]],
                    "rad_score": float(s),
                    "predicted": result.labels[1] if s >= result.cutoff else result.labels[0],
                }
            )
    pd.DataFrame(rows).to_csv(d / "predictions.csv", index=False, float_format="%.6g")
    images = []
    acc = result.test_accuracy
    # mark the operating point of the training-chosen cutoff, not the test set's own optimum
    test_roc = replace(
        result.test_roc,
        cutoff=result.cutoff,
        sensitivity=acc.sensitivity,
        specificity=acc.specificity,
        youden=acc.sensitivity + acc.specificity - 1,
    )
    for fname, yy, ss, roc, caption in (
        (
            "roc_train_cv.png",
            y[result.train_index],
            result.train_scores,
            result.train_roc,
            "training set, out-of-fold",
        ),
        (
            "roc_test.png",
            y[result.test_index],
            result.test_scores,
            test_roc,
            "test set, training cutoff",
        ),
    ):
        fig = plot_roc(
            yy, ss, result=roc, band=True, n_boot=300, seed=result.seed, title=f"ROC, {caption}"
        )
        images.append(save_figure(fig, d / fname))
    model = RadiomicsModel(
        pipeline=result.pipeline,
        feature_names=result.feature_names,
        cutoff=result.cutoff,
        labels=result.labels,
        metadata={
            "name": name,
            "pipeline": result.best.to_dict(),
            "metrics": metrics,
            "data": data_info or {},
            "versions": library_versions(),
        },
    )
    model.save(d / "model")
    (d / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str), encoding="utf-8")
    top = result.cv.table.head(10)
    sections = [
        *extra_sections,
        *metrics_sections(metrics),
        "<h2>Top 10 pipelines (cross-validation on the training set)</h2>",
        html_table(
            ["rank", "pipeline", "CV AUC"],
            [[int(r["rank"]), r["name"], r["cv_auc"]] for _, r in top.iterrows()],
        ),
        "<p>All pipelines: results.csv. Model and model card: model/.</p>",
    ]
    (d / "report.html").write_text(html_page(title, sections, images), encoding="utf-8")
    return metrics
