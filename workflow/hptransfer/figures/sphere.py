"""The sphere indicator (paper Fig 5; paper.md §3.1), the "slow transfer" example: a sweep and the
optimum against width with its laws.

(a) Validation BCE against learning rate, log-log, every width: seed-mean circles, mean ± std band,
    the spline interpolant (transfer.nc ``loss_curve``), red stars at the optima.
(b) top: the optimal loss φ*_n against n with the fit φ* = C + A·n^-α (transfer.nc ``fit_opt_*``);
    bottom: log2 η*_n against n with the fit log2 η* = D − B·n^-β (``lr_law_*``). Bars are the
    bootstrap intervals over seeds; hollow markers are widths left out of the fits (edge optima).

Settings: ``ylim`` [lo, hi] for (a), ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .findings import sweep_findings
from .panels import draw_loglog_sweep_panel, legend, log2_axis, readable_log_axis, star_handles, width_handles
from .selection import fit_params
from .style import lr_law_label, scaling_law_label, width_colors


def _width_points(ax, widths, y, lo, hi, used, colors) -> None:
    """Per-width points with interval bars; filled if the width entered the fit, hollow if not."""
    for w, v, a, b, u in zip(widths, y, lo, hi, used):
        if not np.isfinite(v):
            continue
        err = [[max(v - a, 0.0) if np.isfinite(a) else 0.0], [max(b - v, 0.0) if np.isfinite(b) else 0.0]]
        ax.errorbar(
            [w],
            [v],
            yerr=err,
            fmt="o",
            ms=6,
            color=colors[w],
            mfc=colors[w] if u else "white",
            mec=colors[w],
            mew=1.3,
            elinewidth=1.0,
            capsize=2.5,
            zorder=4,
        )


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    widths = sweep["width"].values
    colors = width_colors(widths)
    fig = plt.figure(figsize=(settings.get("width_in", 10.0), settings.get("height_in", 4.6)), layout="constrained")
    axd = fig.subplot_mosaic([["a", "loss"], ["a", "lr"]], width_ratios=[1.35, 1.0])

    ax = axd["a"]
    edge = draw_loglog_sweep_panel(ax, sweep, transfer, colors, bands=True)
    if "ylim" in settings:
        ax.set_ylim(*settings["ylim"])
    readable_log_axis(ax, "y")
    ax.set_title(f"(a) {sweep.attrs.get('study', '')}: sphere indicator, Adam")
    legend(
        ax,
        width_handles(widths, colors, lw=1.3, ms=3.5) + star_handles(edge),
        ncols=2 if len(widths) > 7 else 1,
        fontsize=7,
    )

    n = transfer["width"].values.astype(float)
    fine = np.geomspace(n.min(), n.max(), 200)
    used = transfer["used_in_fit"].values if "used_in_fit" in transfer else np.ones(n.size, bool)
    tw = transfer["width"].values

    ax = axd["loss"]
    _width_points(
        ax,
        tw,
        transfer["loss_star"].values,
        transfer["loss_star_lo"].values,
        transfer["loss_star_hi"].values,
        used,
        colors,
    )
    fit = fit_params(transfer, "fit_opt", ("L_inf", "A", "alpha"))
    if fit["identified"] and all(np.isfinite(fit[k]) for k in ("L_inf", "A", "alpha")):
        ax.plot(
            fine,
            fit["L_inf"] + fit["A"] * fine ** (-fit["alpha"]),
            "-",
            color="black",
            lw=1.2,
            label=scaling_law_label(fit, r"$\phi^*_n$"),
        )
    else:
        ax.plot([], [], "-", color="black", label=scaling_law_label(fit, r"$\phi^*_n$"))
    ax.set_ylabel(r"optimal loss $\phi^*_n$")
    ax.set_title("(b) optimum against width")
    ax.legend(loc="best", fontsize=7.5)

    ax = axd["lr"]
    _width_points(
        ax, tw, transfer["nu_star"].values, transfer["nu_star_lo"].values, transfer["nu_star_hi"].values, used, colors
    )
    law = fit_params(transfer, "lr_law", ("B", "beta", "D"))
    if law["identified"] and all(np.isfinite(law[k]) for k in ("B", "beta", "D")):
        ax.plot(fine, law["D"] - law["B"] * fine ** (-law["beta"]), "-", color="black", lw=1.2, label=lr_law_label(law))
    else:
        ax.plot([], [], "-", color="black", label=lr_law_label(law))
    ax.set_ylabel(r"$\log_2 \eta^*_n$")
    ax.set_xlabel("width n")
    ax.legend(loc="best", fontsize=7.5)

    for name in ("loss", "lr"):
        log2_axis(axd[name], "x")
        axd[name].set_xlim(n.min() / 2**0.35, n.max() * 2**0.35)
    axd["loss"].sharex(axd["lr"])
    axd["loss"].tick_params(labelbottom=False)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Optimum movement, edge optima and transfer cost (report caption; the rates and verdict follow)."""
    return sweep_findings(inputs["transfer"])
