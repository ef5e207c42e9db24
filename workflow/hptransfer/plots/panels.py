"""Pieces shared by the sweep-style figures (Figs 2, 5, 8–10, 17): the plotted hyperparameter axis,
seed statistics, optimum stars and width legends.

The swept hyperparameter is plotted at ``2**nu`` with ``nu = hp_coordinate(hp, value)`` on a log2
axis: the learning rate itself for LR sweeps, the effective window (1-β)^-1 for Adam-β sweeps (the
paper's x-axis for Figs 18–22), so one axis convention serves every sweep.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..analysis import hp_coordinate
from .style import EDGE_STAR, STAR, width_colors

# More widths than this and the width legend moves outside the axes.
INSIDE_LEGEND_MAX = 7


def hp_x(hp: str, values) -> np.ndarray:
    """Where swept values sit on the plotted (log2) hyperparameter axis."""
    return 2.0 ** hp_coordinate(hp, values)


def nu_x(nu) -> np.ndarray:
    """Where analysis coordinates ``nu`` (e.g. nu*(n), transfer.nu_fine) sit on that axis."""
    return 2.0 ** np.asarray(nu, dtype=float)


def seed_stats(da: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Seed mean (NaN where any seed diverged, as in the analysis) and seed standard deviation."""
    if "seed" not in da.dims:
        return da, xr.zeros_like(da)
    std = da.std("seed", skipna=False, ddof=1) if da.sizes["seed"] > 1 else xr.zeros_like(da.isel(seed=0))
    return da.mean("seed", skipna=False), std


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
    handles = [Line2D([], [], ls="none", marker="*", ms=11, mfc="red", mec="black", mew=0.6,
                      label="optimum")]
    if edge:
        handles.append(Line2D([], [], ls="none", marker="*", ms=11, mfc="none", mec="red", mew=1.2,
                              label="optimum at grid edge"))
    return handles


def panel_label(index: int, count: int = 2) -> str:
    """"(a) ", "(b) ", … for the panels of a figure with more than one, "" otherwise."""
    return f"({chr(ord('a') + index)}) " if count > 1 else ""


def width_label(width: int, n_max: int | None = None) -> str:
    return f"n = {int(width)}" + (" (∞)" if n_max is not None and int(width) == int(n_max) else "")


def width_handles(widths, colors: dict | None = None, n_max: int | None = None, **line) -> list:
    colors = colors or width_colors(widths)
    style = dict(marker="o", ms=4, lw=1.5) | line
    return [Line2D([], [], color=colors[w], label=width_label(w, n_max), **style) for w in widths]


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
