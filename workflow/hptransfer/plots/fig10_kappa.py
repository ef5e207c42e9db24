"""Paper Fig 10: the truncation Algorithm 1 chose, and the top-k profile (paper.md §4.2, §4.5).

Left: κ̂(n) against the swept hyperparameter for every n < n_max (kappa.nc). Widths where
Algorithm 1 failed (no τ pair accepted) are marked by × along the bottom, with a note.
Right: φ_n^k against k = 1 … min(n, k_max) at one swept value, for every width (seed mean with a
seed-std band, sweep.nc ``phi_k`` at kappa.nc's analysis step, the last by default); a circle marks
κ̂(n) at that value on each width-n curve. The curves coincide for small k and each width peels off
the n_max curve near its κ̂(n).

Settings: ``<hp>`` (e.g. ``lr``; the nearest grid point is used; default: the grid point with the
lowest seed-mean loss at the smallest width, :func:`~hptransfer.plots.common.chosen_hp_value`),
``k_max`` (default: the largest width), ``log_k`` (log2 k axis; default false),
``width_in`` / ``height_in``.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from .common import chosen_hp_value
from .decomposition import grid_nu, phi_at_analysis_step
from .panels import figure_legend, hp_x, width_label
from .style import hp_label, log2_axis, new_figure, width_colors


def draw_kappa_panel(ax, kappa: xr.Dataset, colors: dict) -> list[int]:
    """κ̂(n) against the swept value; returns the widths where Algorithm 1 failed."""
    hp, grid, _ = grid_nu(kappa)
    x = hp_x(hp, grid)
    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    failed = []
    for n in kappa["width"].values:
        k = kappa.sel(width=n)
        values = k["kappa"].values.astype(float)
        if bool(k["failed"]):
            failed.append(int(n))
            ax.plot(x, np.full(x.size, 0.04), "x", color=colors[int(n)], ms=7, mew=1.8, transform=bottom)
            continue
        values[values < 1] = np.nan  # unusable (diverged) grid points
        ax.plot(x, values, "o-", color=colors[int(n)], ms=5, lw=1.5)
    if failed:
        note = "× Algorithm 1 FAIL (n = " + ", ".join(map(str, failed)) + "): no (τ1, τ2) accepted"
        ax.text(0.98, 0.10, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=7.5, color="dimgray")
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(r"truncation $\hat\kappa(n)$")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return failed


def draw_profile_panel(ax, sweep: xr.Dataset, kappa: xr.Dataset, value: float, colors: dict,
                       k_max: int, log_k: bool) -> None:
    hp = sweep.attrs["hp"]
    phi = phi_at_analysis_step(sweep, kappa).sel({hp: value})
    n_max = int(sweep["width"].values.max())
    for n in sweep["width"].values:
        run = phi.sel(width=n)
        last = min(int(n), k_max)
        ks = run["k"].values[:last]
        runs = run.transpose("seed", "k").values[:, :last] if "seed" in run.dims else run.values[None, :last]
        mean = np.mean(runs, axis=0)
        std = np.std(runs, axis=0, ddof=1) if runs.shape[0] > 1 else np.zeros_like(mean)
        color = colors[int(n)]
        ax.fill_between(ks, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        ax.plot(ks, mean, color=color, lw=1.6)
        if int(n) in kappa["width"].values:
            kap = int(kappa["kappa"].sel(width=int(n)).sel({hp: value}, method="nearest"))
            if 1 <= kap <= last and np.isfinite(mean[kap - 1]):
                ax.plot([kap], [mean[kap - 1]], "o", ms=7, mfc=color, mec="black", mew=0.9, zorder=5)
    if log_k:
        log2_axis(ax, "x")
    ax.set_xlabel("k (top-k directions)")
    ax.set_ylabel(r"$\phi_n^k$ ($\Delta$loss of the top-k part)")


def width_legend_handles(widths: list[int], colors: dict, failed=(), n_max: int | None = None) -> list:
    """One entry per width, × and ": FAIL" where Algorithm 1 failed; n_max labelled (∞)."""
    return [Line2D([], [], color=colors[n], marker="x" if n in failed else "o", ms=5, lw=1.5,
                   label=width_label(n, n_max) + (": FAIL" if n in failed else "")) for n in widths]


def kappa_marker_handle(hp: str) -> Line2D:
    """Legend entry for the κ̂(n) circles on the profile curves."""
    return Line2D([], [], ls="none", marker="o", ms=7, mfc="white", mec="black", mew=0.9,
                  label=r"$\hat\kappa(n)$ at this " + hp)


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
