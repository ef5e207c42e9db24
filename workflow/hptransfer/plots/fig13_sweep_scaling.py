"""Paper Fig 13 (image MLP + momentum SGD): (a) sweep panel with the EMA-linearised final loss as
dashed lines, (b) scaling panel; the panels of Fig 6."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .fig06_sweep_scaling import draw_scaling_panel, draw_sweep_panel
from .style import new_figure, width_colors


def final_linearized(sweep: xr.Dataset) -> xr.DataArray | None:
    """Seed-mean linearised loss L(w̄_0) + φ at each run's last EMA point (NaN for diverged runs)."""
    if "loss_linearized" not in sweep:
        return None
    lin = sweep["loss_linearized"].transpose(..., "eval_step")
    values = lin.values
    finite = np.isfinite(values)
    # each run's last finite point (shorter runs are NaN-padded)
    last_idx = np.where(finite.any(-1), values.shape[-1] - 1 - np.argmax(finite[..., ::-1], axis=-1), 0)
    last = np.take_along_axis(values, last_idx[..., None], axis=-1)[..., 0]
    last = xr.DataArray(last, dims=lin.dims[:-1], coords={d: lin[d] for d in lin.dims[:-1]})
    return last.where(~sweep["diverged"]).mean("seed", skipna=False)


def draw_linearized(ax, sweep: xr.Dataset) -> None:
    lin = final_linearized(sweep)
    if lin is None:
        return
    hp = sweep.attrs["hp"]
    colors = width_colors(sweep["width"].values)
    for width in sweep["width"].values:
        y = lin.sel(width=width).values
        ok = np.isfinite(y)
        ax.plot(sweep[hp].values[ok], y[ok], ls="--", marker="x", ms=4, lw=1.0, color=colors[width], alpha=0.8)


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep, transfer = inputs["sweep"], inputs["transfer"]
    fig, (ax_a, ax_b) = new_figure(2, settings=settings)
    draw_sweep_panel(ax_a, sweep, transfer)
    if settings.get("linearized", True):
        draw_linearized(ax_a, sweep)
    draw_scaling_panel(ax_b, transfer)
    ax_a.set_title(f"(a) {sweep.attrs['study']}: sweep (dashed: linearised)")
    ax_b.set_title("(b) scaling of the optimal loss")
    return fig
