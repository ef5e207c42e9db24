"""Random-features ridge regression (paper Fig 4; paper.md §2, Theorem 3), from rf.nc.

(a) Excess risk R(λ) − σ_ε² (log) against the ridge penalty λ for every width ratio ψ2 = n/d of the
    curve list (viridis: small ψ2 light, large dark) and ψ2 = ∞ (red dashed), red stars at each
    argmin λ*(ψ2); the finite-size simulation (mean ± standard error over draws, noise removed) as
    square markers in the colour of its ψ2.
(b) Three stacked log-log panels against ψ2: the loss gap a, the HP gap b and the suboptimality gap
    c, each with its Theorem 3 slope guide (d/n, d/n, (d/n)²) and the slope fitted on the tail
    (rf.nc attrs ``slope_*`` over ``slope_fit_psi2``) in the legend.

Panel (a)'s title names the activation and target where rf.nc records them (not the paper's pair).

Settings: ``width_in`` / ``height_in``, ``lam_range`` [lo, hi] (x-range of (a)).
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .findings import rf_slopes
from .panels import finite_limits, positive, readable_log_axis
from .style import INFINITY_COLOR, STAR, width_colors

GAPS = (("a", r"loss gap $a_n$", "d/n"), ("b", r"HP gap $b_n$", "d/n"), ("c", r"suboptimality gap $c_n$", "(d/n)²"))


def psi2_text(psi2: float) -> str:
    if not np.isfinite(psi2):
        return "∞"
    return f"{psi2:.0f}" if abs(psi2 - round(psi2)) < 1e-9 else f"{psi2:.3g}"


def pair_text(rf: xr.Dataset) -> str:
    """The activation and target where rf.nc names them (absent: the paper's tanh and ReLU)."""
    if "activation" not in rf.attrs:
        return ""
    return f"\n{rf.attrs['activation']} features, {rf.attrs['target']} target"


def draw_risk_panel(ax, rf: xr.Dataset, settings: dict) -> None:
    psi2 = rf["psi2"].values
    shown = rf["in_curves"].values & np.isfinite(psi2)
    finite = psi2[shown]
    colors = width_colors(finite)
    lam = rf["lam"].values
    star = dict(STAR, s=90)
    for p in finite:
        ax.plot(
            lam, positive(rf["excess_risk"].sel(psi2=p).values), color=colors[p], lw=1.4, label=f"n/d = {psi2_text(p)}"
        )
    for p in finite:
        ax.scatter([float(rf["lambda_star"].sel(psi2=p))], [float(rf["excess_risk_star"].sel(psi2=p))], **star)
    if np.isinf(psi2).any():
        inf = rf.sel(psi2=np.inf)
        ax.plot(lam, positive(inf["excess_risk"].values), color=INFINITY_COLOR, ls="--", lw=1.8, label="n/d = ∞")
        ax.scatter([float(inf["lambda_star"])], [float(inf["excess_risk_star"])], **star)
    shown_values = [rf["excess_risk"].sel(psi2=p).values for p in psi2[rf["in_curves"].values]]
    if "sim_risk_mean" in rf:
        noise = float(rf.attrs.get("sigma_eps", 0.0)) ** 2
        d = json.loads(rf.attrs.get("config", "{}")).get("simulation", {}).get("d")
        for p in rf["sim_psi2"].values:
            mean = rf["sim_risk_mean"].sel(sim_psi2=p).values - noise
            se = rf["sim_risk_se"].sel(sim_psi2=p).values
            near = finite[np.argmin(np.abs(np.log(finite) - np.log(p)))] if finite.size else None
            color = colors[near] if near is not None and abs(near - p) <= 1e-6 * p else "grey"
            label = f"simulation, n/d = {psi2_text(p)}" + (f" (d = {d})" if d else "")
            shown_values.append(mean)
            ax.errorbar(
                rf["sim_lam"].values,
                positive(mean),
                yerr=se,
                fmt="s",
                ms=5,
                color=color,
                mec="black",
                mew=0.7,
                ecolor="black",
                elinewidth=0.9,
                capsize=2.5,
                zorder=6,
                label=label,
            )
    ax.set_yscale("log")
    # limits from the curves and simulation means: a wide standard error may run off the axes
    limits = finite_limits(*shown_values, pad=0.06, log=True)
    if limits:
        ax.set_ylim(*limits)
    readable_log_axis(ax, "y")
    pad = 0.02 * (lam.max() - lam.min())  # room for simulation markers at the grid ends
    ax.set_xlim(*settings.get("lam_range", (lam.min() - pad, lam.max() + pad)))
    ax.set_xlabel(r"ridge penalty $\lambda$")
    ax.set_ylabel(r"excess risk $R(\lambda) - \sigma_\varepsilon^2$")
    ax.set_title("(a) excess risk against λ; stars: λ*(n/d)" + pair_text(rf))
    ax.legend(ncols=2, fontsize=7, loc="upper center", handlelength=1.6, columnspacing=1.0)


def draw_gap_panels(axes, rf: xr.Dataset) -> None:
    psi2 = rf["psi2"].values
    use = rf["in_rates"].values & np.isfinite(psi2)
    x = psi2[use]
    fit_on = json.loads(rf.attrs.get("slope_fit_psi2", "[]"))
    where = f"n/d ≥ {psi2_text(min(fit_on))}" if fit_on else "tail"
    for ax, (name, label, guide) in zip(axes, GAPS):
        y = positive(rf[name].values[use])
        ok = np.isfinite(y)
        slope = float(rf.attrs.get(f"slope_{name}", np.nan))
        fitted = f"fitted slope {slope:.2f} ({where})" if np.isfinite(slope) else "fitted slope n/a (too few points)"
        ax.loglog(x[ok], y[ok], "o-", color="tab:blue", ms=4.5, lw=1.3, label=fitted)
        predicted = float(rf.attrs.get(f"predicted_slope_{name}", -2.0 if name == "c" else -1.0))
        if ok.sum() >= 1:
            # guide through the last point, shifted down by a factor 2 to stay off the data
            x0, y0 = x[ok][-1], y[ok][-1]
            xs = np.array([x[ok][0], x0])
            ax.loglog(
                xs,
                0.5 * y0 * (xs / x0) ** predicted,
                "--",
                color="black",
                lw=1.1,
                label=f"slope {predicted:g}: ∝ {guide}",
            )
        ax.set_ylabel(label)
        ax.legend(fontsize=7, loc="upper right")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[-1].set_xlabel(r"width ratio $\psi_2 = n/d$")
    axes[0].set_title("(b) gaps against width")


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    rf = inputs["rf"]
    fig = plt.figure(figsize=(settings.get("width_in", 10.5), settings.get("height_in", 5.4)), layout="constrained")
    axd = fig.subplot_mosaic([["risk", "a"], ["risk", "b"], ["risk", "c"]], width_ratios=[1.3, 1.0])
    draw_risk_panel(axd["risk"], rf, settings)
    gap_axes = [axd["a"], axd["b"], axd["c"]]
    for ax in gap_axes[1:]:
        ax.sharex(gap_axes[0])
    draw_gap_panels(gap_axes, rf)
    for ax in gap_axes[:-1]:
        ax.tick_params(labelbottom=False)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """The gaps' slopes against Theorem 3's, and whether c_n and b_n decay as fast transfer needs
    (report caption)."""
    return rf_slopes(inputs["rf"])
