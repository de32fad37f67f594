"""Saved radiomics models: the fitted pipeline, its cutoff, metrics and a model card."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from radhub.radiomics._pipeline import rad_score
from radhub.radiomics.errors import ModelError
from radhub.stats import apply_cutoff

logger = logging.getLogger(__name__)

__all__ = ["RadiomicsModel"]

MODEL_FILE = "model.joblib"
META_FILE = "model.json"
CARD_FILE = "model_card.md"
FORMAT_VERSION = 1


@dataclass
class RadiomicsModel:
    """A fitted pipeline with what is needed to apply and judge it.

    Attributes
    ----------
    pipeline : sklearn Pipeline
        Fitted on all training rows; its input is ``feature_names`` in order.
    feature_names : list of str
        Feature columns the pipeline reads.
    cutoff : float
        Rad-score threshold (``score >= cutoff`` is ``labels[1]``), chosen on
        cross-validated training scores.
    labels : (negative, positive)
        Class labels as in the training table.
    metadata : dict
        Pipeline, search space, data counts, metrics, versions, provenance.

    Notes
    -----
    ``model.joblib`` is a pickle: load models only from sources you trust.
    Its SHA-256 is stored in ``model.json`` and checked on load.
    """

    pipeline: Any = field(repr=False)
    feature_names: list[str] = field(repr=False)
    cutoff: float
    labels: tuple[str, str]
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def scores(self, table: pd.DataFrame) -> np.ndarray:
        """Rad-scores of the rows of a feature table.

        Raises
        ------
        ModelError
            The table lacks feature columns the model needs.
        """
        self._check_columns(table)
        X = table[self.feature_names].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        return rad_score(self.pipeline, X)

    def _check_columns(self, table: pd.DataFrame) -> None:
        missing = [c for c in self.feature_names if c not in table.columns]
        if missing:
            raise ModelError(
                f"the table lacks {len(missing)} feature columns the model needs, e.g. {missing[:5]}; "
                "extract with the same parameter file as the training table"
            )

    def predict(self, table: pd.DataFrame, *, id_column: str = "id") -> pd.DataFrame:
        """Rad-score and class of each row: columns ``id``, ``rad_score``, ``predicted``, ``positive``.

        Rows whose features are not all finite (e.g. failed extractions) get
        NaN scores and an empty class rather than a guess.
        """
        self._check_columns(table)
        X = table.reindex(columns=self.feature_names)
        finite = np.isfinite(X.apply(pd.to_numeric, errors="coerce").to_numpy(float)).all(axis=1)
        scores = np.full(len(table), np.nan)
        if finite.any():
            scores[finite] = self.scores(table[finite])
        positive = np.zeros(len(table), bool)
        if finite.any():
            positive[finite] = apply_cutoff(scores[finite], self.cutoff)
        ids = (
            table[id_column].astype(str)
            if id_column in table.columns
            else pd.Series(range(len(table))).astype(str)
        )
        return pd.DataFrame(
            {
                "id": ids.to_numpy(),
                "rad_score": scores,
                "predicted": [
                    (self.labels[1] if p else self.labels[0]) if f else ""
                    for p, f in zip(positive, finite)
                ],
                "positive": [bool(p) if f else None for p, f in zip(positive, finite)],
            }
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``model.joblib``, ``model.json`` and ``model_card.md`` into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, out / MODEL_FILE)
        digest = hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()
        meta = {
            "format_version": FORMAT_VERSION,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model_sha256": digest,
            "feature_names": self.feature_names,
            "cutoff": self.cutoff,
            "labels": {"negative": self.labels[0], "positive": self.labels[1]},
            **self.metadata,
        }
        (out / META_FILE).write_text(
            json.dumps(meta, indent=1, default=_json_default), encoding="utf-8"
        )
        (out / CARD_FILE).write_text(model_card(meta), encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> RadiomicsModel:
        """Load a model written by :meth:`save`.

        Raises
        ------
        ModelError
            Missing files, an unknown format version, or a ``model.joblib``
            whose SHA-256 differs from the one recorded.
        """
        d = Path(directory)
        if not (d / META_FILE).is_file() or not (d / MODEL_FILE).is_file():
            raise ModelError(
                f"{str(d)!r} is not a saved model (needs {META_FILE} and {MODEL_FILE})"
            )
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read {META_FILE}: {exc}") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(
                f"unsupported model format {meta.get('format_version')!r}; expected {FORMAT_VERSION}"
            )
        digest = hashlib.sha256((d / MODEL_FILE).read_bytes()).hexdigest()
        if digest != meta.get("model_sha256"):
            raise ModelError(
                f"{MODEL_FILE} does not match the SHA-256 recorded in {META_FILE}; refusing to load it"
            )
        pipeline = joblib.load(d / MODEL_FILE)
        labels = (str(meta["labels"]["negative"]), str(meta["labels"]["positive"]))
        skip = {"format_version", "created", "model_sha256", "feature_names", "cutoff", "labels"}
        return cls(
            pipeline=pipeline,
            feature_names=list(meta["feature_names"]),
            cutoff=float(meta["cutoff"]),
            labels=labels,
            metadata={k: v for k, v in meta.items() if k not in skip},
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _ci(values: Any) -> str:
    if not values or any(v is None for v in values):
        return ""
    return f" (95% CI {_f(values[0])} to {_f(values[1])})"


def model_card(meta: dict[str, Any]) -> str:
    """A Markdown model card from a model's metadata: data, pipeline, metrics, limits."""
    m = meta.get("metrics", {})
    data = meta.get("data", {})
    lines = [
        f"# Model card: {meta.get('name', 'radiomics model')}",
        "",
        f"Created {meta.get('created', '')} with radhub {meta.get('versions', {}).get('radhub_version', '')}.",
        "",
        "## Intended use",
        meta.get(
            "intended_use",
            "Research only. Scores a region of interest for the positive class from radiomics "
            "features; not a medical device and not validated for clinical decisions.",
        ),
        "",
        "## Data",
        f"- source table: {data.get('table', 'n/a')}",
        f"- label column: {data.get('label_column', 'n/a')}; positive class: {meta.get('labels', {}).get('positive')}",
        f"- training rows by class: {m.get('n_train_by_class')}; test rows by class: {m.get('n_test_by_class')}",
        f"- split: {data.get('split', 'stratified hold-out')}, seed {m.get('seed')}",
        f"- features in: {len(meta.get('feature_names', []))}; extraction parameter hash: {data.get('param_hash', 'n/a')}",
        "",
        "## Pipeline",
        f"- {m.get('best_pipeline', 'n/a')}",
        (
            f"- chosen among {m.get('n_pipelines', 'n/a')} pipelines by cross-validated AUC on the training set "
            f"({_f(m.get('cv_auc'))}; optimistic, being the best of many)"
        ),
        f"- Rad-score cutoff {_f(m.get('cutoff'), 4)} (Youden-optimal on out-of-fold training scores)",
        "",
        "## Test-set performance (touched once)",
        f"- AUC {_f(m.get('test_auc'))}{_ci(m.get('test_auc_ci'))}, DeLong",
        f"- accuracy {_f(m.get('test_accuracy'))}{_ci(m.get('test_accuracy_ci'))}",
        f"- sensitivity {_f(m.get('test_sensitivity'))}{_ci(m.get('test_sensitivity_ci'))}",
        f"- specificity {_f(m.get('test_specificity'))}{_ci(m.get('test_specificity_ci'))}",
        f"- PPV {_f(m.get('test_ppv'))}{_ci(m.get('test_ppv_ci'))}; NPV {_f(m.get('test_npv'))}{_ci(m.get('test_npv_ci'))}",
        "",
        "## Limits",
        (
            "- Proportions carry Wilson 95% CIs, the AUC a DeLong CI; with small test sets they are wide "
            "and the point estimates are unstable."
        ),
        (
            "- Single-centre, single hold-out split: no external validation; features depend on the "
            "scanner, the segmentation and the extraction parameters (same parameter file required)."
        ),
        "- The model file is a pickle: load it only from trusted sources (its SHA-256 is checked).",
    ]
    lines += [f"- {x}" for x in meta.get("limits", [])]
    return "\n".join(lines) + "\n"
