"""Paper Fig 35 (image MLP + SGD): like Fig 9 — residual loss curves at width n and at n_max near the
top-κ minimisers — for the subset of widths of Fig 34 (setting ``widths``)."""
from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .fig09_residuals import draw as draw_fig09
from .fig34_topk_curves import width_subset


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    settings = dict(settings)
    kappa = width_subset(inputs["kappa"], settings)
    settings.pop("widths", None)
    return draw_fig09({**inputs, "kappa": kappa}, settings)
