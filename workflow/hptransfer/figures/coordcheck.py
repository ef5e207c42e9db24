"""Coordinate check (the `mup` package's test; Tensor Programs V Fig 5): the RMS size of each layer
group's output and of its change since initialisation against width, log-log, one line per step,
one row of panels per parametrization and quantity, one column per layer group. The legend gives
each line's fitted slope against width: ≈ 0 where sizes stay width-independent (µP), > 0 where they
grow with width (SP's updates).

Input: ``coordcheck`` (results/studies/<study>/coordcheck.nc,
:func:`hptransfer.parametrization.coordcheck.study_coordcheck`).
A group's layers (the attention branches, the MLP branches, the residual stream after each block)
are combined by their geometric mean, whose log-log slope is the mean of the layers' stored slopes.
Settings: ``steps`` (default: at most five from step 1 to the last; step 0 is the initialisation,
where the change is zero), ``quantities`` (subset of ``activation_rms``, ``change_rms``),
``width_in`` / ``height_in``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from .findings import slope_ranges
from .panels import positive, readable_log_axis
from .style import new_figure

QUANTITIES = {
    "activation_rms": ("activation RMS", "activation_slope"),
    "change_rms": ("change RMS since init", "change_slope"),
}
BRANCHES = {"attn": "attention", "mlp": "MLP"}


def layer_group(layer: str) -> str:
    """embedding, attention, MLP, residual stream (the output of a block) or logits."""
    if not layer.startswith("block"):
        return layer
    return BRANCHES.get(layer.partition(".")[2], "residual stream")


def layer_groups(layers) -> dict[str, list[str]]:
    """Group → its layers, in the model's order (embedding first, logits last)."""
    out: dict[str, list[str]] = {}
    for layer in map(str, layers):
        out.setdefault(layer_group(layer), []).append(layer)
    return out


def default_steps(last: int, lines: int = 5) -> list[int]:
    return sorted({int(s) for s in np.linspace(1, last, min(lines, last)).round()})


def group_size(da: xr.DataArray, layers: list[str]) -> xr.DataArray:
    """Geometric mean over the group's layers (a zero size, the change at init, stays zero)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.log(da.sel(layer=layers)).mean("layer"))


def width_axis(ax, widths) -> None:
    """Log2 width axis labelled at the checked widths."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(widths))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


def min_log_span(ax, factor: float = 4.0) -> None:
    """Widen a log y-axis to at least ``factor`` from bottom to top around its centre, so that a
    width-independent line looks flat instead of its small wiggles filling the panel."""
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < factor:
        centre, half = np.sqrt(lo * hi), np.sqrt(factor)
        ax.set_ylim(centre / half, centre * half)


def draw_panel(ax, ds: xr.Dataset, quantity: str, layers: list[str], steps: list[int]) -> None:
    widths = ds["width"].values
    size = group_size(ds[quantity], layers)
    slope = ds[QUANTITIES[quantity][1]].sel(layer=layers).mean("layer")
    colors = plt.get_cmap("plasma")(np.linspace(0.0, 0.85, len(steps)))
    for color, step in zip(colors, steps):
        b = float(slope.sel(step=step))
        text = f"{b:+.2f}" if np.isfinite(b) else "n/a"
        ax.plot(
            widths,
            positive(size.sel(step=step).values),
            "o-",
            ms=3,
            lw=1.2,
            color=color,
            label=f"t = {step}: slope {text}",
        )
    ax.set_yscale("log")
    min_log_span(ax)
    width_axis(ax, widths)
    readable_log_axis(ax, "y")
    ax.legend(fontsize=6, handlelength=1.2, borderpad=0.3, labelspacing=0.2)


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    ds = inputs["coordcheck"]
    groups = layer_groups(ds["layer"].values)
    quantities = list(settings.get("quantities", QUANTITIES))
    steps = list(settings.get("steps", default_steps(int(ds["step"].max()))))
    rows = [(str(p), q) for p in ds["parametrization"].values for q in quantities]
    fig, axes = new_figure(len(groups), len(rows), settings=settings, width_per=2.7, height=2.3, squeeze=False)
    for r, (param, quantity) in enumerate(rows):
        for c, (group, layers) in enumerate(groups.items()):
            ax = axes[r, c]
            draw_panel(ax, ds.sel(parametrization=param), quantity, layers, steps)
            if r == 0:
                ax.set_title(group)
            if r == len(rows) - 1:
                ax.set_xlabel("width")
        axes[r, 0].set_ylabel(f"{param}\n{QUANTITIES[quantity][0]}")
    fig.suptitle(
        f"{ds.attrs.get('study', '')}: coordinate check ({ds.attrs.get('optimizer', '')}, "
        f"lr {ds.attrs.get('lr', float('nan')):g}, base width {ds.attrs.get('base_width', '')})"
    )
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Per parametrization: the range of the slopes in the legends (each layer group's, at each step
    drawn), and whether they are all near 0 (report caption)."""
    ds = inputs["coordcheck"]
    steps = list(settings.get("steps", default_steps(int(ds["step"].max()))))
    return slope_ranges(ds, steps, layer_groups(ds["layer"].values))
