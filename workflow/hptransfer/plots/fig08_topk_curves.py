"""Paper Fig 8: the decomposed loss curves behind Hypothesis 1 (paper.md §4.3–4.5).

Left: the total linearised loss change φ_n (ΔLoss, negative) against the swept hyperparameter for
every width n < n_max and for n_max, labelled "(∞)" (it stands in for infinite width).
Right: the top-κ loss curves φ_n^{κ_n} (solid, blue shades) and φ_{n_max}^{κ_n} (dashed, purple
shades: the n_max run truncated at the width-n indices κ̂(n)) for every n < n_max.

Points are seed means (kappa.nc), bars the seed std (sweep.nc ``phi_k`` at the same analysis step),
lines the analysis' spline interpolant, red stars the minimisers (hollow on a grid edge). Widths
where Algorithm 1 failed have no top-κ curves and say so in the legend.

Settings: ``width_in`` / ``height_in``, ``ylim`` [lo, hi] (shared by both panels).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .decomposition import grid_nu, optimum, phi_at_analysis_step, seed_curves, seed_std, smooth
from .panels import nu_x, star, star_handles, width_label
from .style import hp_label, log2_axis, new_figure, width_colors


def shades(cmap: str, count: int) -> list:
    """``count`` shades of a sequential colormap, light (small n) to dark (large n)."""
    positions = np.linspace(0.45, 0.95, count) if count > 1 else np.full(count, 0.75)
    return list(plt.get_cmap(cmap)(positions))


def draw_curve(ax, nu, mean, std, color, label: str, ls: str = "-", marker: str = "o",
               with_star: bool = True) -> bool:
    """Seed means with std bars, the spline through them, and the minimiser's star; returns whether
    the minimiser is on a grid edge."""
    x = nu_x(nu)
    ax.errorbar(x, mean, yerr=np.where(np.isfinite(std), std, 0.0), fmt=marker, ms=4, color=color,
                mfc=color if ls == "-" else "white", mec=color, mew=1.0, elinewidth=0.8, capsize=0)
    fine, curve = smooth(nu, mean)
    ax.plot(nu_x(fine), curve, ls=ls, color=color, lw=1.5, label=label)
    if not with_star:
        return False
    nu_star, value, edge = optimum(nu, mean)
    star(ax, float(nu_x(nu_star)), value, edge, size=130)
    return edge


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    kappa, sweep = inputs["kappa"], inputs["sweep"]
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
        edge |= draw_curve(right, nu, k["phi_n_kappa"].values, seed_std(runs["top_n"]), blues[i],
                           rf"$\phi_{{{n}}}^{{\kappa_{{{n}}}}}$")
        edge |= draw_curve(right, nu, k["phi_max_kappa"].values, seed_std(runs["top_max"]), purples[i],
                           rf"$\phi_{{{n_max}}}^{{\kappa_{{{n}}}}}$", ls="--", marker="s")
    # the n_max curve: the same for every width, taken from the first row
    runs = seed_curves(phi, hp, grid, widths[0], n_max, None) if widths else None
    if widths:
        edge |= draw_curve(left, nu, kappa["phi_max"].isel(width=0).values, seed_std(runs["total_max"]),
                           colors[n_max], width_label(n_max, n_max))

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
