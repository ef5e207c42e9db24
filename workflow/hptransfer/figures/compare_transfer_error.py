"""Comparison study: transfer error against width per scheme (log y), bootstrap intervals as bars."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import transforms

from .findings import comparison_at_largest
from .panels import log2_axis, offsets
from .style import new_figure, scheme_colors, scheme_marker


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    ds = inputs["comparison"]
    params = [str(p) for p in ds["param"].values]
    colors = scheme_colors(params)
    ref = int(ds.attrs.get("reference_width", ds["width"].values.min()))
    widths = ds["width"].values
    fig, ax = new_figure(1, settings=settings, width_per=5.0)
    top = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for k, (p, dx) in enumerate(zip(params, offsets(len(params)))):
        r = ds.sel(param=p)
        te = r["transfer_error"].values
        lo, hi = r["transfer_error_lo"].values, r["transfer_error_hi"].values
        show = (widths != ref) & np.isfinite(te) & (te > 0)
        x = widths[show] * dx
        yerr = np.array(
            [
                te[show] - np.where(np.isfinite(lo[show]), np.maximum(lo[show], 0), te[show]),
                np.where(np.isfinite(hi[show]), hi[show], te[show]) - te[show],
            ]
        )
        yerr = np.clip(yerr, 0, None)
        ax.errorbar(x, te[show], yerr=yerr, color=colors[p], marker=scheme_marker(p), ms=6, lw=1.5, capsize=3, label=p)
        # transferred value at (+inf) or next to (NaN) a diverged grid point: a marker on top
        near = ds["transferred_near_divergence"].sel(param=p).values.astype(bool)
        diverged = (widths != ref) & (np.isposinf(te) | (near & np.isnan(te)))
        if diverged.any():
            ax.scatter(
                widths[diverged] * dx,
                np.full(diverged.sum(), 0.96),
                marker="X",
                s=70,
                color=colors[p],
                edgecolor="black",
                transform=top,
                clip_on=False,
                zorder=6,
                label=f"{p}: transferred {ds.attrs.get('hp', 'hp')} at/next to divergence",
            )
    ax.set_yscale("log")
    log2_axis(ax, "x")
    ax.set_xticks([w for w in widths if w != ref] or list(widths))
    ax.set_xlabel("width n")
    ax.set_ylabel(f"transfer error  L(η*({ref})) − L(η*(n))")
    level = 100 * float(ds.attrs.get("interval_level", 0.9))
    ax.set_title(f"{ds.attrs.get('study', '')}: transfer error\n({level:g}% bootstrap over seeds)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="scheme")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per scheme at the largest width: transfer error, stability, edge optima (report caption)."""
    return comparison_at_largest(inputs["comparison"])
