"""Paper Fig 33 (image MLP + SGD): κ̂(n) against the learning rate for n < n_max, and the top-k
profile φ_n^k against k at one learning rate for every width — the panels of Fig 10, with a log2 k
axis by default (κ̂(n) ≪ n here). Settings as Fig 10 (``lr``, ``k_max``, ``log_k``)."""
from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .fig10_kappa import draw as draw_fig10


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    return draw_fig10(inputs, {"log_k": True, **settings})
