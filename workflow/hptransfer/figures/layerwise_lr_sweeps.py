"""Two two-layer sweeps side by side on a shared loss axis (paper Fig 17): the k-index model
(paper.md §3.2) with (a) one Adam learning rate for both layers (the companion study, = Fig 2) and
(b) the second-layer learning rate scaled by the study's ``second_layer_lr_factor`` (1/50 in the
paper).

Inputs: ``sweep``/``transfer`` of this (layer-wise) study and ``plain_sweep``/``plain_transfer`` of
the plain study (catalogue companion ``plain``).
Settings: ``ylim`` [lo, hi], ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis.formatting import format_with_inf as fmt
from .findings import bimodality, local_minima, lowest_loss, optimum_spread
from .panels import draw_loglog_sweep_panel, figure_legend, readable_log_axis, star_handles, width_handles
from .style import new_figure, width_colors


def second_layer_factor(sweep: xr.Dataset) -> float:
    """The study's ``second_layer_lr_factor`` (1 where the config has none)."""
    return float(json.loads(sweep.attrs.get("config", "{}")).get("second_layer_lr_factor", 1.0))


def _factor_text(factor: float) -> str:
    inverse = 1.0 / factor if factor else np.inf
    if np.isfinite(inverse) and abs(inverse - round(inverse)) < 1e-6 and inverse > 1:
        return f"second-layer LR / {int(round(inverse))}"
    return f"second-layer LR × {factor:g}"


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    plain = inputs["plain_sweep"], inputs["plain_transfer"]
    layerwise = inputs["sweep"], inputs["transfer"]
    widths = np.union1d(plain[0]["width"].values, layerwise[0]["width"].values)
    colors = width_colors(widths)
    fig, axes = new_figure(2, settings=settings, width_per=4.6, height=3.8, sharey=True)
    edge = False
    for ax, (sweep, transfer), title in (
        (axes[0], plain, f"(a) {plain[0].attrs.get('study', '')}: one learning rate"),
        (
            axes[1],
            layerwise,
            f"(b) {layerwise[0].attrs.get('study', '')}: {_factor_text(second_layer_factor(layerwise[0]))}",
        ),
    ):
        edge |= draw_loglog_sweep_panel(ax, sweep, transfer, colors)
        ax.set_title(title)
    axes[1].set_ylabel("")
    axes[1].set_xlabel("first-layer learning rate")
    if "ylim" in settings:
        axes[0].set_ylim(*settings["ylim"])
    readable_log_axis(axes[0], "y")
    figure_legend(fig, width_handles(widths, colors) + star_handles(edge))
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Each panel's two-basin curves, optimum spread and lowest loss, and how (b) compares with (a)
    on each (report caption)."""
    plain, layerwise = inputs["plain_transfer"], inputs["transfer"]
    out = []
    for label, t in (("(a)", plain), ("(b)", layerwise)):
        out.append(
            f"{label} {t.attrs.get('study', '')}: {bimodality(t)}; the optimum spans "
            f"{fmt(optimum_spread(t), '.2g')} grid steps over the widths; "
            f"lowest optimal loss {fmt(lowest_loss(t), '.4g')}"
        )
    comparisons = [
        (
            "curves with two basins",
            len(local_minima(layerwise)),
            len(local_minima(plain)),
            "fewer",
            "more",
            "as many as",
        ),
        (
            "optimum spread over the widths",
            optimum_spread(layerwise),
            optimum_spread(plain),
            "narrower",
            "wider",
            "the same as",
        ),
        ("lowest optimal loss", lowest_loss(layerwise), lowest_loss(plain), "lower", "higher", "the same as"),
    ]
    for what, b, a, less, more, same in comparisons:
        if np.isfinite(a) and np.isfinite(b):
            out.append(f"{what}: (b) {f'{less} than' if b < a else f'{more} than' if b > a else same} (a)")
    return out
