"""Comparison study: the sweep panel of Fig 6 (:func:`.panels.draw_sweep_panel`) once per scheme, side
by side on a shared y axis, with the transferred hyperparameter marked as a dotted line."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .findings import per_param, sweep_findings
from .panels import draw_sweep_panel, hp_x
from .style import new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    params = [str(p) for p in sweep["param"].values]
    fig, axes = new_figure(len(params), settings=settings, width_per=4.0, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, p in zip(axes, params):
        part = sweep.sel(param=p).assign_attrs(sweep.attrs)
        t = transfer.sel(param=p)
        draw_sweep_panel(ax, part, t)
        if "hp_transferred" in t and np.isfinite(float(t["hp_transferred"])):
            ax.axvline(float(hp_x(sweep.attrs["hp"], t["hp_transferred"])), color="grey", ls=":", lw=1.2)
        ax.set_title(p)
    for ax in axes[1:]:
        ax.set_ylabel("")
        if ax.get_legend():
            ax.get_legend().remove()
    fig.suptitle(
        f"{sweep.attrs.get('study', '')}: {sweep.attrs.get('hp', 'hp')} sweep per scheme "
        "(dotted: value transferred from the reference width)"
    )
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per scheme: optimum movement, edge optima and the cost of the transferred value (report caption)."""
    return [line for p, t in per_param(inputs["transfer"]) for line in sweep_findings(t, p)]
