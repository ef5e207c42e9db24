"""Small helpers shared by figure modules (selection of the run a figure shows)."""
from __future__ import annotations

import numpy as np
import xarray as xr


def nearest_grid_value(sweep: xr.Dataset, value: float) -> float:
    grid = sweep[sweep.attrs["hp"]].values
    return float(grid[np.argmin(np.abs(np.log(grid) - np.log(value)))])


def chosen_hp_value(sweep: xr.Dataset, settings: dict) -> float:
    """The swept value a figure shows: ``settings[hp]`` if given (nearest grid point), else the grid
    point with the lowest seed-mean loss at the smallest width."""
    hp = sweep.attrs["hp"]
    if hp in settings:
        return nearest_grid_value(sweep, settings[hp])
    grid = sweep[hp].values
    metric = sweep.attrs.get("metric", "final_loss_ema")
    mean = sweep[metric].isel(width=0).mean("seed").fillna(np.inf)
    return float(grid[int(np.argmin(mean.values))])


def chosen_hp_values(sweep: xr.Dataset, settings: dict) -> list[float]:
    """The swept values a figure shows, one panel each: ``settings[hp]`` may be one value or a list
    (nearest grid points); by default the one :func:`chosen_hp_value` picks."""
    wanted = settings.get(sweep.attrs["hp"])
    if isinstance(wanted, (list, tuple)):
        return [nearest_grid_value(sweep, v) for v in wanted]
    return [chosen_hp_value(sweep, settings)]


def study_inputs(inputs: dict[str, xr.Dataset], names: tuple[str, ...]) -> list[dict[str, xr.Dataset]]:
    """This study's datasets ``names``, then each companion study's (inputs ``<role>_<name>``, in the
    order the catalogue lists the companions), as one dict per study."""
    roles: list[str] = []
    for key in inputs:
        for name in names:
            role = key[: -len(name) - 1] if key.endswith(f"_{name}") else ""
            if role and role not in roles:
                roles.append(role)
    return [{n: inputs[n] for n in names}] + [{n: inputs[f"{role}_{n}"] for n in names} for role in roles]


def chosen_topk(sweep: xr.Dataset, settings: dict) -> int:
    ks = sweep["topk"].values
    return int(settings.get("k", ks[0]))


def valid_steps(da: xr.DataArray, dim: str = "eval_step") -> xr.DataArray:
    """Drop the NaN padding of shorter (diverged) runs."""
    return da.dropna(dim)


def fit_params(transfer: xr.Dataset, prefix: str, names: tuple[str, ...]) -> dict:
    """One fit of transfer.nc (``fit_opt``, ``fit_transfer``, ``lr_law``): its parameters and their
    standard errors ``<name>_se`` (NaN where absent) and ``identified`` (False where the analysis
    found the exponent on a bound)."""
    keys = [key for name in names for key in (name, f"{name}_se")]
    out = {key: float(transfer[f"{prefix}_{key}"]) if f"{prefix}_{key}" in transfer else np.nan for key in keys}
    out["identified"] = bool(transfer[f"{prefix}_identified"]) if f"{prefix}_identified" in transfer else True
    return out
