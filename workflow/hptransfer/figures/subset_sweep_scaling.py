"""The learning-rate sweep and the scaling of its optimal loss re-evaluated on the easy (lowest-MCI)
subset (top) and the hard (highest-MCI) subset (bottom) of the validation examples (paper Fig 16):
the two panels of Fig 6 (:mod:`.sweep_scaling`), one row per subset."""

from __future__ import annotations

import xarray as xr

from .findings import sweep_findings
from .panels import draw_scaling_panel, draw_sweep_panel
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


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per subset: optimum movement, edge optima and transfer cost (report caption)."""
    return [
        f"{subset} subset: {line}"
        for subset in ("easy", "hard")
        for line in sweep_findings(inputs[f"transfer_{subset}"])
    ]
