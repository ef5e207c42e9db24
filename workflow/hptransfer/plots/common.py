"""Small helpers shared by figure modules (selection of the run a figure shows)."""
from __future__ import annotations

import numpy as np
import xarray as xr


def chosen_hp_value(sweep: xr.Dataset, settings: dict) -> float:
    """The swept value a figure shows: ``settings[hp]`` if given (nearest grid point), else the grid
    point with the lowest seed-mean loss at the smallest width."""
    hp = sweep.attrs["hp"]
    grid = sweep[hp].values
    if hp in settings:
        return float(grid[np.argmin(np.abs(np.log(grid) - np.log(settings[hp])))])
    metric = sweep.attrs.get("metric", "final_loss_ema")
    mean = sweep[metric].isel(width=0).mean("seed").fillna(np.inf)
    return float(grid[int(np.argmin(mean.values))])


def chosen_topk(sweep: xr.Dataset, settings: dict) -> int:
    ks = sweep["topk"].values
    return int(settings.get("k", ks[0]))


def valid_steps(da: xr.DataArray, dim: str = "eval_step") -> xr.DataArray:
    """Drop the NaN padding of shorter (diverged) runs."""
    return da.dropna(dim)
