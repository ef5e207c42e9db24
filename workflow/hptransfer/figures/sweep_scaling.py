"""A learning-rate (or β) sweep beside the scaling of its optimal loss (paper Fig 6 layout; also
Figs 11, 13, 24, 25, 27, 31): (a) the loss against the swept hyperparameter per width with the
optima, (b) the optimal loss against width, along ν*(n) and along the reference width's optimum,
with the fitted laws.

Settings: ``linearized`` (default false; Fig 13 true): the EMA-linearised final loss as dashed lines
over (a); ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr

from ..analysis.linearization import gap_lines, gap_summary
from .findings import sweep_findings
from .panels import draw_linearized_overlay, draw_scaling_panel, draw_sweep_panel
from .style import new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    linearized = bool(settings.get("linearized", False))
    fig, (ax_a, ax_b) = new_figure(2, settings=settings)
    draw_sweep_panel(ax_a, sweep, transfer)
    if linearized:
        draw_linearized_overlay(ax_a, sweep)
    draw_scaling_panel(ax_b, transfer)
    ax_a.set_title(f"(a) {sweep.attrs['study']}: sweep" + (" (dashed: linearised)" if linearized else ""))
    ax_b.set_title("(b) scaling of the optimal loss")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Optimum movement, edge optima, transfer cost; with ``linearized``, the linearisation gap of
    the dashed curves (report caption)."""
    out = sweep_findings(inputs["transfer"])
    if settings.get("linearized", False):
        gap = gap_summary(inputs["sweep"])
        out += [line.removeprefix("- ") for line in gap_lines(gap)] if gap else ["the sweep has no linearised loss"]
    return out
