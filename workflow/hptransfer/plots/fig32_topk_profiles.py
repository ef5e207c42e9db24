"""Paper Fig 32 (GPT-2 + Muon): top-k profiles at two learning rates side by side — the smallest of
the grid (0.001 in the paper, where the profile looks like Llama-Muon's) and a near-optimal one (0.012,
Adam-like). Drawn by :mod:`.fig12_topk_profile`.

Settings: ``lr`` [left, right] (nearest grid points; default: the smallest grid value and the
optimum at the smallest width as Fig 10 picks it, or the largest grid value where that optimum is the
smallest one); others as Fig 12.
"""
from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .common import chosen_hp_value
from .fig12_topk_profile import draw as draw_profiles


def default_values(sweep: xr.Dataset) -> list[float]:
    grid = sorted(float(v) for v in sweep[sweep.attrs["hp"]].values)
    best = chosen_hp_value(sweep, {})
    return [grid[0], best if best != grid[0] else grid[-1]]


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    hp = inputs["sweep"].attrs["hp"]
    return draw_profiles(inputs, {hp: default_values(inputs["sweep"]), **settings})
