"""Cumulative top-k (blue shades) and residual (red shades) linearised loss change
against training step, for every width, at one learning rate and seed (paper Fig 1)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .findings import topk_and_residual
from .selection import chosen_hp_value, chosen_topk, valid_steps
from .style import hp_label, new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep = inputs["sweep"]
    hp = sweep.attrs["hp"]
    value, k = chosen_hp_value(sweep, settings), chosen_topk(sweep, settings)
    seed = int(settings.get("seed", sweep["seed"].values[0]))
    run = sweep.sel({hp: value, "seed": seed, "topk": k})
    widths = sweep["width"].values
    blues = plt.get_cmap("Blues")(np.linspace(0.45, 0.95, len(widths)))
    reds = plt.get_cmap("Reds")(np.linspace(0.45, 0.95, len(widths)))
    fig, ax = new_figure(1, settings=settings, width_per=5.5)
    for i, width in enumerate(widths):
        r = run.sel(width=width)
        topk = valid_steps(r["phi_topk"])
        total = r["loss_linearized"].sel(eval_step=topk["eval_step"]) - r["loss_linearized"].isel(eval_step=0)
        ax.plot(topk["eval_step"], topk, color=blues[i], label=f"top-{k}, n = {int(width)}")
        ax.plot(topk["eval_step"], total - topk, color=reds[i], ls="--", label=f"residual, n = {int(width)}")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("training step")
    ax.set_ylabel("cumulative Δloss (linearised)")
    ax.set_title(f"{sweep.attrs['study']}: {hp_label(hp)} = {value:g}, k = {k}, seed {seed}")
    ax.legend(ncols=2)
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """The run drawn, its top-k and residual change at the last step per width (report caption)."""
    sweep = inputs["sweep"]
    hp = sweep.attrs["hp"]
    value, k = chosen_hp_value(sweep, settings), chosen_topk(sweep, settings)
    seed = int(settings.get("seed", sweep["seed"].values[0]))
    run = sweep.sel({hp: value, "seed": seed})
    return [f"drawn: {hp} = {value:g}, k = {k}, seed {seed}"] + topk_and_residual(run, k)
