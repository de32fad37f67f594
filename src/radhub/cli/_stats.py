"""``radhub stats ...``: command-line adapters over :mod:`radhub.stats`.

Each command reads its input, calls one library function and prints the
result's ``summary()`` table, or exactly one JSON object with ``--json``.
``--html FILE`` also writes a self-contained report; ``radhub stats report
<command> ... --html FILE`` is the same command with the report required.
Bad input exits with code 2, a model that cannot be fitted with 1.
"""

from __future__ import annotations

import csv
import functools
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from radhub import stats as st
from radhub.stats.errors import InvalidInputError, StatsError

__all__ = ["stats"]

F = TypeVar("F", bound=Callable[..., Any])


class StatsInputError(click.ClickException):
    """Bad input reported by the statistics library (exit code 2)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def _library_errors(fn: F) -> F:
    """Convert library errors: bad input -> exit 2, a failed fit -> exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InvalidInputError as exc:
            raise StatsInputError(str(exc)) from exc
        except StatsError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _read_csv(path: str, columns: Sequence[str]) -> dict[str, list[str]]:
    """The named columns of a CSV file as lists of stripped strings (no empty cells)."""
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise click.BadParameter(
                f"column(s) {missing} not in {Path(path).name}; columns are {header}",
                param_hint="column",
            )
        out: dict[str, list[str]] = {c: [] for c in columns}
        for row in reader:
            for c in columns:
                out[c].append((row.get(c) or "").strip())
    for c, values in out.items():
        empty = sum(1 for v in values if v == "")
        if empty:
            raise StatsInputError(
                f"column {c!r} has {empty} empty cell(s); remove those rows or fill them"
            )
    return out


def _floats(column: str, values: Sequence[str]) -> list[float]:
    out = []
    for i, v in enumerate(values, start=2):
        try:
            out.append(float(v))
        except ValueError as exc:
            raise StatsInputError(f"column {column!r}, line {i}: {v!r} is not a number") from exc
    return out


def _default_positive(column: str, labels: Sequence[str]) -> str:
    """``1`` when the labels are 0/1 (or true/false); otherwise ask for --positive."""
    seen = {v.lower() for v in labels}
    if seen <= {"0", "1", "0.0", "1.0"}:
        return "1"
    if seen <= {"true", "false"}:
        return "true" if "true" in {v for v in labels} else "True"
    raise click.BadParameter(
        f"labels in {column!r} are not 0/1 ({sorted(seen)[:6]}); "
        "name the condition-present label with --positive",
        param_hint="--positive",
    )


def _emit(
    result: Any,
    as_json: bool,
    html_path: str | None,
    figures: Callable[[], list[Any]] | None = None,
    title: str = "radhub statistics",
) -> None:
    """Print the table or one JSON object; write the HTML report when asked."""
    if html_path:
        figs = figures() if figures else []
        st.write_html_report(
            html_path, title, [result], figs, command=shlex.join(["radhub", *sys.argv[1:]])
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), allow_nan=False))
    else:
        click.echo(result.summary())
        if html_path:
            click.echo(f"\nReport written to {html_path}", err=True)


def _json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(fn)


def _alpha_option(fn: F) -> F:
    return click.option(
        "--alpha", type=float, default=0.05, show_default=True, help="1 - confidence level."
    )(fn)


def _plot_option(fn: F) -> F:
    return click.option(
        "--plot",
        "plot_path",
        type=click.Path(dir_okay=False),
        help="Write a figure (.png or .svg).",
    )(fn)


def _build(report: bool) -> list[click.Command]:
    """The stats commands; in report mode ``--html`` is required."""

    def html_option(fn: F) -> F:
        return click.option(
            "--html",
            "html_path",
            type=click.Path(dir_okay=False),
            required=report,
            help="Write a self-contained HTML report with tables and plots.",
        )(fn)

    csv_file = click.argument("file", type=click.Path(exists=True, dir_okay=False))

    @click.command("accuracy")
    @click.option("--tp", type=int, required=True, help="True positives.")
    @click.option("--fp", type=int, required=True, help="False positives.")
    @click.option("--fn", type=int, required=True, help="False negatives.")
    @click.option("--tn", type=int, required=True, help="True negatives.")
    @click.option("--prevalence", type=float, help="Recompute PPV/NPV at this prevalence (0-1).")
    @click.option(
        "--ci-method",
        type=click.Choice(["wilson", "clopper-pearson", "bootstrap"]),
        default="wilson",
        show_default=True,
    )
    @click.option("--n-boot", type=int, default=2000, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
    @_alpha_option
    @_json_option
    @html_option
    @_library_errors
    def accuracy_cmd(
        tp: int,
        fp: int,
        fn: int,
        tn: int,
        prevalence: float | None,
        ci_method: str,
        n_boot: int,
        seed: int,
        alpha: float,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Accuracy of a 2x2 table: Se, Sp, PPV, NPV, LR+, LR-, DOR, Youden J with CIs."""
        result = st.accuracy(
            tp,
            fp,
            fn,
            tn,
            ci_method=ci_method,
            prevalence=prevalence,
            alpha=alpha,
            seed=seed,
            n_boot=n_boot,
        )
        _emit(result, as_json, html_path, title="Diagnostic accuracy (2x2)")

    @click.command("roc")
    @csv_file
    @click.option("--label", required=True, help="Column of reference labels.")
    @click.option("--score", required=True, help="Column of scores (higher = positive).")
    @click.option("--positive", help="Label of the positive class (default 1 for 0/1 labels).")
    @click.option(
        "--ci-method",
        type=click.Choice(["delong", "bootstrap"]),
        default="delong",
        show_default=True,
    )
    @click.option("--logit", is_flag=True, help="DeLong interval on the logit scale.")
    @click.option("--n-boot", type=int, default=2000, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @_alpha_option
    @_plot_option
    @_json_option
    @html_option
    @_library_errors
    def roc_cmd(
        file: str,
        label: str,
        score: str,
        positive: str | None,
        ci_method: str,
        logit: bool,
        n_boot: int,
        seed: int,
        alpha: float,
        plot_path: str | None,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """ROC curve, AUC with CI and the Youden-optimal cutoff."""
        data = _read_csv(file, [label, score])
        labels, scores = data[label], _floats(score, data[score])
        pos = positive if positive is not None else _default_positive(label, labels)
        result = st.roc_auc(
            labels,
            scores,
            positive=pos,
            ci_method=ci_method,
            alpha=alpha,
            n_boot=n_boot,
            seed=seed,
            logit=logit,
        )

        def figures() -> list[Any]:
            return [st.plot_roc(labels, scores, positive=pos, result=result, seed=seed)]

        if plot_path:
            st.save_figure(figures()[0], plot_path)
        _emit(result, as_json, html_path, figures, title=f"ROC: {score} vs {label}")

    @click.command("compare-roc")
    @csv_file
    @click.option("--label", required=True, help="Column of reference labels.")
    @click.option("--score", "scores", multiple=True, required=True, help="Two score columns.")
    @click.option("--positive", help="Label of the positive class.")
    @_alpha_option
    @_json_option
    @html_option
    @_library_errors
    def compare_roc_cmd(
        file: str,
        label: str,
        scores: tuple[str, ...],
        positive: str | None,
        alpha: float,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """DeLong's test of two correlated AUCs (two scores on the same cases)."""
        if len(scores) != 2:
            raise click.BadParameter(
                f"give exactly two --score columns, got {len(scores)}", param_hint="--score"
            )
        data = _read_csv(file, [label, *scores])
        pos = positive if positive is not None else _default_positive(label, data[label])
        a, b = (_floats(s, data[s]) for s in scores)
        result = st.delong_test(data[label], a, b, positive=pos, alpha=alpha)

        def figures() -> list[Any]:
            return [
                st.plot_roc(data[label], s, positive=pos, band=False, title=f"ROC: {name}")
                for name, s in zip(scores, (a, b))
            ]

        _emit(result, as_json, html_path, figures, title=f"DeLong: {scores[0]} vs {scores[1]}")

    @click.command("mcnemar")
    @csv_file
    @click.option("--truth", help="Column of reference labels (omit to compare the calls).")
    @click.option("--a", "col_a", required=True, help="Column of reader/model A's calls.")
    @click.option("--b", "col_b", required=True, help="Column of reader/model B's calls.")
    @click.option(
        "--method",
        type=click.Choice(["auto", "exact", "chi2", "chi2-cc"]),
        default="auto",
        show_default=True,
    )
    @click.option("--positive", help="Positive label when --truth is omitted (default 1).")
    @_json_option
    @html_option
    @_library_errors
    def mcnemar_cmd(
        file: str,
        truth: str | None,
        col_a: str,
        col_b: str,
        method: str,
        positive: str | None,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """McNemar's test of two readers on the same cases."""
        cols = [col_a, col_b] + ([truth] if truth else [])
        data = _read_csv(file, cols)
        result = st.mcnemar(
            data[truth] if truth else None,
            data[col_a],
            data[col_b],
            method=method,
            positive=positive if positive is not None else "1",
        )
        _emit(result, as_json, html_path, title=f"McNemar: {col_a} vs {col_b}")

    @click.command("kappa")
    @csv_file
    @click.option("--rater", "raters", multiple=True, required=True, help="Rater columns (2+).")
    @click.option(
        "--weights",
        type=click.Choice(["none", "linear", "quadratic"]),
        default="none",
        show_default=True,
        help="Weights for ordinal categories (two raters only).",
    )
    @click.option("--categories", help="Comma-separated category order (for weighted kappa).")
    @_alpha_option
    @click.option("--seed", type=int, default=0, show_default=True, help="Fleiss bootstrap seed.")
    @_json_option
    @html_option
    @_library_errors
    def kappa_cmd(
        file: str,
        raters: tuple[str, ...],
        weights: str,
        categories: str | None,
        alpha: float,
        seed: int,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Cohen's kappa for two raters, Fleiss' kappa for three or more."""
        if len(raters) < 2:
            raise click.BadParameter("give at least two --rater columns", param_hint="--rater")
        data = _read_csv(file, list(raters))
        cats = [c.strip() for c in categories.split(",")] if categories else None
        result: Any
        if len(raters) == 2:
            w = None if weights == "none" else weights
            result = st.cohen_kappa(
                data[raters[0]], data[raters[1]], w, categories=cats, alpha=alpha
            )
        else:
            if weights != "none":
                raise click.BadParameter(
                    "weights apply to two raters only (Fleiss' kappa is unweighted)",
                    param_hint="--weights",
                )
            rows = list(zip(*(data[r] for r in raters)))
            table, found = st.rating_counts(rows)
            result = st.fleiss_kappa(table, categories=found, alpha=alpha, seed=seed)
        _emit(result, as_json, html_path, title="Inter-rater agreement")

    @click.command("icc")
    @csv_file
    @click.option("--rater", "raters", multiple=True, required=True, help="Rater/repeat columns.")
    @click.option("--form", help="One form, e.g. 'ICC(3,1)' (default: all six).")
    @_alpha_option
    @_json_option
    @html_option
    @_library_errors
    def icc_cmd(
        file: str,
        raters: tuple[str, ...],
        form: str | None,
        alpha: float,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Intraclass correlation (Shrout-Fleiss forms) of targets (rows) x raters (columns)."""
        if len(raters) < 2:
            raise click.BadParameter("give at least two --rater columns", param_hint="--rater")
        data = _read_csv(file, list(raters))
        matrix = list(zip(*(_floats(r, data[r]) for r in raters)))
        result = st.icc(matrix, form, alpha=alpha) if form else st.icc_all(matrix, alpha=alpha)
        _emit(result, as_json, html_path, title="Intraclass correlation")

    @click.command("chi2")
    @csv_file
    @click.option("--control", help="Control column (e.g. the group without AI).")
    @_plot_option
    @_json_option
    @html_option
    @_library_errors
    def chi2_cmd(
        file: str,
        control: str | None,
        plot_path: str | None,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Pearson chi-square of categories (rows) x groups (columns); first column names rows."""
        with Path(file).open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
        if len(rows) < 3 or len(rows[0]) < 3:
            raise StatsInputError(
                "the table needs a header and at least 2 categories x 2 groups "
                "(first column: category names)"
            )
        groups = [g.strip() for g in rows[0][1:]]
        categories = [r[0].strip() for r in rows[1:]]
        counts = []
        for i, r in enumerate(rows[1:], start=2):
            if len(r) != len(rows[0]):
                raise StatsInputError(f"line {i} has {len(r)} cells, the header {len(rows[0])}")
            counts.append(_floats(f"line {i}", r[1:]))
        result = st.chi2_distribution(counts, control, categories=categories, groups=groups)

        def figures() -> list[Any]:
            return [st.plot_distribution(result)]

        if plot_path:
            st.save_figure(figures()[0], plot_path)
        _emit(result, as_json, html_path, figures, title="Category distribution by group")

    @click.command("staging")
    @csv_file
    @click.option("--threshold", required=True, help="Threshold category, e.g. CT-3.")
    @click.option("--prevalence", type=float, help="Prevalence for PPV/NPV (0-1), e.g. 0.096.")
    @click.option(
        "--ci-method",
        type=click.Choice(["wilson", "clopper-pearson", "bootstrap"]),
        default="wilson",
        show_default=True,
    )
    @_alpha_option
    @_json_option
    @html_option
    @_library_errors
    def staging_cmd(
        file: str,
        threshold: str,
        prevalence: float | None,
        ci_method: str,
        alpha: float,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Staging accuracy from serial exams (FILE: stage,from,to,count)."""
        table = st.StagingTable.from_csv(file)
        result = st.staging_accuracy(
            table, threshold, prevalence=prevalence, ci_method=ci_method, alpha=alpha, seed=0
        )
        _emit(result, as_json, html_path, title=f"Staging accuracy at threshold {threshold}")

    @click.command("forecast")
    @csv_file
    @click.option("--date", "date_col", required=True, help="Date column (YYYY-MM-DD).")
    @click.option("--value", "value_col", required=True, help="Case count column.")
    @click.option("--cumulative", is_flag=True, help="Values are cumulative (else daily new).")
    @click.option("--holdout-days", type=int, required=True, help="Days held out for scoring.")
    @click.option("--horizon", type=int, required=True, help="Days to forecast.")
    @click.option("--population", type=int, help="Population for the point prevalence.")
    @click.option("--at", "at_date", help="Date for cumulative cases / prevalence (YYYY-MM-DD).")
    @click.option("--start", help="Use data from this date on.")
    @click.option("--end", help="Use data up to this date.")
    @click.option(
        "--arima-order",
        "orders",
        multiple=True,
        help="ARIMA candidate 'p,d,q' (repeatable; default grid p,q 0-2, d 1-2).",
    )
    @click.option("--no-ets", is_flag=True, help="Leave out the ETS candidates.")
    @click.option(
        "--criterion", type=click.Choice(["mase", "mape"]), default="mase", show_default=True
    )
    @_alpha_option
    @_plot_option
    @_json_option
    @html_option
    @_library_errors
    def forecast_cmd(
        file: str,
        date_col: str,
        value_col: str,
        cumulative: bool,
        holdout_days: int,
        horizon: int,
        population: int | None,
        at_date: str | None,
        start: str | None,
        end: str | None,
        orders: tuple[str, ...],
        no_ets: bool,
        criterion: str,
        alpha: float,
        plot_path: str | None,
        as_json: bool,
        html_path: str | None,
    ) -> None:
        """Choose ARIMA/ETS on a hold-out, forecast cumulative cases and point prevalence."""
        data = _read_csv(file, [date_col, value_col])
        dates, values = data[date_col], _floats(value_col, data[value_col])
        keep = [
            i
            for i, d in enumerate(dates)
            if (start is None or d >= start) and (end is None or d <= end)
        ]
        if not keep:
            raise StatsInputError(f"no rows between --start {start} and --end {end}")
        arima = None
        if orders:
            arima = []
            for o in orders:
                try:
                    p, d, q = (int(x) for x in o.split(","))
                except ValueError as exc:
                    raise click.BadParameter(
                        f"{o!r} is not 'p,d,q'", param_hint="--arima-order"
                    ) from exc
                arima.append((p, d, q))
        result = st.forecast_prevalence(
            [dates[i] for i in keep],
            [values[i] for i in keep],
            cumulative=cumulative,
            holdout_days=holdout_days,
            horizon=horizon,
            population=population,
            at=at_date,
            arima_orders=arima,
            ets_specs=() if no_ets else None,
            auto_ets=not no_ets,
            criterion=criterion,
            alpha=alpha,
        )

        def figures() -> list[Any]:
            return [st.plot_forecast(result)]

        if plot_path:
            st.save_figure(figures()[0], plot_path)
        _emit(result, as_json, html_path, figures, title="Prevalence forecast")

    return [
        accuracy_cmd,
        roc_cmd,
        compare_roc_cmd,
        mcnemar_cmd,
        kappa_cmd,
        icc_cmd,
        chi2_cmd,
        staging_cmd,
        forecast_cmd,
    ]


@click.group()
def stats() -> None:
    """Diagnostic-accuracy statistics (radhub.stats); --json for one JSON object."""


@stats.group()
def report() -> None:
    """Any stats command with a required --html FILE: tables and plots in one page."""


for _command in _build(report=False):
    stats.add_command(_command)
for _command in _build(report=True):
    report.add_command(_command)
