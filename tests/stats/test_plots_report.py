"""Figures (radhub.stats._plots) and HTML reports (_report)."""

from __future__ import annotations

import numpy as np
import pytest

from radhub.stats import (
    accuracy,
    chi2_distribution,
    html_report,
    plot_distribution,
    plot_roc,
    save_figure,
)
from radhub.stats.errors import InvalidInputError


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    return y, rng.normal(y, 1)


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_roc_plot_png_and_svg(tmp_path, scores, suffix, magic) -> None:
    fig = plot_roc(*scores, n_boot=100)
    path = save_figure(fig, tmp_path / f"roc{suffix}")
    assert path.read_bytes().startswith(magic)
    ax = fig.axes[0]
    assert any("Youden cutoff" in t.get_text() for t in ax.get_legend().get_texts())
    assert len(ax.collections) >= 1  # the CI band


def test_distribution_plot_and_bad_suffix(tmp_path) -> None:
    r = chi2_distribution([[50, 40], [30, 45], [20, 15]], "no AI", groups=["no AI", "AI-A"])
    fig = plot_distribution(r)
    assert len(fig.axes[0].patches) == 6
    with pytest.raises(InvalidInputError, match=r"\.png or \.svg"):
        save_figure(fig, tmp_path / "x.jpg")


def test_html_report_is_self_contained(scores) -> None:
    page = html_report("Test <report>", [accuracy(8, 2, 1, 9)], [plot_roc(*scores, band=False)])
    assert "Test &lt;report&gt;" in page
    assert page.count("data:image/png;base64,") == 1
    assert "Sensitivity" in page and "&quot;sensitivity&quot;" in page  # table and JSON
    assert 'src="http' not in page and "<script" not in page and "<link" not in page
