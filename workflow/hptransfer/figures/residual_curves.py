"""Residual loss curves: residual flatness (Hypothesis 1 (iii), paper.md §4.4; paper Fig 9, also
Figs 20, 22, 30 and, on a subset of widths, 35).

Left: the residual φ_n^{−κ_n} = φ_n − φ_n^{κ_n} against the swept hyperparameter for every n < n_max;
right: φ_{n_max}^{−κ_n} (the n_max run with the width-n truncation). Points are seed means
(kappa.nc), bars the seed std (sweep.nc), lines the spline interpolant; dotted verticals mark the
top-κ minimisers ν*_κ(n) (left) and ν*_κ(∞) (right) of Fig 8 (:mod:`.topk_curves`), near which
flatness matters.

The x-range is clipped to the grid points within ``clip_steps`` (default 2) grid steps of those
minimisers (paper.md §7), unless ``xlim`` [lo, hi] (in hyperparameter values) is given. The y-range
is at least as tall as the top-κ curves' range in the same window, so a flat residual looks flat
next to Fig 8 (``match_fig08_scale``: default true; ``ylim`` [lo, hi] overrides). ``widths``: the
widths shown, as for :mod:`.topk_curves`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .decomposition_curves import grid_nu, optimum, phi_at_analysis_step, seed_curves
from .findings import residual_effect, residual_window
from .panels import draw_curve, hp_x, log2_axis, nu_x
from .selection import seed_std, width_subset
from .style import hp_label, new_figure, width_colors, width_label


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    kappa, sweep = width_subset(inputs["kappa"], settings), inputs["sweep"]
    hp, grid, nu = grid_nu(kappa)
    n_max = int(kappa.attrs["n_max"])
    widths = [int(w) for w in kappa["width"].values]
    colors = width_colors(widths + [n_max])
    phi = phi_at_analysis_step(sweep, kappa)
    lo, hi = residual_window(kappa, int(settings.get("clip_steps", 2)))
    if "xlim" in settings:
        x_lo, x_hi = (float(v) for v in hp_x(hp, settings["xlim"]))
    else:
        x_lo, x_hi = float(hp_x(hp, grid[lo])), float(hp_x(hp, grid[hi]))
    inside = (hp_x(hp, grid) >= x_lo * (1 - 1e-9)) & (hp_x(hp, grid) <= x_hi * (1 + 1e-9))

    fig, (left, right) = new_figure(2, settings=settings, width_per=4.6, height=3.8, sharey=True)
    shown, topk = [], []
    for n in widths:
        k = kappa.sel(width=n)
        if bool(k["failed"]):
            left.plot([], [], color=colors[n], label=f"n = {n}: κ̂ FAIL")
            continue
        runs = seed_curves(phi, hp, grid, n, n_max, k["kappa"].values)
        for ax, resid, spread, top in (
            (left, "residual_n", runs["residual_n"], "phi_n_kappa"),
            (right, "residual_max", runs["residual_max"], "phi_max_kappa"),
        ):
            mean = k[resid].values
            draw_curve(
                ax, nu[inside], mean[inside], seed_std(spread)[inside], colors[n], width_label(n), with_star=False
            )
            nu_top, _, _ = optimum(nu, k[top].values)
            if np.isfinite(nu_top):
                ax.axvline(float(nu_x(nu_top)), color=colors[n], ls=":", lw=1.1)
            shown.append(mean[inside])
            topk.append(k[top].values[inside])

    left.set_title(r"(a) residual at width n: $\phi_n^{-\kappa_n}$")
    right.set_title(rf"(b) residual at $n_{{max}}$ = {n_max}: $\phi_{{n_{{max}}}}^{{-\kappa_n}}$")
    left.set_ylabel(r"$\Delta$loss (linearised)")
    for ax in (left, right):
        log2_axis(ax, "x")
        ax.set_xlabel(hp_label(hp))
        ax.set_xlim(x_lo / 2**0.15, x_hi * 2**0.15)
    if "ylim" in settings:
        left.set_ylim(*settings["ylim"])
    elif settings.get("match_fig08_scale", True) and shown:
        left.set_ylim(*_comparable_ylim(np.concatenate(shown), np.concatenate(topk)))
    left.legend(title="width", fontsize=7.5)
    fig.suptitle(
        f"{kappa.attrs.get('study', '')}: residual loss curves near the top-κ minimisers (dotted)", fontsize=11
    )
    return fig


def _comparable_ylim(residuals: np.ndarray, topk: np.ndarray) -> tuple[float, float]:
    """Limits centred on the residuals, as tall as the larger of their range and the top-κ range."""
    r = residuals[np.isfinite(residuals)]
    t = topk[np.isfinite(topk)]
    if r.size == 0:
        return (-1.0, 0.0)
    span = max(np.ptp(r), np.ptp(t) if t.size else 0.0) * 1.1 or max(abs(r).max() * 0.1, 1e-3)
    mid = 0.5 * (r.min() + r.max())
    return float(mid - span / 2), float(mid + span / 2)


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Whether the residual moves the minimiser, and how flat it is near it (report caption)."""
    return residual_effect(width_subset(inputs["kappa"], settings), int(settings.get("clip_steps", 2)))
