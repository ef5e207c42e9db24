"""Sweeps of several hyperparameters side by side (paper Fig 18: the Llama-Adam β1 (a) and β2 (b)
sweeps) — the sweep panel of Fig 6 for this study and then each companion study, x = (1-β)^-1 on a
log2 axis (paper.md §5.1).

Settings: ``ylim`` [lo, hi] (shared loss axis), ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .findings import grid_sensitivity, optimum_movement
from .panels import draw_sweep_panel
from .selection import study_inputs
from .style import new_figure, panel_label


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    groups = study_inputs(inputs, ("sweep", "transfer"))
    fig, axes = new_figure(len(groups), settings=settings, width_per=4.6, height=3.8, sharey=True, squeeze=False)
    for i, (ax, group) in enumerate(zip(axes[0], groups)):
        draw_sweep_panel(ax, group["sweep"], group["transfer"])
        sweep = group["sweep"]
        ax.set_title(f"{panel_label(i, len(groups))}{sweep.attrs.get('study', '')}: {sweep.attrs['hp']} sweep")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    if "ylim" in settings:
        axes[0][0].set_ylim(*settings["ylim"])
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per panel: how the optimum moved over the widths and how much the loss varies over the grid
    (report caption)."""
    out = []
    for group in study_inputs(inputs, ("sweep", "transfer")):
        t = group["transfer"]
        out.append(f"{t.attrs.get('study', '')}: {optimum_movement(t)}; {grid_sensitivity(t)}")
    return out
