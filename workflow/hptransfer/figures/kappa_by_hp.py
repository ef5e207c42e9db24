"""κ̂(n) from Algorithm 1 for sweeps of several hyperparameters side by side (paper Fig 23: the
Llama-Adam learning-rate (a), β1 (b) and β2 (c) sweeps) — the left panel of Fig 10 for this study and
then each companion study, on a shared κ̂ axis, so one sees that the truncation hardly depends on
which hyperparameter is swept (paper.md §5.1).

Settings: ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .findings import kappa_ranges
from .panels import draw_kappa_panel, figure_legend, width_legend_handles
from .selection import study_inputs
from .style import new_figure, panel_label, width_colors


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    kappas = [group["kappa"] for group in study_inputs(inputs, ("kappa",))]
    widths = sorted({int(w) for kappa in kappas for w in kappa["width"].values})
    n_max = max(int(kappa.attrs["n_max"]) for kappa in kappas)
    colors = width_colors(widths + [n_max])  # the colours of the figures that show n_max too
    fig, axes = new_figure(len(kappas), settings=settings, width_per=4.0, height=3.6, sharey=True, squeeze=False)
    failed: set[int] = set()
    for i, (ax, kappa) in enumerate(zip(axes[0], kappas)):
        failed |= set(draw_kappa_panel(ax, kappa, colors))
        ax.set_title(f"{panel_label(i, len(kappas))}{kappa.attrs.get('study', '')}: {kappa.attrs['hp']} sweep")
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    axes[0][0].autoscale(axis="y")  # over every panel: each draw fixed the range of its own κ̂ alone
    axes[0][0].set_ylim(bottom=0)
    figure_legend(fig, width_legend_handles(widths, colors, failed))
    # one panel (a partial figure) is too narrow for the long title
    per_hp = " per swept hyperparameter" if len(kappas) > 1 else ""
    fig.suptitle(rf"truncation $\hat\kappa(n)$ from Algorithm 1{per_hp}", fontsize=11)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """κ̂(n) per width for each sweep drawn (report caption)."""
    return [line for group in study_inputs(inputs, ("kappa",)) for line in kappa_ranges(group["kappa"])]
