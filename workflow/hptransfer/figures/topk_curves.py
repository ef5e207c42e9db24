"""The decomposed loss curves behind Hypothesis 1 (paper Fig 8, also Figs 19, 21, 29 and, on a
subset of widths, 34; paper.md §4.3–4.5).

Left: the total linearised loss change φ_n (ΔLoss, negative) against the swept hyperparameter for
every width n < n_max and for n_max, labelled "(∞)" (it stands in for infinite width).
Right: the top-κ loss curves φ_n^{κ_n} (solid, blue shades) and φ_{n_max}^{κ_n} (dashed, purple
shades: the n_max run truncated at the width-n indices κ̂(n)) for every n < n_max.

Points are seed means (kappa.nc), bars the seed std (sweep.nc ``phi_k`` at the same analysis step),
lines the analysis' spline interpolant, red stars the minimisers (hollow on a grid edge). Widths
where Algorithm 1 failed have no top-κ curves and say so in the legend.

Settings: ``widths`` (the widths below n_max shown: a list, or ``ends_and_middle`` for the smallest,
a middle and the largest, as the paper's {128, 1024, 4096} of Fig 34; default all),
``width_in`` / ``height_in``, ``ylim`` [lo, hi] (shared by both panels).
"""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .decomposition_curves import grid_nu, phi_at_analysis_step, seed_curves
from .findings import topk_minimisers
from .panels import draw_curve, log2_axis, star_handles
from .selection import seed_std, width_subset
from .style import hp_label, new_figure, shades, width_colors, width_label


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    kappa, sweep = width_subset(inputs["kappa"], settings), inputs["sweep"]
    hp, grid, nu = grid_nu(kappa)
    n_max = int(kappa.attrs["n_max"])
    widths = [int(w) for w in kappa["width"].values]
    phi = phi_at_analysis_step(sweep, kappa)
    colors = width_colors(widths + [n_max])
    blues, purples = shades("Blues", len(widths)), shades("Purples", len(widths))

    # x shared too: where every width failed, the right panel has no data to set its log axis from
    fig, (left, right) = new_figure(2, settings=settings, width_per=5.0, height=4.0, sharex=True, sharey=True)
    edge = False
    for i, n in enumerate(widths):
        k = kappa.sel(width=n)
        runs = seed_curves(phi, hp, grid, n, n_max, k["kappa"].values)
        edge |= draw_curve(left, nu, k["phi_n"].values, seed_std(runs["total_n"]), colors[n], width_label(n))
        if bool(k["failed"]):
            right.plot([], [], color=blues[i], label=f"n = {n}: κ̂ FAIL")
            continue
        edge |= draw_curve(
            right, nu, k["phi_n_kappa"].values, seed_std(runs["top_n"]), blues[i], rf"$\phi_{{{n}}}^{{\kappa_{{{n}}}}}$"
        )
        edge |= draw_curve(
            right,
            nu,
            k["phi_max_kappa"].values,
            seed_std(runs["top_max"]),
            purples[i],
            rf"$\phi_{{{n_max}}}^{{\kappa_{{{n}}}}}$",
            ls="--",
            marker="s",
        )
    # the n_max curve: the same for every width, taken from the first row
    runs = seed_curves(phi, hp, grid, widths[0], n_max, None) if widths else None
    if widths:
        edge |= draw_curve(
            left,
            nu,
            kappa["phi_max"].isel(width=0).values,
            seed_std(runs["total_max"]),
            colors[n_max],
            width_label(n_max, n_max),
        )

    left.set_title(r"(a) total: $\phi_n$")
    right.set_title(r"(b) top-$\kappa$: $\phi_n^{\kappa_n}$ (solid), $\phi_{n_{max}}^{\kappa_n}$ (dashed)")
    left.set_ylabel(r"$\Delta$loss (linearised)")
    for ax in (left, right):
        log2_axis(ax, "x")
        ax.set_xlabel(hp_label(hp))
    if "ylim" in settings:
        left.set_ylim(*settings["ylim"])
    h, _ = left.get_legend_handles_labels()
    left.legend(handles=h + star_handles(edge), title="width", fontsize=7.5)
    h, _ = right.get_legend_handles_labels()
    right.legend(handles=h, ncols=2 if len(h) > 4 else 1, fontsize=7.5)
    fig.suptitle(f"{kappa.attrs.get('study', '')}: decomposed loss curves, n_max = {n_max} as ∞", fontsize=11)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Where the top-κ and the total curves have their minima, width by width (report caption)."""
    return topk_minimisers(width_subset(inputs["kappa"], settings))
