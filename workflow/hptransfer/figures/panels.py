"""Drawing on one Axes, shared by the figure modules: where values sit on the axes, axis scales,
optimum stars, legends, and the whole panels several figures are made of (sweep, scaling, κ̂,
top-k profile, decomposed curve).

The swept hyperparameter is plotted at ``2**nu`` with ``nu = hp_coordinate(hp, value)`` on a log2
axis: the learning rate itself for LR sweeps, the effective window (1-β)^-1 for Adam-β sweeps (the
paper's x-axis for Figs 18–22), so one axis convention serves every sweep.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..analysis import hp_coordinate
from .decomposition_curves import grid_nu, optimum, phi_at_analysis_step, smooth
from .selection import final_linearized, fit_params, seed_stats
from .style import (
    EDGE_STAR,
    STAR,
    ema_loss_label,
    hp_label,
    scaling_law_label,
    task_loss_label,
    width_colors,
    width_label,
)

# More widths than this and the width legend moves outside the axes.
INSIDE_LEGEND_MAX = 7


# ------------------------------------------------------------------- where values sit on the axes


def hp_x(hp: str, values) -> np.ndarray:
    """Where swept values sit on the plotted (log2) hyperparameter axis."""
    return 2.0 ** hp_coordinate(hp, values)


def nu_x(nu) -> np.ndarray:
    """Where analysis coordinates ``nu`` (e.g. nu*(n), transfer.nu_fine) sit on that axis."""
    return 2.0 ** np.asarray(nu, dtype=float)


def positive(y) -> np.ndarray:
    """NaN where a value cannot go on a log axis."""
    y = np.asarray(y, dtype=float).copy()
    y[~(y > 0)] = np.nan
    return y


def finite_limits(*arrays, pad: float = 0.05, log: bool = False) -> tuple[float, float] | None:
    """Axis limits around every finite value (in log space for a log axis), or None if there is none."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if values.size == 0:
        return None
    lo, hi = (np.log(values.min()), np.log(values.max())) if log else (values.min(), values.max())
    span = (hi - lo) or (abs(hi) * 0.1 if hi else 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(np.exp(lo)), float(np.exp(hi))) if log else (float(lo), float(hi))


def offsets(n_params: int, spread: float = 0.04) -> np.ndarray:
    """Multiplicative x offsets so the error bars of different schemes at one width do not overlap."""
    return 2.0 ** (spread * (np.arange(n_params) - (n_params - 1) / 2))


# ----------------------------------------------------------------------------------- axis scales


def log2_axis(ax, axis: str = "x") -> None:
    """Log2 scale with ticks labelled 2^k (the paper's swept-hyperparameter axes)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    fmt = FuncFormatter(lambda v, _: f"$2^{{{np.log2(v):.3g}}}$" if v > 0 else "")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def readable_log_axis(ax, axis: str = "y") -> None:
    """Plain-number tick labels (0.03, 0.05, 0.1, …) on a log axis spanning up to two decades, where
    the default minor labels (6×10⁻¹, …) are hard to read; a wider axis keeps powers of ten."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if not (lo > 0 and hi > lo) or hi / lo > 100:
        return
    ratio = hi / lo
    subs = np.arange(1.0, 10.0) if ratio < 5 else (1.0, 2.0, 3.0, 5.0) if ratio < 20 else (1.0, 2.0, 5.0)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    target.set_minor_locator(LogLocator(base=10, subs=np.arange(1.0, 10.0)))
    target.set_minor_formatter(NullFormatter())


# ------------------------------------------------------------------------------ stars and legends


def star(ax, x: float, y: float, at_edge: bool = False, size: float | None = None) -> None:
    """Red star at an optimum; hollow where the optimum is on the grid edge (only a bound)."""
    if not (np.isfinite(x) and np.isfinite(y)):
        return
    style = dict(EDGE_STAR if at_edge else STAR)
    if size is not None:
        style["s"] = size
    ax.scatter([x], [y], **style)


def star_handles(edge: bool) -> list:
    """Legend proxies for the optimum stars (the hollow one only where some optimum is an edge)."""
    handles = [Line2D([], [], ls="none", marker="*", ms=11, mfc="red", mec="black", mew=0.6, label="optimum")]
    if edge:
        handles.append(
            Line2D([], [], ls="none", marker="*", ms=11, mfc="none", mec="red", mew=1.2, label="optimum at grid edge")
        )
    return handles


def width_handles(widths, colors: dict | None = None, n_max: int | None = None, **line) -> list:
    colors = colors or width_colors(widths)
    style = dict(marker="o", ms=4, lw=1.5) | line
    return [Line2D([], [], color=colors[w], label=width_label(w, n_max), **style) for w in widths]


def width_legend_handles(widths: list[int], colors: dict, failed=(), n_max: int | None = None) -> list:
    """One entry per width, × and ": FAIL" where Algorithm 1 failed; n_max labelled (∞)."""
    return [
        Line2D(
            [],
            [],
            color=colors[n],
            marker="x" if n in failed else "o",
            ms=5,
            lw=1.5,
            label=width_label(n, n_max) + (": FAIL" if n in failed else ""),
        )
        for n in widths
    ]


def kappa_marker_handle(hp: str) -> Line2D:
    """Legend entry for the κ̂(n) circles on the profile curves."""
    return Line2D(
        [], [], ls="none", marker="o", ms=7, mfc="white", mec="black", mew=0.9, label=r"$\hat\kappa(n)$ at this " + hp
    )


def legend(ax, handles: list, title: str | None = "width", outside: bool | None = None, **kw):
    """Legend inside the axes for a few entries, outside on the right for many."""
    if outside is None:
        outside = len(handles) > INSIDE_LEGEND_MAX + 2
    if outside:
        kw = dict(loc="center left", bbox_to_anchor=(1.02, 0.5), borderaxespad=0.0) | kw
    return ax.legend(handles=handles, title=title, **kw)


def figure_legend(fig, handles: list, title: str | None = "width", **kw):
    """One legend for several panels, to the right of the figure (constrained layout keeps room)."""
    return fig.legend(handles=handles, title=title, loc="outside right center", **kw)


# ------------------------------------------------------------------------- sweep and scaling panels


def draw_sweep_panel(ax, sweep: xr.Dataset, transfer: xr.Dataset, metric: str | None = None) -> None:
    """The study's loss (final, or at its ``analysis.step``) against the swept hyperparameter (at
    :func:`hp_x`: the value itself for a learning rate, (1-β)^-1 for a momentum), one colour per
    width, seed std as error bars, the interpolant as a thin line and the optimum as a star (hollow
    on a grid edge). The panel of the sweep-and-scaling figures (paper Fig 6 (a))."""
    hp = sweep.attrs["hp"]
    metric = metric or sweep.attrs.get("metric", "final_loss_ema")
    colors = width_colors(sweep["width"].values)
    x = hp_x(hp, sweep[hp].values)
    for width in sweep["width"].values:
        loss = sweep[metric].sel(width=width)
        mean, std = loss.mean("seed"), loss.std("seed")
        ax.errorbar(
            x, mean, yerr=std, color=colors[width], marker="o", ms=4, lw=1.5, capsize=2, label=f"n = {int(width)}"
        )
        t = transfer.sel(width=width)
        if "loss_curve" in transfer:
            ax.plot(nu_x(transfer["nu_fine"].values), t["loss_curve"].values, color=colors[width], lw=0.6, alpha=0.6)
        star(ax, float(nu_x(t["nu_star"])), float(t["loss_star"]), bool(t["at_edge"]))
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(ema_loss_label(sweep))
    ax.legend(title="width", ncols=1)


def draw_linearized_overlay(ax, sweep: xr.Dataset) -> None:
    """Dashed: each width's seed-mean EMA-linearised final loss, over a :func:`draw_sweep_panel`."""
    lin = final_linearized(sweep)
    if lin is None:
        return
    hp = sweep.attrs["hp"]
    colors = width_colors(sweep["width"].values)
    for width in sweep["width"].values:
        y = lin.sel(width=width).values
        ok = np.isfinite(y)
        ax.plot(sweep[hp].values[ok], y[ok], ls="--", marker="x", ms=4, lw=1.0, color=colors[width], alpha=0.8)


def draw_loglog_sweep_panel(
    ax, sweep: xr.Dataset, transfer: xr.Dataset, colors: dict | None = None, bands: bool = False
) -> bool:
    """Seed-mean loss against the swept hyperparameter for every width on log-log axes (the two-layer
    figures, paper Figs 2, 5 (a), 17).

    Circles with seed-std error bars (``bands``: a shaded mean ± std band instead), the spline
    interpolant as the line, and the optimum star. Returns whether any optimum sits on a grid edge.
    Callers set the loss-axis limits, then call :func:`readable_log_axis`.
    """
    hp = sweep.attrs["hp"]
    metric = sweep.attrs.get("metric", "final_loss_val")
    colors = colors or width_colors(sweep["width"].values)
    x = hp_x(hp, sweep[hp].values)
    any_edge = False
    for width in sweep["width"].values:
        color = colors[width]
        mean, std = seed_stats(sweep[metric].sel(width=width))
        m, s = mean.values, std.values
        if bands:
            ax.fill_between(x, positive(m - s), positive(m + s), color=color, alpha=0.2, lw=0)
            ax.plot(x, positive(m), "o", color=color, ms=3.5)
        else:
            ax.errorbar(
                x,
                positive(m),
                yerr=np.where(np.isfinite(s), s, 0.0),
                fmt="o",
                color=color,
                ms=4,
                mfc=color,
                mec="white",
                mew=0.4,
                elinewidth=0.7,
                capsize=0,
            )
        if width in transfer["width"].values:
            t = transfer.sel(width=width)
            if "loss_curve" in transfer:
                ax.plot(nu_x(transfer["nu_fine"].values), positive(t["loss_curve"].values), color=color, lw=1.3)
            edge = bool(t["at_edge"])
            any_edge |= edge
            star(ax, float(nu_x(t["nu_star"])), float(t["loss_star"]), edge)
    ax.set_yscale("log")
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(task_loss_label(sweep))
    return any_edge


def _power_law(n: np.ndarray, fit: dict) -> np.ndarray:
    return fit["L_inf"] + fit["A"] * n ** (-fit["alpha"])


def draw_scaling_panel(ax, transfer: xr.Dataset) -> None:
    """Optimal loss against width along ν*(n) and along the reference width's optimum, with fits
    (paper Fig 6 (b))."""
    widths = transfer["width"].values.astype(float)
    fine = np.geomspace(widths.min(), widths.max(), 100)
    names = ("L_inf", "A", "alpha")
    fit_opt, fit_tr = fit_params(transfer, "fit_opt", names), fit_params(transfer, "fit_transfer", names)
    ref = transfer["nu_transferred"].attrs.get("long_name", "").split("nu*(")[-1].rstrip(")")
    ax.plot(widths, transfer["loss_star"], "o", color="tab:blue", label=f"at ν*(n): {scaling_law_label(fit_opt)}")
    ax.plot(
        widths,
        transfer["loss_transferred"],
        "^",
        color="tab:orange",
        label=f"at ν*({ref}): {scaling_law_label(fit_tr)}",
    )
    # an unidentified law's curve would draw parameters that mean nothing (a step, a runaway asymptote)
    for fit, line, colour, lw in ((fit_opt, "-", "tab:blue", 1.2), (fit_tr, ":", "tab:orange", 1.5)):
        if fit["identified"] and np.isfinite(fit["alpha"]):
            ax.plot(fine, _power_law(fine, fit), line, color=colour, lw=lw)
    log2_axis(ax, "x")
    ax.set_xlabel("width n")
    ax.set_ylabel("EMA validation loss")
    ax.legend(loc="best", fontsize=7.5)  # a loss that rises with width (a hard subset) fills the upper right


# ------------------------------------------------------------------------ decomposition panels


def draw_kappa_panel(ax, kappa: xr.Dataset, colors: dict) -> list[int]:
    """κ̂(n) against the swept value; returns the widths where Algorithm 1 failed (marked by rows of
    × below κ̂ = 0, with a note)."""
    hp, grid, _ = grid_nu(kappa)
    x = hp_x(hp, grid)
    failed = []
    for n in kappa["width"].values:
        k = kappa.sel(width=n)
        values = k["kappa"].values.astype(float)
        if bool(k["failed"]):
            failed.append(int(n))
            continue
        values[values < 1] = np.nan  # unusable (diverged) grid points
        ax.plot(x, values, "o-", color=colors[int(n)], ms=5, lw=1.5)
    log2_axis(ax, "x")
    ax.set_xlabel(hp_label(hp))
    ax.set_ylabel(r"truncation $\hat\kappa(n)$")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if failed:
        mark_failed_widths(ax, x, failed, colors)
    return failed


def mark_failed_widths(ax, x, failed: list[int], colors: dict) -> None:
    """A row of × per width where Algorithm 1 failed, in a band below κ̂ = 0 where no curve passes,
    and a note in a band above the curves: neither hides a κ̂ point nor another width's row."""
    top = ax.get_ylim()[1] * 1.2
    row = top * 0.05
    for i, n in enumerate(failed):
        ax.plot(x, np.full(x.size, -row * (i + 1)), "x", color=colors[n], ms=7, mew=1.8)
    ax.set_ylim(-row * (len(failed) + 0.8), top)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= top])  # no negative truncation on the axis
    ax.axhline(0, color="0.6", lw=0.8)
    note = "× Algorithm 1 FAIL (n = " + ", ".join(map(str, failed)) + "): no (τ1, τ2) accepted"
    ax.text(0.02, 0.97, note, transform=ax.transAxes, ha="left", va="top", fontsize=7.5, color="dimgray")


def draw_profile_panel(
    ax, sweep: xr.Dataset, kappa: xr.Dataset, value: float, colors: dict, k_max: int, log_k: bool
) -> None:
    """The top-k profile φ_n^k against k = 1 … min(n, k_max) at one swept value, for every width
    (seed mean with a seed-std band), with a circle at κ̂(n) on each width-n curve."""
    hp = sweep.attrs["hp"]
    phi = phi_at_analysis_step(sweep, kappa).sel({hp: value})
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


def draw_curve(ax, nu, mean, std, color, label: str, ls: str = "-", marker: str = "o", with_star: bool = True) -> bool:
    """One decomposed loss curve: seed means with std bars, the spline through them, and the
    minimiser's star; returns whether the minimiser is on a grid edge."""
    x = nu_x(nu)
    ax.errorbar(
        x,
        mean,
        yerr=np.where(np.isfinite(std), std, 0.0),
        fmt=marker,
        ms=4,
        color=color,
        mfc=color if ls == "-" else "white",
        mec=color,
        mew=1.0,
        elinewidth=0.8,
        capsize=0,
    )
    fine, curve = smooth(nu, mean)
    ax.plot(nu_x(fine), curve, ls=ls, color=color, lw=1.5, label=label)
    if not with_star:
        return False
    nu_star, value, edge = optimum(nu, mean)
    star(ax, float(nu_x(nu_star)), value, edge, size=130)
    return edge
