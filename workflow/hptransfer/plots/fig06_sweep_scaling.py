"""Paper Fig 6 layout: (a) sweep panel, (b) scaling panel."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .common import fit_params
from .panels import hp_x, nu_x, star
from .style import hp_label, log2_axis, new_figure, scaling_law_label, width_colors


def power_law(n: np.ndarray, fit: dict) -> np.ndarray:
    return fit["L_inf"] + fit["A"] * n ** (-fit["alpha"])


def draw_sweep_panel(ax, sweep: xr.Dataset, transfer: xr.Dataset, metric: str | None = None) -> None:
    """The study's loss (final, or at its ``analysis.step``) against the swept hyperparameter (at :func:`~.panels.hp_x`: the value itself for a
    learning rate, (1-β)^-1 for a momentum), one colour per width, seed std as error bars, the
    interpolant as a thin line and the optimum as a star (hollow on a grid edge)."""
    hp = sweep.attrs["hp"]
    metric = metric or sweep.attrs.get("metric", "final_loss_ema")
    colors = width_colors(sweep["width"].values)
    x = hp_x(hp, sweep[hp].values)
    for width in sweep["width"].values:
        loss = sweep[metric].sel(width=width)
        mean, std = loss.mean("seed"), loss.std("seed")
        ax.errorbar(x, mean, yerr=std, color=colors[width], marker="o", ms=4, lw=1.5, capsize=2,
                    label=f"n = {int(width)}")
        t = transfer.sel(width=width)
        if "loss_curve" in transfer:
            ax.plot(nu_x(transfer["nu_fine"].values), t["loss_curve"].values, color=colors[width],
                    lw=0.6, alpha=0.6)
        star(ax, float(nu_x(t["nu_star"])), float(t["loss_star"]), bool(t["at_edge"]))
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(loss_axis_label(sweep))
    ax.legend(title="width", ncols=1)


def loss_axis_label(sweep: xr.Dataset) -> str:
    step = sweep.attrs.get("analysis_step")
    return "final EMA validation loss" if step is None else f"EMA validation loss at step {int(step)}"


def draw_scaling_panel(ax, transfer: xr.Dataset) -> None:
    """Optimal loss against width along ν*(n) and along the reference width's optimum, with fits."""
    widths = transfer["width"].values.astype(float)
    fine = np.geomspace(widths.min(), widths.max(), 100)
    names = ("L_inf", "A", "alpha")
    fit_opt, fit_tr = fit_params(transfer, "fit_opt", names), fit_params(transfer, "fit_transfer", names)
    ref = transfer["nu_transferred"].attrs.get("long_name", "").split("nu*(")[-1].rstrip(")")
    ax.plot(widths, transfer["loss_star"], "o", color="tab:blue", label=f"at ν*(n): {scaling_law_label(fit_opt)}")
    ax.plot(widths, transfer["loss_transferred"], "^", color="tab:orange",
            label=f"at ν*({ref}): {scaling_law_label(fit_tr)}")
    # an unidentified law's curve would draw parameters that mean nothing (a step, a runaway asymptote)
    for fit, line, colour, lw in ((fit_opt, "-", "tab:blue", 1.2), (fit_tr, ":", "tab:orange", 1.5)):
        if fit["identified"] and np.isfinite(fit["alpha"]):
            ax.plot(fine, power_law(fine, fit), line, color=colour, lw=lw)
    log2_axis(ax, "x")
    ax.set_xlabel("width n")
    ax.set_ylabel("EMA validation loss")
    ax.legend(loc="best", fontsize=7.5)  # a loss that rises with width (a hard subset) fills the upper right


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    fig, (ax_a, ax_b) = new_figure(2, settings=settings)
    draw_sweep_panel(ax_a, sweep, transfer)
    draw_scaling_panel(ax_b, transfer)
    ax_a.set_title(f"(a) {sweep.attrs['study']}: sweep")
    ax_b.set_title("(b) scaling of the optimal loss")
    return fig
