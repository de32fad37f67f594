"""Replication of seed 000 (mammography radiomics, masses and calcifications) on mini-MIAS.

Info.txt gives, per abnormality, the class, severity (B/M), centre x, y with
the origin at the **bottom-left** corner, and a radius in pixels; images are
1024x1024 at 200 um. ROIs are discs at (x, 1024 - y). Rows without
coordinates are excluded and counted. Films come in left/right pairs of one
patient (mdb001/mdb002 ...); the split and the folds are grouped by patient,
so no image (and no patient) is on both sides.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from radhub.radiomics._executor import Executor
from radhub.radiomics._extract import ExtractionResult, RoiSpec, extract_features, write_table
from radhub.radiomics._params import load_params
from radhub.radiomics._report import html_table, write_search_outputs
from radhub.radiomics._search import SEARCH_PRESETS, SearchSpace, run_search
from radhub.radiomics.errors import MiasError

logger = logging.getLogger(__name__)

__all__ = [
    "MIAS_TASKS",
    "PUBLISHED",
    "MiasAnnotation",
    "MiasResult",
    "mias_rois",
    "parse_info",
    "run_mias",
]

MiasTask = Literal["calcification", "mass"]
#: Info.txt classes per task (METHODS.md 7): ARCH and ASYM are not masses.
MIAS_TASKS: dict[str, tuple[str, ...]] = {
    "calcification": ("CALC",),
    "mass": ("CIRC", "SPIC", "MISC"),
}
IMAGE_SIZE = 1024
PIXEL_SPACING_MM = 0.2
#: Seed 000's test-set results (Ma et al. 2022, Table 2 and text).
PUBLISHED: dict[str, dict[str, Any]] = {
    "mass": {
        "auc": 0.84,
        "accuracy": 0.80,
        "sensitivity": 0.73,
        "specificity": 0.89,
        "cutoff": 0.644,
        "pipeline": "Z-score + PCA + RFE_9 + RF",
        "n_train": 222,
        "n_test": 94,
        "reader": {"accuracy": 0.80, "sensitivity": 0.76, "specificity": 0.88},
        "mcnemar_p": 0.66,
    },
    "calcification": {
        "auc": 0.88,
        "accuracy": 0.85,
        "sensitivity": 0.84,
        "specificity": 0.87,
        "cutoff": 0.676,
        "pipeline": "Min-Max + PCA + KW_13 + XGB",
        "n_train": 256,
        "n_test": 108,
        "reader": {"accuracy": 0.84, "sensitivity": 0.86, "specificity": 0.80},
        "mcnemar_p": 0.69,
    },
}
_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]+)(?:\s+([BM]))?(?:\s+(\d+)\s+(\d+)\s+(\d+))?")


@dataclass(frozen=True)
class MiasAnnotation:
    """One row of Info.txt (x, y, radius are None when the row has no coordinates)."""

    refnum: str
    background: str
    abnormality: str
    severity: str | None
    x: int | None
    y: int | None
    radius: int | None

    @property
    def patient(self) -> str:
        """Patient key: films 2k-1 and 2k are the right and left breast of one woman."""
        return f"p{(int(self.refnum[3:]) + 1) // 2:03d}"

    @property
    def row(self) -> int | None:
        """Image row (from the top) of the centre: 1024 - y."""
        return None if self.y is None else IMAGE_SIZE - self.y


def parse_info(path: str | Path) -> list[MiasAnnotation]:
    """Parse Info.txt: every line starting ``mdbNNN`` (the README text before it is skipped).

    Raises
    ------
    MiasError
        Missing file or no annotation line.
    """
    p = Path(path)
    if not p.is_file():
        raise MiasError(
            f"{str(p)!r} does not exist; --root must be the mini-MIAS folder holding Info.txt"
        )
    out = []
    for line in p.read_text(encoding="latin-1").splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue
        ref, bg, cls, sev, x, y, r = m.groups()
        out.append(
            MiasAnnotation(
                ref,
                bg,
                cls,
                sev,
                None if x is None else int(x),
                None if y is None else int(y),
                None if r is None else int(r),
            )
        )
    if not out:
        raise MiasError(f"{p.name} has no annotation lines (lines starting with mdbNNN)")
    return out


def mias_rois(
    root: str | Path, task: MiasTask, *, include_arch_asym: bool = False
) -> tuple[list[RoiSpec], dict[str, Any]]:
    """Circle ROIs of one task, and what was excluded.

    Returns
    -------
    specs : list of RoiSpec
        One per annotated abnormality with coordinates: id ``mdbNNN-k``,
        image ``mdbNNN.png`` (or ``.pgm``), mask ``circle:x,1024-y,r``,
        label B/M, group = patient, spacing 0.2 mm.
    info : dict
        Counts: rows of the task, excluded without coordinates (with their
        refnums), excluded because the image file is missing.
    """
    if task not in MIAS_TASKS:
        raise MiasError(f"task must be one of {sorted(MIAS_TASKS)}, got {task!r}")
    base = Path(root)
    rows = parse_info(base / "Info.txt")
    classes = MIAS_TASKS[task] + (("ARCH", "ASYM") if include_arch_asym and task == "mass" else ())
    selected = [r for r in rows if r.abnormality in classes and r.severity in ("B", "M")]
    no_coords = [r.refnum for r in selected if r.x is None or r.y is None or r.radius is None]
    specs: list[RoiSpec] = []
    missing_images: list[str] = []
    counter: dict[str, int] = {}
    for r in selected:
        if r.x is None or r.y is None or r.radius is None:
            continue
        image = next(
            (
                base / f"{r.refnum}{ext}"
                for ext in (".png", ".pgm")
                if (base / f"{r.refnum}{ext}").is_file()
            ),
            None,
        )
        if image is None:
            missing_images.append(r.refnum)
            continue
        counter[r.refnum] = counter.get(r.refnum, 0) + 1
        specs.append(
            RoiSpec(
                id=f"{r.refnum}-{counter[r.refnum]}",
                image=str(image),
                mask=f"circle:{r.x},{r.row},{r.radius}",
                label=r.severity,
                group=r.patient,
                spacing=(PIXEL_SPACING_MM, PIXEL_SPACING_MM),
            )
        )
    if not specs:
        raise MiasError(f"no usable {task} ROI under {str(base)!r}")
    info = {
        "classes": list(classes),
        "rows": len(selected),
        "rows_by_severity": {s: sum(1 for r in selected if r.severity == s) for s in ("B", "M")},
        "excluded_no_coordinates": len(no_coords),
        "excluded_no_coordinates_refnums": no_coords,
        "excluded_missing_image": len(missing_images),
        "rois": len(specs),
        "images": len({s.image for s in specs}),
        "patients": len({s.group for s in specs}),
        "images_with_several_rois": sorted(k for k, v in counter.items() if v > 1),
    }
    return specs, info


@dataclass(frozen=True)
class MiasResult:
    """Metrics of one replication run and where its files are."""

    metrics: dict[str, Any] = field(repr=False)
    out: Path
    extraction: ExtractionResult = field(repr=False)


def run_mias(
    root: str | Path,
    task: MiasTask,
    out: str | Path,
    *,
    space: SearchSpace | str = "default",
    seed: int = 0,
    test_size: float = 0.3,
    executor: Executor | None = None,
    include_arch_asym: bool = False,
    progress: bool = True,
) -> MiasResult:
    """Build ROIs, extract 2D features, split 7:3 by patient, search, report.

    Writes ``features.csv``, ``results.csv``, ``predictions.csv``,
    ``metrics.json``, ROC plots, ``model/`` and ``report.html`` into ``out``.
    """
    sp = SEARCH_PRESETS[space] if isinstance(space, str) else space
    if isinstance(space, str) and space not in SEARCH_PRESETS:
        raise MiasError(f"preset must be one of {sorted(SEARCH_PRESETS)}, got {space!r}")
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    specs, info = mias_rois(root, task, include_arch_asym=include_arch_asym)
    params = load_params("mammography_2d")
    (d / "params.yaml").write_text(params.to_yaml(), encoding="utf-8")
    extraction = extract_features(specs, params, executor=executor, progress=progress)
    write_table(extraction.table, d / "features.csv")
    table = extraction.table[extraction.table["status"] == "ok"].reset_index(drop=True)
    features = extraction.feature_columns
    y = (table["label"] == "M").to_numpy(int)
    result = run_search(
        table[features].to_numpy(float),
        y,
        groups=table["group"].to_numpy(),
        feature_names=features,
        ids=table["id"].tolist(),
        labels=("B", "M"),
        test_size=test_size,
        seed=seed,
        space=sp,
        executor=executor,
        progress=progress,
    )
    pub = PUBLISHED[task]
    lo, hi = result.test_roc.auc_ci
    test_patients = set(table["group"].iloc[result.test_index])
    train_patients = set(table["group"].iloc[result.train_index])
    extra = {
        "task": task,
        "dataset": "mini-MIAS (Suckling et al. 1994), 1024x1024, 200 um",
        "rois": info,
        "extraction": extraction.to_dict(),
        "n_features_extracted": len(features),
        "param_hash": params.sha256,
        "patients_train": len(train_patients),
        "patients_test": len(test_patients),
        "patients_in_both": len(train_patients & test_patients),
        "published": pub,
        "published_auc_inside_test_ci": bool(lo <= pub["auc"] <= hi),
        "test_auc_ci_width": hi - lo,
    }
    notes = _honest_notes(task, result.to_dict() | extra, pub)
    sections = [
        (
            f"<p>Task: <b>{html.escape(task)}</b> ({', '.join(info['classes'])} rows of Info.txt), benign (B) vs "
            "malignant (M). Circle ROIs from the annotated centre (origin bottom-left: row = 1024 - y) and radius; "
            f"{len(features)} 2D pyradiomics features (original image; parameter hash {params.sha256[:12]}).</p>"
        ),
        html_table(
            ["", "value"],
            [
                ["Info.txt rows of the task (B/M)", info["rows"]],
                [
                    "excluded: no coordinates",
                    f"{info['excluded_no_coordinates']} ({', '.join(info['excluded_no_coordinates_refnums']) or '-'})",
                ],
                ["excluded: extraction failed", len(extraction.failures)],
                ["ROIs used", len(table)],
                ["images / patients", f"{info['images']} / {info['patients']}"],
                ["patients on both sides of the split", extra["patients_in_both"]],
            ],
        ),
        "<h2>Next to the published study</h2>",
        html_table(
            ["", "this run (mini-MIAS)", "published (seed 000)"],
            [
                [
                    "cases train / test",
                    f"{result.train_index.size} / {result.test_index.size}",
                    f"{pub['n_train']} / {pub['n_test']} images",
                ],
                ["best pipeline", str(result.best), pub["pipeline"]],
                [
                    "test AUC",
                    f"{result.test_roc.auc:.3f} ({lo:.3f} to {hi:.3f})",
                    f"{pub['auc']:.2f}",
                ],
                ["cutoff", f"{result.cutoff:.3f}", f"{pub['cutoff']:.3f}"],
                ["accuracy", f"{result.test_accuracy.accuracy:.2f}", f"{pub['accuracy']:.2f}"],
                [
                    "sensitivity",
                    f"{result.test_accuracy.sensitivity:.2f}",
                    f"{pub['sensitivity']:.2f}",
                ],
                [
                    "specificity",
                    f"{result.test_accuracy.specificity:.2f}",
                    f"{pub['specificity']:.2f}",
                ],
            ],
        ),
        "<div class='note'>" + "".join(f"<p>{html.escape(n)}</p>" for n in notes) + "</div>",
    ]
    metrics = write_search_outputs(
        result,
        d,
        title=f"mini-MIAS radiomics replication: {task}",
        data_info={
            "table": "features.csv",
            "label_column": "label",
            "split": "7:3 stratified, grouped by patient",
            "param_hash": params.sha256,
        },
        extra_sections=sections,
        extra_metrics=extra | {"notes": notes},
        name=f"mini-MIAS {task} benign/malignant",
    )
    return MiasResult(metrics, d, extraction)


def _honest_notes(task: str, m: dict[str, Any], pub: dict[str, Any]) -> list[str]:
    lo, hi = m["test_auc_ci"]
    n_test = m["n_test"]
    notes = [
        f"The test set has {n_test} ROIs ({m['n_test_by_class']}); the AUC's 95% CI spans "
        f"{lo:.2f} to {hi:.2f} (width {hi - lo:.2f}). "
        + (
            f"It contains the published {pub['auc']:.2f}, so this sample cannot tell the two apart."
            if lo <= pub["auc"] <= hi
            else f"It excludes the published {pub['auc']:.2f}."
        ),
        "A CI that includes 0.5 means the data do not show discrimination better than chance."
        if lo <= 0.5
        else "The CI lies above 0.5: discrimination better than chance on this test set.",
        (
            f"The published study had {pub['n_train']}/{pub['n_test']} images and deep-learning lesion outlines; "
            "here the ROIs are the annotators' circles (for calcifications a circle around the cluster), the films "
            "are digitised screen-film mammograms at 200 um, and the sample is several times smaller."
        ),
        (
            f"The cross-validated AUC of the winner ({m['cv_auc']:.2f}) is the best of {m['n_pipelines']} pipelines "
            "and so optimistic; with so few training cases many pipelines tie, and another seed may pick another "
            "winner. Report the test AUC with its CI, not the CV AUC."
        ),
        (
            "Sensitivity and specificity at the training-chosen cutoff rest on a handful of test cases per class; "
            "their Wilson CIs are wide (see the table)."
        ),
    ]
    return notes
