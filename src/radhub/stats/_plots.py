"""Figures (matplotlib, Agg backend): ROC, forecast, category distributions.

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state); :func:`save_figure` writes PNG or SVG by suffix.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from radhub.stats._distribution import DistributionResult
from radhub.stats._forecast import ForecastResult
from radhub.stats._roc import RocResult, roc_auc, roc_band
from radhub.stats.errors import InvalidInputError

__all__ = ["figure_bytes", "plot_distribution", "plot_forecast", "plot_roc", "save_figure"]

FORMATS = {".png": "png", ".svg": "svg"}


def _figure(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_roc(
    y_true: ArrayLike,
    score: ArrayLike,
    *,
    positive: Any = 1,
    result: RocResult | None = None,
    band: bool = True,
    n_boot: int = 500,
    seed: int | None = 0,
    title: str | None = None,
) -> Figure:
    """ROC curve with a pointwise bootstrap band and the Youden cutoff marked."""
    r = result if result is not None else roc_auc(y_true, score, positive=positive)
    fig, ax = _figure()
    if band:
        b = roc_band(y_true, score, positive=positive, alpha=r.alpha, n_boot=n_boot, seed=seed)
        ax.fill_between(
            b.fpr,
            b.tpr_low,
            b.tpr_high,
            color="tab:blue",
            alpha=0.2,
            step=None,
            label=f"{100 * (1 - r.alpha):g}% bootstrap band",
        )
    ax.plot(
        r.curve.fpr,
        r.curve.tpr,
        color="tab:blue",
        lw=2,
        label=f"AUC {r.auc:.3f} ({r.auc_ci[0]:.3f} to {r.auc_ci[1]:.3f}, {r.ci_method})",
    )
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.plot(
        [1 - r.specificity],
        [r.sensitivity],
        "o",
        color="tab:red",
        label=f"Youden cutoff {r.cutoff:.4g} (Se {r.sensitivity:.2f}, Sp {r.specificity:.2f})",
    )
    ax.set(
        xlabel="1 - specificity",
        ylabel="Sensitivity",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=title or "ROC curve",
        aspect="equal",
    )
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_forecast(result: ForecastResult, *, title: str | None = None) -> Figure:
    """Observed cumulative series, hold-out predictions of the best model, and the forecast PI."""
    fig, ax = _figure(8.0, 4.5)
    obs = result.observed
    ax.plot(obs["date"], obs["cumulative"], color="black", lw=1.5, label="observed")
    ax.plot(
        result.holdout["date"],
        result.holdout["predicted"],
        color="tab:orange",
        lw=2,
        ls="--",
        label=f"hold-out prediction ({result.holdout_days} days)",
    )
    ax.axvline(result.train_end, color="grey", ls=":", lw=1)
    f = result.forecast
    ax.plot(f["date"], f["mean"], color="tab:red", lw=2, label=f"forecast: {result.best}")
    ax.fill_between(
        f["date"],
        f["lower"],
        f["upper"],
        color="tab:red",
        alpha=0.2,
        label=f"{100 * (1 - result.alpha):g}% prediction interval",
    )
    if result.at is not None:
        ax.plot(
            [result.at.date],
            [result.at.cumulative_cases],
            "o",
            color="tab:blue",
            label=f"{result.at.date}: {result.at.cumulative_cases:,.0f}",
        )
    ax.set(xlabel="date", ylabel="cumulative cases", title=title or "Forecast of cumulative cases")
    ax.legend(loc="upper left", fontsize="small")
    fig.autofmt_xdate()
    return fig


def plot_distribution(result: DistributionResult, *, title: str | None = None) -> Figure:
    """Grouped bars of each category's share per group (e.g. without AI vs with each service)."""
    fig, ax = _figure(max(6.0, 1.2 * len(result.categories) + 2), 4.5)
    k = len(result.groups)
    width = 0.8 / k
    x = np.arange(len(result.categories))
    order = list(range(k))
    if result.control is not None:
        j0 = result.groups.index(result.control)
        order = [j0] + [j for j in order if j != j0]
    for pos, j in enumerate(order):
        ax.bar(
            x + (pos - (k - 1) / 2) * width,
            100 * result.shares[:, j],
            width,
            label=result.groups[j] + (" (control)" if result.groups[j] == result.control else ""),
            edgecolor="black" if result.groups[j] == result.control else None,
        )
    ax.set_xticks(x, result.categories)
    ax.set(
        ylabel="share of group, %",
        title=title or f"Category distribution (chi-square p = {result.p_value:.3g})",
    )
    ax.legend(fontsize="small")
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG or SVG according to the file suffix."""
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"plot file must end in .png or .svg, got {p.name!r}")
    fig.savefig(p, format=fmt, dpi=120)
    return p


def figure_bytes(fig: Figure, fmt: str = "svg") -> bytes:
    """The figure encoded as ``"png"`` or ``"svg"`` bytes (for HTML reports)."""
    if fmt not in ("png", "svg"):
        raise InvalidInputError(f"fmt must be 'png' or 'svg', got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()
