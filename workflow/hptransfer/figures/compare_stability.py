"""Comparison study: fraction of non-diverged runs against width per scheme, (a) over the grid and
seeds, (b) over seeds at the grid value nearest to the transferred hyperparameter."""

from __future__ import annotations

import xarray as xr

from .findings import stability_trend
from .panels import log2_axis, offsets
from .style import new_figure, scheme_colors, scheme_marker


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    ds = inputs["comparison"]
    params = [str(p) for p in ds["param"].values]
    colors = scheme_colors(params)
    widths = ds["width"].values
    hp, ref = ds.attrs.get("hp", "hp"), ds.attrs.get("reference_width", "")
    fig, axes = new_figure(2, settings=settings, sharey=True)
    panels = (
        ("stability_grid", "(a) over the grid and seeds"),
        ("stability_transferred", f"(b) at the transferred {hp}*({ref})"),
    )
    for ax, (name, title) in zip(axes, panels):
        for p, dx in zip(params, offsets(len(params))):
            ax.plot(
                widths * dx,
                ds[name].sel(param=p).values,
                color=colors[p],
                marker=scheme_marker(p),
                ms=6,
                lw=1.5,
                label=p,
            )
        log2_axis(ax, "x")
        ax.set_xticks(list(widths))
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("width n")
        ax.set_title(title)
    axes[0].set_ylabel("fraction of runs not diverged")
    axes[0].legend(title="scheme")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per scheme: the fraction of runs not diverged at the smallest and largest width (report caption)."""
    return stability_trend(inputs["comparison"])
