"""Schematic of the three convergent quantities a_n, b_n, c_n (paper Fig 3; paper.md §1.3, §6).

No data: the curves are explicit quadratics φ_n(ν) = φ*_n + (κ_n/2)(ν − ν*(n))² with
φ*_n = φ*_∞ + A n^{−α}, ν*(n) = ν*(∞) − B n^{−β}, κ_n = κ_∞ (1 + C/n), converging to φ_∞ (red
dash-dot, "n = ∞"). Panel (a) marks the loss gap a_n = |φ*_n − φ*_∞|, (b) the HP gap
b_n = |ν*(n) − ν*(∞)|, (c) drops ν*(n) onto φ_∞ and marks the transfer gap c_n = φ_∞(ν*(n)) − φ*_∞.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.figure import Figure

from .style import INFINITY_COLOR, new_figure, width_colors

DEFAULT_SETTINGS = {
    "widths": [1, 2, 4, 8],  # schematic widths n (small n = light yellow, large n = dark purple)
    "annotate_width": 1,  # the width whose gaps are drawn
    "alpha": 1.0,  # loss-gap rate a_n ~ n^-alpha
    "beta": 0.5,  # HP-gap rate b_n ~ n^-beta (beta = alpha/2: the agnostic rate)
    "loss_scale": 0.6,  # A
    "hp_scale": 0.9,  # B
    "curvature": 1.0,  # κ_∞
    "curvature_shift": 0.5,  # C
    "width_in": 10.5,  # figure size (inches), as for every figure (style.new_figure)
    "height_in": 3.6,
}

# ν where the vertical gap arrows of panels (a) and (c) stand, right of every minimiser.
ARROW_NU = 0.75


@dataclass(frozen=True)
class Parabola:
    minimiser: float
    minimum: float
    curvature: float

    def __call__(self, nu: np.ndarray) -> np.ndarray:
        return self.minimum + 0.5 * self.curvature * (nu - self.minimiser) ** 2


def schematic_curves(settings: dict) -> tuple[dict[int, Parabola], Parabola]:
    """φ_n for each width and the limit φ_∞ (ν*(∞) = 0, φ*_∞ = 1)."""
    limit = Parabola(0.0, 1.0, settings["curvature"])
    curves = {
        n: Parabola(
            minimiser=-settings["hp_scale"] * n ** -settings["beta"],
            minimum=1.0 + settings["loss_scale"] * n ** -settings["alpha"],
            curvature=settings["curvature"] * (1 + settings["curvature_shift"] / n),
        )
        for n in settings["widths"]
    }
    return curves, limit


def _draw_curves(ax, curves: dict[int, Parabola], limit: Parabola, colors: dict, nu: np.ndarray) -> None:
    for n, curve in curves.items():
        ax.plot(nu, curve(nu), color=colors[n], lw=1.8, label=f"n = {n}")
        ax.plot(curve.minimiser, curve.minimum, marker="*", ms=12, color=colors[n], mec="black", mew=0.6, zorder=5)
    ax.plot(nu, limit(nu), color=INFINITY_COLOR, lw=1.8, ls="-.", label="n = ∞")
    ax.plot(limit.minimiser, limit.minimum, marker="*", ms=13, color=INFINITY_COLOR, mec="black", mew=0.6, zorder=5)


def _gap_arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str, offset: tuple[float, float]):
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        arrowprops={"arrowstyle": "<->", "color": "black", "lw": 1.2, "shrinkA": 0, "shrinkB": 0},
    )
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    # Curves cross the arrows somewhere whatever the placement; a white box keeps labels legible.
    ax.annotate(
        label,
        xy=mid,
        xytext=offset,
        textcoords="offset points",
        fontsize=11,
        ha="center",
        va="center",
        bbox={"fc": "white", "ec": "none", "pad": 1.0},
    )


def _panel_loss_gap(ax, curve: Parabola, limit: Parabola) -> None:
    x = ARROW_NU
    for y in (curve.minimum, limit.minimum):
        ax.hlines(y, min(curve.minimiser, limit.minimiser), x, colors="gray", lw=0.8, ls=":")
    _gap_arrow(ax, (x, limit.minimum), (x, curve.minimum), r"$a_n$", (14, 0))


def _panel_hp_gap(ax, curve: Parabola, limit: Parabola, floor: float) -> None:
    for nu_star, top in ((curve.minimiser, curve.minimum), (limit.minimiser, limit.minimum)):
        ax.vlines(nu_star, floor, top, colors="gray", lw=0.8, ls=":")
    y = floor + 0.04
    _gap_arrow(ax, (curve.minimiser, y), (limit.minimiser, y), r"$b_n$", (0, 10))


def _panel_transfer_gap(ax, curve: Parabola, limit: Parabola, color) -> None:
    nu, dropped = curve.minimiser, float(limit(curve.minimiser))
    ax.vlines(nu, dropped, curve.minimum, colors=color, lw=1.0, ls="--")
    ax.plot(nu, dropped, marker="o", ms=6, color=color, mec="black", mew=0.6, zorder=6)
    ax.hlines([dropped, limit.minimum], nu, ARROW_NU, colors="gray", lw=0.8, ls=":")
    x = ARROW_NU
    _gap_arrow(ax, (x, limit.minimum), (x, dropped), "", (0, 0))
    # The label sits beside the arrow as in (a).
    ax.annotate(
        r"$c_n$",
        xy=(x, (dropped + limit.minimum) / 2),
        xytext=(12, 0),
        textcoords="offset points",
        fontsize=11,
        ha="center",
        va="center",
        bbox={"fc": "white", "ec": "none", "pad": 1.0},
    )


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    """Three panels (a) a_n, (b) b_n, (c) c_n; ``inputs`` is unused (the schematic has no data)."""
    del inputs
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    if s["annotate_width"] not in s["widths"]:
        raise ValueError(f"annotate_width {s['annotate_width']} is not one of widths {s['widths']}")
    curves, limit = schematic_curves(s)
    colors = width_colors(list(s["widths"]))  # small n yellow, large n dark purple
    spread = s["hp_scale"] * min(s["widths"]) ** -s["beta"]
    nu = np.linspace(-spread - 1.0, 1.2, 400)
    floor = limit.minimum - 0.08
    chosen = curves[s["annotate_width"]]

    with sns.axes_style("ticks"):  # a schematic: no grid
        fig, axes = new_figure(3, settings=s, sharey=True)
    titles = [r"(a) loss gap $a_n$", r"(b) HP gap $b_n$", r"(c) transfer gap $c_n$"]
    for ax, title in zip(axes, titles):
        _draw_curves(ax, curves, limit, colors, nu)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(r"hyperparameter $\nu$")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylim(floor, limit.minimum + s["loss_scale"] * min(s["widths"]) ** -s["alpha"] + 0.45)
        ax.set_xlim(nu[0], nu[-1])
        sns.despine(ax=ax)
    axes[0].set_ylabel(r"loss $\phi_n(\nu)$")
    _panel_loss_gap(axes[0], chosen, limit)
    _panel_hp_gap(axes[1], chosen, limit, floor)
    _panel_transfer_gap(axes[2], chosen, limit, colors[s["annotate_width"]])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False, fontsize=9)
    return fig
