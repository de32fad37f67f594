"""``radhub radiomics``: extract, search, predict, score, compare, mias.

Thin adapters over :mod:`radhub.radiomics`; statistics come from :mod:`radhub.stats`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from radhub.radiomics.errors import RadiomicsError

logger = logging.getLogger(__name__)

__all__ = ["radiomics"]


class InputError(click.ClickException):
    """Bad input from the user: exit code 2."""

    exit_code = 2


class WorkFailed(click.ClickException):
    """The work itself failed (e.g. every ROI failed): exit code 1."""

    exit_code = 1


def _emit(payload: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=_default, allow_nan=False))
    else:
        click.echo(text)


def _default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _clean_nan(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_nan(v) for v in value]
    return value


def _executor_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option(
                "--workers",
                type=click.IntRange(1, 256),
                default=1,
                show_default=True,
                help="parallel worker processes (local pool, or local Dask cluster with --dask)",
            ),
            click.option(
                "--dask",
                "use_dask",
                is_flag=True,
                help="run on a local Dask distributed cluster of --workers processes",
            ),
            click.option(
                "--scheduler",
                metavar="ADDR",
                help="run on the Dask cluster at this scheduler address (tcp://host:8786)",
            ),
            click.option("--no-progress", is_flag=True, help="no progress bar on stderr"),
        ]
    ):
        f = opt(f)
    return f


def _executor(workers: int, use_dask: bool, scheduler: str | None) -> Any:
    from radhub.radiomics import make_executor

    try:
        return make_executor(workers, scheduler, dask=use_dask)
    except RadiomicsError as exc:
        raise InputError(str(exc)) from exc


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.ERROR)


@click.group()
def radiomics() -> None:
    """Radiomics: ROIs to features to cross-validated models (pyradiomics + FAE-style search)."""
    _configure_logging()


@radiomics.command()
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="CSV with columns image,mask[,label,id,group,spacing,mask_label,segment]",
)
@click.option(
    "--params",
    "params_source",
    required=True,
    help="pyradiomics parameter YAML, or a preset name (mammography_2d, ct_3d)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="feature table: .csv or .parquet",
)
@click.option(
    "--spacing",
    type=float,
    multiple=True,
    help="pixel spacing (mm) for PNG/PGM images without a spacing column; give once or twice (x, y)",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="radhub data directory, for archive:<SeriesInstanceUID> images",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="radhub settings file, for archive: images",
)
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def extract(
    manifest: Path,
    params_source: str,
    out: Path,
    spacing: tuple[float, ...],
    data_dir: Path | None,
    config_file: Path | None,
    workers: int,
    use_dask: bool,
    scheduler: str | None,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Extract pyradiomics features, one row per ROI (failures are rows, not aborts)."""
    from radhub.radiomics import extract_features, load_params, read_manifest, write_table

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--out must end in .csv or .parquet, got {out.name!r}")
    try:
        specs = read_manifest(manifest, spacing=spacing or None)
        params = load_params(params_source)
    except RadiomicsError as exc:
        raise InputError(str(exc)) from exc
    settings = None
    if any(s.image.startswith("archive:") or s.mask.startswith("archive:") for s in specs):
        from radhub.config import load_settings

        try:
            settings = load_settings(config_file=config_file, data_dir=data_dir)
        except (ValueError, OSError) as exc:
            raise InputError(f"invalid configuration: {exc}") from exc
    with _executor(workers, use_dask, scheduler) as ex:
        try:
            result = extract_features(
                specs, params, executor=ex, settings=settings, progress=not no_progress
            )
        except RadiomicsError as exc:
            raise InputError(str(exc)) from exc
    write_table(result.table, out)
    for ident, err in result.failures:
        click.echo(f"failed: {ident}: {err}", err=True)
    payload = {**result.to_dict(), "out": str(out), "param_hash": params.sha256}
    _emit(
        payload,
        as_json,
        f"{result.n_ok}/{len(result.table)} ROIs extracted ({len(result.feature_columns)} features, "
        f"{len(result.failures)} failed) in {result.seconds:.1f} s -> {out}",
    )
    if result.n_ok == 0:
        raise WorkFailed("every ROI failed; see the errors above")


def _feature_matrix(
    table: pd.DataFrame, label: str, id_col: str | None, group: str | None
) -> tuple[pd.DataFrame, list[str], int]:
    from radhub.radiomics import PROVENANCE_COLUMNS

    for col, what in ((label, "--label"), (id_col, "--id"), (group, "--group")):
        if col is not None and col not in table.columns:
            raise InputError(
                f"{what} column {col!r} is not in the table; columns include {list(table.columns)[:12]}"
            )
    dropped = 0
    if "status" in table.columns:
        dropped = int((table["status"] != "ok").sum())
        table = table[table["status"] == "ok"]
    table = table[table[label].notna()].reset_index(drop=True)
    skip = set(PROVENANCE_COLUMNS) | {label, id_col, group}
    features = [
        c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
    ]
    if not features:
        raise InputError("the table has no numeric feature columns")
    return table, features, dropped


def _positive(values: pd.Series, positive: str | None) -> tuple[np.ndarray, tuple[str, str]]:
    labels = sorted({str(v) for v in values})
    if len(labels) != 2:
        raise InputError(f"the label column must have exactly 2 classes, found {labels[:10]}")
    if positive is None:
        known = [
            v
            for v in labels
            if v.lower() in ("1", "1.0", "true", "m", "malignant", "positive", "yes")
        ]
        if len(known) != 1:
            raise InputError(f"cannot tell the positive class among {labels}; pass --positive")
        positive = known[0]
    if positive not in labels:
        raise InputError(f"--positive {positive!r} is not one of the labels {labels}")
    negative = next(v for v in labels if v != positive)
    return (values.astype(str) == positive).to_numpy(int), (negative, positive)


@radiomics.command()
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", required=True, help="label column")
@click.option("--id", "id_col", help="row id column (default: 'id' if present)")
@click.option(
    "--group",
    help="grouping column (patient/image): a group never spans train and test or two folds",
)
@click.option(
    "--positive", help="label value of the positive class (default: 1/M/malignant/positive/yes)"
)
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.3,
    show_default=True,
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["quick", "default", "full"]),
    default="default",
    show_default=True,
    help="search grid",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="output directory",
)
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def search(
    table_path: Path,
    label: str,
    id_col: str | None,
    group: str | None,
    positive: str | None,
    test_size: float,
    seed: int,
    preset: str,
    out: Path,
    workers: int,
    use_dask: bool,
    scheduler: str | None,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Model search: split, cross-validate the grid on train, refit, test once."""
    from radhub.radiomics import SEARCH_PRESETS, read_table, run_search, write_search_outputs

    try:
        table = read_table(table_path)
    except RadiomicsError as exc:
        raise InputError(str(exc)) from exc
    if id_col is None and "id" in table.columns:
        id_col = "id"
    table, features, dropped = _feature_matrix(table, label, id_col, group)
    y, labels = _positive(table[label], positive)
    ids = table[id_col].astype(str).tolist() if id_col else [str(i) for i in range(len(table))]
    with _executor(workers, use_dask, scheduler) as ex:
        try:
            result = run_search(
                table[features].to_numpy(float),
                y,
                groups=table[group].astype(str).to_numpy() if group else None,
                feature_names=features,
                ids=ids,
                labels=labels,
                test_size=test_size,
                seed=seed,
                space=SEARCH_PRESETS[preset],
                executor=ex,
                progress=not no_progress,
            )
        except RadiomicsError as exc:
            raise InputError(str(exc)) from exc
    param_hash = str(table["param_hash"].iloc[0]) if "param_hash" in table.columns else None
    metrics = write_search_outputs(
        result,
        out,
        data_info={
            "table": table_path.name,
            "label_column": label,
            "split": f"stratified hold-out {test_size}"
            + (f", grouped by {group}" if group else ""),
            "param_hash": param_hash,
        },
        extra_metrics={"rows_dropped_failed": dropped, "preset": preset},
        name=f"{label} classifier",
    )
    payload = _clean_nan({**metrics, "out": str(out)})
    lo, hi = result.test_roc.auc_ci
    _emit(
        payload,
        as_json,
        f"best: {result.best} (CV AUC {result.cv.cv_auc:.3f}); test AUC {result.test_roc.auc:.3f} "
        f"({lo:.3f} to {hi:.3f}); cutoff {result.cutoff:.4f}; ACC {result.test_accuracy.accuracy:.2f} "
        f"SEN {result.test_accuracy.sensitivity:.2f} SPE {result.test_accuracy.specificity:.2f} -> {out}",
    )


@radiomics.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="model directory written by search",
)
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id", "id_col", default="id", show_default=True, help="row id column")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="write predictions CSV here"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def predict(
    model_dir: Path, table_path: Path, id_col: str, out: Path | None, as_json: bool
) -> None:
    """Rad-score and class for each ROI of a feature table."""
    from radhub.radiomics import RadiomicsModel, read_table

    try:
        model = RadiomicsModel.load(model_dir)
        table = read_table(table_path)
        pred = model.predict(table, id_column=id_col)
    except RadiomicsError as exc:
        raise InputError(str(exc)) from exc
    if out:
        pred.to_csv(out, index=False, float_format="%.6g")
    records = [
        {
            "id": r.id,
            "rad_score": None if not np.isfinite(r.rad_score) else float(r.rad_score),
            "predicted": r.predicted or None,
        }
        for r in pred.itertuples()
    ]
    payload = {
        "model": str(model_dir),
        "cutoff": model.cutoff,
        "positive_label": model.labels[1],
        "n": len(records),
        "predictions": records,
    }
    text = pred.to_csv(index=False, float_format="%.6g").rstrip("\n")
    _emit(payload, as_json, text)


@radiomics.command()
@click.option(
    "--rule",
    "rule_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="rule YAML",
)
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", help="label column: also report accuracy of the rule against it")
@click.option("--positive", help="label value of the positive class")
@click.option("--id", "id_col", default="id", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="write the scored rows as CSV"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def score(
    rule_path: Path,
    table_path: Path,
    label: str | None,
    positive: str | None,
    id_col: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Apply a points rule (feature, direction, threshold, points; cutoff on the sum)."""
    from radhub.radiomics import apply_rule, load_rule, read_table
    from radhub.stats import StatsError, accuracy_from_labels, roc_auc

    try:
        rule = load_rule(rule_path)
        table = read_table(table_path)
        scored = apply_rule(rule, table, id_column=id_col)
    except RadiomicsError as exc:
        raise InputError(str(exc)) from exc
    if out:
        scored.to_csv(out, index=False)
    payload: dict[str, Any] = {
        "rule": rule.to_dict(),
        "n": len(scored),
        "n_scored": int(scored["positive"].notna().sum()),
        "n_positive": int((scored["positive"] == True).sum()),
    }
    if label:
        if label not in table.columns:
            raise InputError(f"--label column {label!r} is not in the table")
        ok = scored["positive"].notna().to_numpy() & table[label].notna().to_numpy()
        y, _ = _positive(table.loc[ok, label], positive)
        calls = scored.loc[ok, "positive"].astype(bool).to_numpy(int)
        try:
            payload["accuracy"] = _clean_nan(accuracy_from_labels(y, calls).to_dict())
            payload["auc_of_total"] = _clean_nan(
                roc_auc(y, scored.loc[ok, "total"].to_numpy(float)).to_dict()
            )
        except StatsError as exc:
            raise InputError(f"cannot compute accuracy: {exc}") from exc
        payload["auc_of_total"].pop("curve", None)
    text = scored.to_csv(index=False).rstrip("\n")
    if "accuracy" in payload:
        a = payload["accuracy"]
        text += f"\naccuracy {a['accuracy']:.3f}, sensitivity {a['sensitivity']:.3f}, specificity {a['specificity']:.3f}"
    _emit(payload, as_json, text)


@radiomics.command()
@click.argument("table_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--truth", required=True, help="reference label column")
@click.option("--positive", help="label value of the positive class")
@click.option(
    "--model", "model_col", help="column of the model's class calls (same labels as --truth)"
)
@click.option("--reader", "reader_col", help="column of reader categories (e.g. BI-RADS)")
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML mapping of reader categories to 0/1 (default BI-RADS 2-4a benign, 4b-5 malignant)",
)
@click.option("--score-a", help="first score column, for DeLong's test")
@click.option("--score-b", help="second score column, for DeLong's test")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def compare(
    table_path: Path,
    truth: str,
    positive: str | None,
    model_col: str | None,
    reader_col: str | None,
    mapping: Path | None,
    score_a: str | None,
    score_b: str | None,
    as_json: bool,
) -> None:
    """McNemar between model and reader calls; DeLong between two score columns."""
    from radhub.radiomics import compare_models, compare_with_reader, dichotomise, load_mapping
    from radhub.stats import StatsError

    if not (model_col and reader_col) and not (score_a and score_b):
        raise InputError(
            "give --model and --reader (McNemar), or --score-a and --score-b (DeLong), or both"
        )
    table = pd.read_csv(table_path, dtype=str) if table_path.is_file() else None
    if table is None:
        raise InputError(f"table {str(table_path)!r} does not exist")
    for col in (truth, model_col, reader_col, score_a, score_b):
        if col and col not in table.columns:
            raise InputError(f"column {col!r} is not in the table; it has {list(table.columns)}")
    y, labels = _positive(table[truth], positive)
    payload: dict[str, Any] = {"n": len(table), "positive_label": labels[1]}
    lines = []
    try:
        if model_col and reader_col:
            m = load_mapping(mapping) if mapping else None
            model_calls = (table[model_col].astype(str) == labels[1]).to_numpy(int)
            reader_calls = dichotomise(table[reader_col].tolist(), m)
            cmp = compare_with_reader(y, model_calls, reader_calls)
            payload["reader_comparison"] = _clean_nan(cmp.to_dict())
            lines.append(cmp.summary())
        if score_a and score_b:
            d = compare_models(y, table[score_a].astype(float), table[score_b].astype(float))
            payload["delong"] = _clean_nan(d.to_dict())
            lines.append(d.summary())
    except (RadiomicsError, StatsError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    _emit(payload, as_json, "\n\n".join(lines))


@radiomics.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="mini-MIAS folder (Info.txt + mdbNNN.png)",
)
@click.option("--task", type=click.Choice(["calcification", "mass"]), required=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="output directory",
)
@click.option(
    "--preset",
    type=click.Choice(["quick", "default", "full"]),
    default="default",
    show_default=True,
    help="search grid",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--include-arch-asym",
    is_flag=True,
    help="add architectural distortion and asymmetry rows to the mass task",
)
@_executor_options
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def mias(
    root: Path,
    task: str,
    out: Path,
    preset: str,
    seed: int,
    include_arch_asym: bool,
    workers: int,
    use_dask: bool,
    scheduler: str | None,
    no_progress: bool,
    as_json: bool,
) -> None:
    """Replicate seed 000 on mini-MIAS: circle ROIs, 2D features, grouped 7:3 split, search, report."""
    from radhub.radiomics import run_mias

    with _executor(workers, use_dask, scheduler) as ex:
        try:
            res = run_mias(
                root,
                task,
                out,
                space=preset,
                seed=seed,
                executor=ex,  # type: ignore[arg-type]
                include_arch_asym=include_arch_asym,
                progress=not no_progress,
            )
        except RadiomicsError as exc:
            raise InputError(str(exc)) from exc
    m = res.metrics
    lo, hi = m["test_auc_ci"]
    _emit(
        _clean_nan({**m, "out": str(out), "report": str(out / "report.html")}),
        as_json,
        f"{task}: train {m['n_train_by_class']}, test {m['n_test_by_class']}; best {m['best_pipeline']}; "
        f"test AUC {m['test_auc']:.3f} ({lo:.3f} to {hi:.3f}) vs published {m['published']['auc']:.2f}; "
        f"cutoff {m['cutoff']:.3f}; ACC {m['test_accuracy']:.2f} SEN {m['test_sensitivity']:.2f} "
        f"SPE {m['test_specificity']:.2f} -> {out / 'report.html'}",
    )
