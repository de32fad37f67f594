"""Reader comparison: BI-RADS calls dichotomised, McNemar against the model; DeLong between models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray

from radhub.radiomics.errors import RadiomicsError
from radhub.stats import (
    AccuracyResult,
    ComparisonResult,
    McNemarResult,
    accuracy_from_labels,
    delong_test,
    mcnemar,
)

__all__ = [
    "BIRADS_MAPPING",
    "ReaderComparison",
    "compare_models",
    "compare_with_reader",
    "dichotomise",
    "load_mapping",
]

#: Seed 000's dichotomy: BI-RADS 2-4a benign (0), 4b-5 malignant (1); 1 and 3 benign.
#: Categories 0 (incomplete) and 6 (known cancer) have no call and are rejected.
BIRADS_MAPPING: dict[str, int] = {"1": 0, "2": 0, "3": 0, "4a": 0, "4b": 1, "4c": 1, "5": 1}


def _key(value: Any) -> str:
    text = str(value).strip().lower().replace("bi-rads", "").replace("birads", "").strip()
    return text.removesuffix(".0")


def load_mapping(source: str | Path | Mapping[str, Any]) -> dict[str, int]:
    """A reader-call mapping from YAML or a dict.

    Two forms are accepted: ``{benign: [2, 3, 4a], malignant: [4b, 4c, 5]}``
    or ``{"2": 0, "4b": 1, ...}``. Keys are compared case-insensitively.

    Raises
    ------
    RadiomicsError
        Missing file, bad YAML, or values other than 0/1.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise RadiomicsError(f"mapping file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RadiomicsError(f"{path.name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise RadiomicsError("a mapping is {benign: [...], malignant: [...]} or {category: 0 or 1}")
    if set(data) <= {"benign", "malignant", "negative", "positive"}:
        out: dict[str, int] = {}
        for group, value in (("benign", 0), ("negative", 0), ("malignant", 1), ("positive", 1)):
            for cat in data.get(group) or []:
                out[_key(cat)] = value
        return out
    out = {}
    for cat, value in data.items():
        if value not in (0, 1, True, False):
            raise RadiomicsError(f"mapping value for {cat!r} must be 0 or 1, got {value!r}")
        out[_key(cat)] = int(value)
    return out


def dichotomise(
    calls: Sequence[Any] | ArrayLike, mapping: Mapping[str, int] | None = None
) -> NDArray[np.int_]:
    """Map reader categories to 0/1 (default :data:`BIRADS_MAPPING`).

    Raises
    ------
    RadiomicsError
        A category is not in the mapping (the message lists them).
    """
    m = {(_key(k)): int(v) for k, v in (mapping or BIRADS_MAPPING).items()}
    values = [_key(c) for c in np.asarray(calls, dtype=object).ravel()]
    unknown = sorted({v for v in values if v not in m})
    if unknown:
        raise RadiomicsError(
            f"reader calls {unknown} are not in the mapping {sorted(m)}; extend the mapping"
        )
    return np.array([m[v] for v in values], dtype=int)


@dataclass(frozen=True)
class ReaderComparison:
    """Model and reader on the same cases: each one's accuracy and McNemar's test.

    ``mcnemar.b`` counts cases the model got right and the reader wrong, ``c`` the reverse.
    """

    model: AccuracyResult
    reader: AccuracyResult
    mcnemar: McNemarResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "model": self.model.to_dict(),
            "reader": self.reader.to_dict(),
            "mcnemar": self.mcnemar.to_dict(),
        }

    def summary(self) -> str:
        """Readable text."""
        return "\n\n".join(
            [
                "Model\n" + self.model.summary(),
                "Reader\n" + self.reader.summary(),
                self.mcnemar.summary(),
            ]
        )


def compare_with_reader(
    y_true: ArrayLike, model_calls: ArrayLike, reader_calls: ArrayLike, *, method: str = "auto"
) -> ReaderComparison:
    """Compare binary model calls and binary reader calls against the truth (0/1 arrays).

    McNemar's test is on correctness (b: model right, reader wrong), exact
    binomial below 25 discordant pairs by default (``radhub.stats.mcnemar``).
    """
    truth = np.asarray(y_true, dtype=int)
    model = np.asarray(model_calls, dtype=int)
    reader = np.asarray(reader_calls, dtype=int)
    return ReaderComparison(
        model=accuracy_from_labels(truth, model),
        reader=accuracy_from_labels(truth, reader),
        mcnemar=mcnemar(truth, model, reader, method=method),
    )


def compare_models(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> ComparisonResult:
    """DeLong's test of two models' AUCs on the same cases (``radhub.stats.delong_test``)."""
    return delong_test(np.asarray(y_true, dtype=int), score_a, score_b)
