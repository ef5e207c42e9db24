"""Paper Fig 2 (= Fig 17a): the k-index model (paper.md §3.2). Validation MSE (log) against the Adam
learning rate (log2) for every width: circles are seed means (bars: seed std), lines the analysis'
spline interpolant (transfer.nc ``loss_curve``), red stars the optimum per width (hollow on a grid
edge). The paper's point: the optimum creeps right with width, then jumps to a second basin.

Settings: ``ylim`` [lo, hi] (loss axis), ``width_in`` / ``height_in``.
"""
from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .panels import (hp_x, legend, nu_x, positive, readable_log_axis, seed_stats, star, star_handles,
                     width_handles)
from .style import hp_label, log2_axis, new_figure, width_colors

METRIC_LABELS = {"kindex": "validation MSE", "sphere": "validation BCE"}


def metric_label(sweep: xr.Dataset) -> str:
    return METRIC_LABELS.get(sweep.attrs.get("task", ""), "validation loss")


def second_layer_factor(sweep: xr.Dataset) -> float:
    return float(json.loads(sweep.attrs.get("config", "{}")).get("second_layer_lr_factor", 1.0))


def draw_sweep_panel(ax, sweep: xr.Dataset, transfer: xr.Dataset, colors: dict | None = None,
                     bands: bool = False) -> bool:
    """Seed-mean loss against the swept hyperparameter for every width on log-log axes.

    Circles with seed-std error bars (``bands``: a shaded mean ± std band instead), the spline
    interpolant as the line, and the optimum star. Returns whether any optimum sits on a grid edge.
    Callers set the loss-axis limits, then call :func:`~.panels.readable_log_axis`.
    """
    hp = sweep.attrs["hp"]
    metric = sweep.attrs.get("metric", "final_loss_val")
    colors = colors or width_colors(sweep["width"].values)
    x = hp_x(hp, sweep[hp].values)
    any_edge = False
    for width in sweep["width"].values:
        color = colors[width]
        mean, std = seed_stats(sweep[metric].sel(width=width))
        m, s = mean.values, std.values
        if bands:
            ax.fill_between(x, positive(m - s), positive(m + s), color=color, alpha=0.2, lw=0)
            ax.plot(x, positive(m), "o", color=color, ms=3.5)
        else:
            ax.errorbar(x, positive(m), yerr=np.where(np.isfinite(s), s, 0.0), fmt="o", color=color, ms=4,
                        mfc=color, mec="white", mew=0.4, elinewidth=0.7, capsize=0)
        if width in transfer["width"].values:
            t = transfer.sel(width=width)
            if "loss_curve" in transfer:
                ax.plot(nu_x(transfer["nu_fine"].values), positive(t["loss_curve"].values), color=color, lw=1.3)
            edge = bool(t["at_edge"])
            any_edge |= edge
            star(ax, float(nu_x(t["nu_star"])), float(t["loss_star"]), edge)
    ax.set_yscale("log")
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(metric_label(sweep))
    return any_edge


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    widths = sweep["width"].values
    colors = width_colors(widths)
    fig, ax = new_figure(1, settings=settings, width_per=5.8, height=3.8)
    edge = draw_sweep_panel(ax, sweep, transfer, colors)
    if "ylim" in settings:
        ax.set_ylim(*settings["ylim"])
    readable_log_axis(ax, "y")
    ax.set_title(f"{sweep.attrs.get('study', '')}: k-index model, Adam")
    legend(ax, width_handles(widths, colors) + star_handles(edge), outside=True)
    return fig
