"""EMA, iterate and EMA-linearised validation loss against step for one run (paper Fig 7)."""

from __future__ import annotations

import xarray as xr

from ..analysis.formatting import format_percent
from ..analysis.linearization import describe_run_gap, gap_at, gap_lines, gap_summary
from .selection import chosen_hp_value, valid_steps
from .style import hp_label, new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sweep = inputs["sweep"]
    hp = sweep.attrs["hp"]
    value = chosen_hp_value(sweep, settings)
    width = int(settings.get("width", sweep["width"].values[0]))
    seed = int(settings.get("seed", sweep["seed"].values[0]))
    run = sweep.sel({hp: value, "seed": seed, "width": width})
    fig, ax = new_figure(1, settings=settings, width_per=5.0)
    for name, label, style in (
        ("loss_val_iterate", "iterate loss", dict(color="tab:grey", lw=1.0)),
        ("loss_val_ema", "EMA loss", dict(color="tab:blue", lw=2.0)),
        ("loss_linearized", "linearised loss", dict(color="tab:red", ls="--", lw=1.5)),
    ):
        curve = valid_steps(run[name])
        ax.plot(curve["eval_step"], curve, label=label, **style)
    gap = float(run["linearization_gap"])
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss")
    ax.set_title(f"n = {width}, {hp_label(hp)} = {value:g}, seed {seed}\nrelative gap {format_percent(gap)}")
    ax.legend()
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """The drawn run's linearisation gap and direction, then the gap over every run of the sweep: its
    range, where it is largest and where its seed mean exceeds 5% (report caption)."""
    sweep = inputs["sweep"]
    hp = sweep.attrs["hp"]
    value = chosen_hp_value(sweep, settings)
    width = int(settings.get("width", sweep["width"].values[0]))
    seed = int(settings.get("seed", sweep["seed"].values[0]))
    drawn = describe_run_gap(*gap_at(sweep, width, value, seed))
    out = [f"the run drawn (width {width}, {hp} = {value:g}, seed {seed}): {drawn} at its last step"]
    gap = gap_summary(sweep)
    return out + ([line.removeprefix("- ") for line in gap_lines(gap)] if gap else [])
