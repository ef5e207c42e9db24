"""The transfer advice (advice.nc) drawn: the optimum against width, extrapolated to the target widths.

(a) The optimal hyperparameter per measured width with its bootstrap interval (transfer.nc; hollow
    where the width is left out of the fits), the law the advice fitted (solid over the measured
    widths, dashed beyond) or, where no law is identified, the drift band from the largest width,
    with its interval shaded out to the largest target, and the advised value at every target width
    (diamond with its interval).
(b) At each target width, what using the largest width's tuned value costs in loss (with its
    interval; an open triangle marks an upper bound only) next to the loss gap a_N still to come.

One row per parametrization where the study has several. Settings: ``width_in`` / ``height_in``.
"""

from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .panels import log2_axis, nu_x, readable_log_axis
from .style import hp_label, new_figure, panel_label

CASE_TITLES = {
    "law": "law identified",
    "law_floor": r"law with $\beta$ held at $\alpha_{lo}/2$",
    "drift": "no law identified: drift band",
    "refused": "no advice",
}
LAW_COLOR, TARGET_COLOR, GAP_COLOR = "tab:blue", "tab:red", "tab:gray"


def _parts(ds: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    if "param" in ds.dims:
        return [(str(p), ds.sel(param=p)) for p in ds["param"].values]
    return [("", ds)]


def _errorbar(ax, x, y, lo, hi, **style) -> None:
    """Points with asymmetric bars where the bounds exist."""
    y, lo, hi = (np.asarray(v, dtype=float) for v in (y, lo, hi))
    ok = np.isfinite(y)
    below = np.where(np.isfinite(lo), np.clip(y - lo, 0, None), 0.0)
    above = np.where(np.isfinite(hi), np.clip(hi - y, 0, None), 0.0)
    ax.errorbar(np.asarray(x)[ok], y[ok], yerr=[below[ok], above[ok]], capsize=2.5, elinewidth=1.0, **style)


def _measured(ax, transfer: xr.Dataset) -> None:
    widths = transfer["width"].values
    used = transfer["used_in_fit"].values.astype(bool)
    y, lo, hi = (nu_x(transfer[name].values) for name in ("nu_star", "nu_star_lo", "nu_star_hi"))
    for mask, face, label in ((used, "black", "measured optimum"), (~used, "white", "edge optimum (not fitted)")):
        if mask.any():
            _errorbar(
                ax, widths[mask], y[mask], lo[mask], hi[mask], fmt="o", ms=5, color="black", mfc=face, label=label
            )


def _extrapolation(ax, advice: xr.Dataset) -> None:
    fine = advice["width_fine"].values
    centre, lo, hi = (nu_x(advice[name].values) for name in ("curve", "curve_lo", "curve_hi"))
    n_ref = float(advice["reference_width"])
    law = str(advice["case"].values).startswith("law")
    band = np.isfinite(lo) & np.isfinite(hi)
    ax.fill_between(fine[band], lo[band], hi[band], color=LAW_COLOR, alpha=0.18, lw=0, label="interval")
    inside, beyond = fine <= n_ref, fine >= n_ref
    if law:
        ax.plot(fine[inside], centre[inside], "-", color=LAW_COLOR, lw=1.6, label=r"law $D - B\,n^{-\beta}$")
    ax.plot(fine[beyond], centre[beyond], "--", color=LAW_COLOR, lw=1.6, label="extrapolation")
    ax.axvline(n_ref, color="0.5", lw=0.8, ls=":")


def _targets(ax, advice: xr.Dataset) -> None:
    """The advised values, placed on the plotted axis (2^nu: the value itself for a learning rate,
    the averaging window for a momentum) and labelled with the value to use."""
    y, lo, hi = (nu_x(advice[name].values) for name in ("nu_advised", "nu_advised_lo", "nu_advised_hi"))
    if not np.isfinite(y).any():
        return
    targets = advice["target"].values
    _errorbar(ax, targets, y, lo, hi, fmt="D", ms=6, color=TARGET_COLOR, label="advised value")
    for n, at, value in zip(targets, y, advice["hp_advised"].values):
        if np.isfinite(value):
            ax.annotate(f"{value:.3g}", (n, at), textcoords="offset points", xytext=(6, 4), fontsize=7.5)


def _note(ax, text: str) -> None:
    ax.text(
        0.5, 0.5, "\n".join(textwrap.wrap(text, 44)), transform=ax.transAxes, ha="center", va="center", fontsize=8.5
    )


def _optimum_panel(ax, transfer: xr.Dataset, advice: xr.Dataset, title: str) -> None:
    _measured(ax, transfer)
    if str(advice["case"].values) == "refused":
        _note(ax, str(advice["statement"].values))
    else:
        _extrapolation(ax, advice)
        _targets(ax, advice)
    log2_axis(ax, "x")
    log2_axis(ax, "y")
    lo, hi = ax.get_ylim()
    if 0 < lo and hi / lo < 4:  # within two octaves there is hardly a power of 2 to label
        readable_log_axis(ax, "y")
    ax.set_xlabel("width n")
    ax.set_ylabel(f"optimal {hp_label(advice.attrs.get('hp', 'hp'))}")
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def _cost_panel(ax, advice: xr.Dataset, title: str) -> None:
    targets = advice["target"].values.astype(float)
    cost, lo, hi = (advice[name].values for name in ("suboptimality", "suboptimality_lo", "suboptimality_hi"))
    gap, gap_lo, gap_hi = (advice[name].values for name in ("loss_gap", "loss_gap_lo", "loss_gap_hi"))
    shown = False
    if np.isfinite(cost).any():
        _errorbar(ax, targets, cost, lo, hi, fmt="D", ms=6, color=TARGET_COLOR, label="proxy's value at N")
        shown = True
    bound_only = ~np.isfinite(cost) & np.isfinite(hi) & (hi > 0)
    if bound_only.any():
        ax.plot(targets[bound_only], hi[bound_only], "v", ms=7, mfc="white", color=TARGET_COLOR, label="at most")
        shown = True
    if np.isfinite(gap).any() and (gap[np.isfinite(gap)] > 0).any():
        _errorbar(ax, targets * 1.06, gap, gap_lo, gap_hi, fmt="s", ms=5, color=GAP_COLOR, label=r"loss gap $a_N$")
        shown = True
    ax.set_xscale("log", base=2)
    log2_axis(ax, "x")
    if shown:
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="best")
    else:
        _note(ax, "no transfer cost to show: " + (str(advice["refusal"].values) or "nothing predicted"))
    ax.set_xlabel("target width N")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    transfer, advice = inputs["transfer"], inputs["advice"]
    parts = list(zip(_parts(transfer), _parts(advice)))
    fig, axes = new_figure(2, len(parts), settings=settings, width_per=4.6, height=3.8, squeeze=False)
    study = advice.attrs.get("study", "")
    for row, ((param, t), (_, a)) in enumerate(parts):
        scheme = f" ({param})" if param else ""
        case = CASE_TITLES.get(str(a["case"].values), "")
        _optimum_panel(axes[row, 0], t, a, f"{panel_label(0)}{study}{scheme}: {case}")
        _cost_panel(axes[row, 1], a, f"{panel_label(1)}cost of transferring from n = {int(a['reference_width'])}")
    return fig
