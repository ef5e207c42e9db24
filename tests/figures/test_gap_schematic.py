"""Fig 3 schematic: three panels drawn from explicit quadratics."""

from __future__ import annotations

import numpy as np
import pytest

from hptransfer.figures import gap_schematic as fig03


def test_draws_three_panels_with_all_curves(tmp_path):
    fig = fig03.draw({}, {})
    axes = fig.get_axes()
    assert len(axes) == 3
    titles = [ax.get_title() for ax in axes]
    assert [t[:3] for t in titles] == ["(a)", "(b)", "(c)"]
    n_widths = len(fig03.DEFAULT_SETTINGS["widths"])
    for ax in axes:
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
        assert len(curves) == n_widths + 1  # φ_n for each width plus φ_∞
        assert curves[-1].get_linestyle() == "-." and curves[-1].get_label() == "n = ∞"
    assert "transfer gap" in titles[2]
    for ax, gap in zip(axes, ("a_n", "b_n", "c_n")):
        assert any(gap in t.get_text() for t in ax.texts)  # each panel labels its gap
    assert [t.get_text() for t in fig.legends[0].get_texts()][-1] == "n = ∞"
    out = tmp_path / "fig03.png"
    fig.savefig(out, dpi=60)
    assert out.stat().st_size > 5_000


def test_schematic_gaps_follow_the_rates():
    settings = {**fig03.DEFAULT_SETTINGS, "widths": [1, 4, 16, 64], "alpha": 1.0, "beta": 0.5}
    curves, limit = fig03.schematic_curves(settings)
    ns = np.array(settings["widths"], float)
    a = np.array([curves[n].minimum - limit.minimum for n in settings["widths"]])
    b = np.array([abs(curves[n].minimiser - limit.minimiser) for n in settings["widths"]])
    c = np.array([limit(curves[n].minimiser) - limit.minimum for n in settings["widths"]])
    assert np.polyfit(np.log(ns), np.log(a), 1)[0] == pytest.approx(-1.0)
    assert np.polyfit(np.log(ns), np.log(b), 1)[0] == pytest.approx(-0.5)
    assert np.polyfit(np.log(ns), np.log(c), 1)[0] == pytest.approx(-1.0)  # c = Θ(b²)


def test_rejects_annotating_a_missing_width():
    with pytest.raises(ValueError, match="annotate_width"):
        fig03.draw({}, {"widths": [2, 4], "annotate_width": 1})
