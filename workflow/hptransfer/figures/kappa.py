"""The truncation κ̂(n) Algorithm 1 chose, and the top-k profile (paper.md §4.2, §4.5; paper Fig 10,
also Fig 28 and, for the image MLP, Fig 33).

Left: κ̂(n) against the swept hyperparameter for every n < n_max (kappa.nc). Widths where
Algorithm 1 failed (no τ pair accepted) are marked by × along the bottom, with a note.
Right: φ_n^k against k = 1 … min(n, k_max) at one swept value, for every width (seed mean with a
seed-std band, sweep.nc ``phi_k`` at kappa.nc's analysis step, the last by default); a circle marks
κ̂(n) at that value on each width-n curve. The curves coincide for small k and each width peels off
the n_max curve near its κ̂(n).

Settings: ``<hp>`` (e.g. ``lr``; the nearest grid point is used; default: the grid point with the
lowest seed-mean loss at the smallest width, :func:`~hptransfer.figures.selection.chosen_hp_value`),
``k_max`` (default: the largest width), ``log_k`` (log2 k axis; default false; Fig 33 true, where
κ̂(n) ≪ n), ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .decomposition_curves import phi_at_analysis_step
from .findings import kappa_ranges, profile_agreement
from .panels import draw_kappa_panel, draw_profile_panel, figure_legend, kappa_marker_handle, width_legend_handles
from .selection import chosen_hp_value
from .style import new_figure, width_colors


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    kappa, sweep = inputs["kappa"], inputs["sweep"]
    hp = sweep.attrs["hp"]
    widths = [int(w) for w in sweep["width"].values]
    colors = width_colors(widths)
    value = chosen_hp_value(sweep, settings)
    k_max = int(settings.get("k_max", max(widths)))
    fig, (left, right) = new_figure(2, settings=settings, width_per=4.8, height=3.8)
    failed = draw_kappa_panel(left, kappa, colors)
    left.set_title(r"(a) $\hat\kappa(n)$ from Algorithm 1")
    draw_profile_panel(right, sweep, kappa, value, colors, k_max, bool(settings.get("log_k", False)))
    right.set_title(f"(b) top-k profile at {hp} = {value:.3g}")
    figure_legend(fig, width_legend_handles(widths, colors, failed, max(widths)) + [kappa_marker_handle(hp)])
    fig.suptitle(f"{sweep.attrs.get('study', '')}: truncation and top-k profile", fontsize=11)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """κ̂(n) per width and how far each width's profile follows n_max's (report caption)."""
    kappa, sweep = inputs["kappa"], inputs["sweep"]
    value = chosen_hp_value(sweep, settings)
    return kappa_ranges(kappa) + [profile_agreement(phi_at_analysis_step(sweep, kappa), kappa, value)]
