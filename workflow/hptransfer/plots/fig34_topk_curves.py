"""Paper Fig 34 (image MLP + SGD): like Fig 8 — total, top-κ and n_max top-κ linearised loss curves —
for a subset of widths against n_max (∞). Settings: ``widths`` (default: the smallest, a middle and
the largest width below n_max, as the paper's {128, 1024, 4096}); others as Fig 8."""
from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from .fig08_topk_curves import draw as draw_fig08


def width_subset(kappa: xr.Dataset, settings: dict) -> xr.Dataset:
    """kappa.nc restricted to the widths shown (all of them below n_max)."""
    widths = [int(w) for w in kappa["width"].values]
    if "widths" in settings:
        chosen = [w for w in widths if w in {int(v) for v in settings["widths"]}]
    else:
        chosen = sorted({widths[0], widths[len(widths) // 2], widths[-1]}) if widths else []
    return kappa.sel(width=chosen)


def draw(inputs: dict[str, xr.Dataset], settings: dict) -> Figure:
    settings = dict(settings)
    kappa = width_subset(inputs["kappa"], settings)
    settings.pop("widths", None)
    return draw_fig08({**inputs, "kappa": kappa}, settings)
