"""Top-k profiles φ_n^k against k, the right panel of Fig 10 (:mod:`.kappa`) on its own (paper Figs 12,
26 and 32; paper.md §5.2–5.5).

One panel per study and swept value: this study, then each companion study (Fig 26: Dion bounded (a)
beside proportional (b) rank), each at every value of ``settings[hp]``. Every width's curve is the seed
mean with a seed-std band, ending at k = min(n, k_max); a circle marks κ̂(n) at that value.

Settings: ``<hp>`` (e.g. ``lr``: one value or a list, nearest grid points; default: the grid point
with the lowest seed-mean loss at the smallest width, as Fig 10), ``with_smallest`` (without ``<hp>``:
the smallest grid value beside that default, or the largest where the default is the smallest; Fig 32
true: GPT-2 + Muon at 0.001 in the paper, where the profile looks like Llama-Muon's, beside a
near-optimal, Adam-like 0.012), ``k_max`` (default: the largest width), ``log_k`` (log2 k axis;
default false), ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .decomposition_curves import phi_at_analysis_step
from .findings import profile_agreement
from .panels import draw_profile_panel, figure_legend, kappa_marker_handle, width_legend_handles
from .selection import chosen_hp_values, study_inputs
from .style import new_figure, panel_label, width_colors


def profile_panels(inputs: dict[str, xr.Dataset], settings: dict) -> list[tuple[dict, float]]:
    """(study datasets, swept value) per panel: each study at each chosen value."""
    return [
        (group, value)
        for group in study_inputs(inputs, ("kappa", "sweep"))
        for value in chosen_hp_values(group["sweep"], settings)
    ]


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    panels = profile_panels(inputs, settings)
    widths = sorted({int(w) for group, _ in panels for w in group["sweep"]["width"].values})
    colors = width_colors(widths)
    k_max = int(settings.get("k_max", max(widths)))
    fig, axes = new_figure(len(panels), settings=settings, width_per=4.6, height=3.8, squeeze=False)
    for i, (ax, (group, value)) in enumerate(zip(axes[0], panels)):
        sweep = group["sweep"]
        draw_profile_panel(ax, sweep, group["kappa"], value, colors, k_max, bool(settings.get("log_k", False)))
        ax.set_title(f"{panel_label(i, len(panels))}{sweep.attrs.get('study', '')}: {sweep.attrs['hp']} = {value:.3g}")
    hp = panels[0][0]["sweep"].attrs["hp"]
    figure_legend(fig, width_legend_handles(widths, colors, n_max=max(widths)) + [kappa_marker_handle(hp)])
    fig.suptitle(r"top-k profile $\phi_n^k$ against k", fontsize=11)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """How far each width's profile follows n_max's, per panel (report caption)."""
    return [
        profile_agreement(
            phi_at_analysis_step(group["sweep"], group["kappa"]),
            group["kappa"],
            value,
            group["sweep"].attrs.get("study", ""),
        )
        for group, value in profile_panels(inputs, settings)
    ]
