"""Comparison study: optimal hyperparameter against width per scheme (log2 axes, bootstrap CI bars,
hollow markers at grid-edge optima) with the fitted eta* ~ n^-x and x ± se in the legend; a second
panel shows the hidden-layer learning rate each scheme applies at its optimum, when known."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .findings import widths_text
from .panels import log2_axis, offsets
from .style import hp_label, new_figure, scheme_colors, scheme_marker


def _exponent_label(p: str, ds: xr.Dataset, prefix: str) -> str:
    x, se = float(ds[prefix].sel(param=p)), float(ds[f"{prefix}_se"].sel(param=p))
    if not np.isfinite(x):
        return f"{p}: fit unavailable"
    err = f" ± {se:.2f}" if np.isfinite(se) else ""
    return f"{p}: ∝ n$^{{-({x:.2f}{err})}}$"


def _panel(ax, ds, params, colors, value, lo, hi, prefix) -> None:
    widths = ds["width"].values.astype(float)
    fine = np.geomspace(widths.min(), widths.max(), 50)
    for p, dx in zip(params, offsets(len(params))):
        y = ds[value].sel(param=p).values
        edge = ds["at_edge"].sel(param=p).values.astype(bool)
        ok = np.isfinite(y)
        if lo is not None:
            ylo, yhi = ds[lo].sel(param=p).values, ds[hi].sel(param=p).values
            err = np.array([np.where(np.isfinite(ylo), y - ylo, 0), np.where(np.isfinite(yhi), yhi - y, 0)])
            ax.errorbar(
                widths[ok] * dx,
                y[ok],
                yerr=np.clip(err[:, ok], 0, None),
                fmt="none",
                ecolor=colors[p],
                capsize=3,
                lw=1.2,
            )
        for mask, face in ((ok & ~edge, colors[p]), (ok & edge, "none")):
            ax.scatter(
                widths[mask] * dx,
                y[mask],
                marker=scheme_marker(p),
                s=40,
                facecolor=face,
                edgecolor=colors[p],
                linewidths=1.2,
                zorder=4,
            )
        c, x = float(ds[f"{prefix}_intercept"].sel(param=p)), float(ds[prefix].sel(param=p))
        if np.isfinite(c) and np.isfinite(x):
            ax.plot(fine, 2.0 ** (c - x * np.log2(fine)), color=colors[p], lw=1.2, label=_exponent_label(p, ds, prefix))
        else:
            ax.plot([], [], color=colors[p], label=_exponent_label(p, ds, prefix))
    log2_axis(ax, "x")
    log2_axis(ax, "y")
    ax.set_xticks(list(widths))
    ax.set_xlabel("width n")
    ax.legend(title="fit (hollow: edge optimum, not fitted)")


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    ds = inputs["comparison"]
    params = [str(p) for p in ds["param"].values]
    colors = scheme_colors(params)
    hp = ds.attrs.get("hp", "hp")
    effective = bool(np.isfinite(ds["hp_star_effective"].values).any())
    fig, axes = new_figure(2 if effective else 1, settings=settings)
    axes = np.atleast_1d(axes)
    _panel(axes[0], ds, params, colors, "hp_star", "hp_star_lo", "hp_star_hi", "lr_exponent")
    axes[0].set_ylabel(f"optimal {hp_label(hp)}\n(swept, base-width value)")
    level = 100 * float(ds.attrs.get("interval_level", 0.9))
    axes[0].set_title(f"(a) {ds.attrs.get('study', '')}: optimal {hp} ({level:g}% CI)")
    if effective:
        _panel(axes[1], ds, params, colors, "hp_star_effective", None, None, "lr_exponent_effective")
        axes[1].set_ylabel("hidden-layer learning rate\napplied at the optimum")
        axes[1].set_title("(b) hidden-layer LR (source: ∝ w$^{-0.85}$)")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per scheme: the widths whose optimum entered the exponent fit (report caption)."""
    ds = inputs["comparison"]
    out = []
    for p in ds["param"].values:
        edges = [int(w) for w in ds["width"].values if bool(ds["at_edge"].sel(param=p, width=w))]
        used = int(ds["lr_exponent_n_points"].sel(param=p)) if "lr_exponent_n_points" in ds else None
        fit = f"{used} width(s) enter the exponent fit" if used is not None else "exponent fit"
        edge = f"; optimum at a grid edge (left out) at width {widths_text(edges)}" if edges else ""
        out.append(f"scheme {p}: {fit}{edge}")
    return out
