"""Paper Fig 16: the learning-rate sweep re-evaluated on the easy (lowest-MCI) subset (top) and the
hard (highest-MCI) subset (bottom): sweep panels and scaling panels."""
from __future__ import annotations

import xarray as xr

from .fig06_sweep_scaling import draw_scaling_panel, draw_sweep_panel
from .style import new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    fig, axes = new_figure(2, 2, settings=settings)
    for row, subset in enumerate(("easy", "hard")):
        sweep, transfer = inputs[f"sweep_{subset}"], inputs[f"transfer_{subset}"]
        draw_sweep_panel(axes[row, 0], sweep, transfer)
        draw_scaling_panel(axes[row, 1], transfer)
        n = sweep.attrs.get("subset_size", "")
        axes[row, 0].set_title(f"({'ab'[row]}) {subset} subset ({n} examples): sweep")
        axes[row, 1].set_title(f"{subset} subset: scaling of the optimal loss")
        axes[row, 0].set_ylabel(f"final EMA loss on the {subset} subset")
    return fig
