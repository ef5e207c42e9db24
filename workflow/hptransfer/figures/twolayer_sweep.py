"""A two-layer study's sweep on one log-log panel (paper Fig 2, = Fig 17a: the k-index model,
paper.md §3.2). Validation MSE (log) against the Adam learning rate (log2) for every width: circles
are seed means (bars: seed std), lines the analysis' spline interpolant (transfer.nc ``loss_curve``),
red stars the optimum per width (hollow on a grid edge). The paper's point: the optimum creeps right
with width, then jumps to a second basin.

Settings: ``ylim`` [lo, hi] (loss axis), ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .findings import bimodality, sweep_findings
from .panels import draw_loglog_sweep_panel, legend, readable_log_axis, star_handles, width_handles
from .style import new_figure, width_colors


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    widths = sweep["width"].values
    colors = width_colors(widths)
    fig, ax = new_figure(1, settings=settings, width_per=5.8, height=3.8)
    edge = draw_loglog_sweep_panel(ax, sweep, transfer, colors)
    if "ylim" in settings:
        ax.set_ylim(*settings["ylim"])
    readable_log_axis(ax, "y")
    ax.set_title(f"{sweep.attrs.get('study', '')}: k-index model, Adam")
    legend(ax, width_handles(widths, colors) + star_handles(edge), outside=True)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Optimum movement, edge optima, transfer cost and two-basin curves (report caption)."""
    return sweep_findings(inputs["transfer"]) + [bimodality(inputs["transfer"])]
