"""What a figure shows, read from its datasets and settings: the swept value(s) and top-k it picks,
the widths it keeps, the datasets of each study of a multi-study figure, fitted parameters, and the
seed statistics of a sweep. No drawing here."""

from __future__ import annotations

import numpy as np
import xarray as xr

# ------------------------------------------------------------------------------- swept values


def nearest_grid_value(sweep: xr.Dataset, value: float, hp: str | None = None) -> float:
    """The grid point of ``hp`` (default: the swept hyperparameter) nearest to ``value`` in log space."""
    grid = sweep[hp or sweep.attrs["hp"]].values
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
    (nearest grid points); by default the one :func:`chosen_hp_value` picks, and with
    ``with_smallest`` the smallest grid value before it (the largest where that is the smallest)."""
    hp = sweep.attrs["hp"]
    wanted = settings.get(hp)
    if wanted is None and settings.get("with_smallest", False):
        grid = sorted(float(v) for v in sweep[hp].values)
        best = chosen_hp_value(sweep, {})
        wanted = [grid[0], best if best != grid[0] else grid[-1]]
    if isinstance(wanted, (list, tuple)):
        return [nearest_grid_value(sweep, v) for v in wanted]
    return [chosen_hp_value(sweep, settings)]


def chosen_topk(sweep: xr.Dataset, settings: dict) -> int:
    ks = sweep["topk"].values
    return int(settings.get("k", ks[0]))


# ------------------------------------------------------------------------------ widths, studies

# ``widths`` setting: the smallest, a middle and the largest width (the paper's {128, 1024, 4096})
ENDS_AND_MIDDLE = "ends_and_middle"


def width_subset(kappa: xr.Dataset, settings: dict) -> xr.Dataset:
    """kappa.nc restricted to the widths ``settings["widths"]`` (a list, or ``"ends_and_middle"``);
    all of them where the setting is absent."""
    wanted = settings.get("widths")
    if wanted is None:
        return kappa
    widths = [int(w) for w in kappa["width"].values]
    if wanted == ENDS_AND_MIDDLE:
        chosen = sorted({widths[0], widths[len(widths) // 2], widths[-1]}) if widths else []
    else:
        chosen = [w for w in widths if w in {int(v) for v in wanted}]
    return kappa.sel(width=chosen)


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


# ------------------------------------------------------------------------------ numbers to draw


def valid_steps(da: xr.DataArray, dim: str = "eval_step") -> xr.DataArray:
    """Drop the NaN padding of shorter (diverged) runs."""
    return da.dropna(dim)


def seed_stats(da: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Seed mean (NaN where any seed diverged, as in the analysis) and seed standard deviation."""
    if "seed" not in da.dims:
        return da, xr.zeros_like(da)
    std = da.std("seed", skipna=False, ddof=1) if da.sizes["seed"] > 1 else xr.zeros_like(da.isel(seed=0))
    return da.mean("seed", skipna=False), std


def seed_std(values: np.ndarray) -> np.ndarray:
    """Standard deviation over seeds (axis 0); NaN where a seed is missing, 0 with one seed."""
    if values.shape[0] < 2:
        return np.zeros(values.shape[1:])
    return np.std(values, axis=0, ddof=1)


def final_linearized(sweep: xr.Dataset) -> xr.DataArray | None:
    """Seed-mean linearised loss L(w̄_0) + φ at each run's last EMA point (NaN for diverged runs)."""
    if "loss_linearized" not in sweep:
        return None
    lin = sweep["loss_linearized"].transpose(..., "eval_step")
    values = lin.values
    finite = np.isfinite(values)
    # each run's last finite point (shorter runs are NaN-padded)
    last_idx = np.where(finite.any(-1), values.shape[-1] - 1 - np.argmax(finite[..., ::-1], axis=-1), 0)
    last = np.take_along_axis(values, last_idx[..., None], axis=-1)[..., 0]
    last = xr.DataArray(last, dims=lin.dims[:-1], coords={d: lin[d] for d in lin.dims[:-1]})
    return last.where(~sweep["diverged"]).mean("seed", skipna=False)


def fit_params(transfer: xr.Dataset, prefix: str, names: tuple[str, ...]) -> dict:
    """One fit of transfer.nc (``fit_opt``, ``fit_transfer``, ``lr_law``): its parameters and their
    standard errors ``<name>_se`` (NaN where absent) and ``identified`` (False where the analysis
    found the exponent on a bound)."""
    keys = [key for name in names for key in (name, f"{name}_se")]
    out = {key: float(transfer[f"{prefix}_{key}"]) if f"{prefix}_{key}" in transfer else np.nan for key in keys}
    out["identified"] = bool(transfer[f"{prefix}_identified"]) if f"{prefix}_identified" in transfer else True
    return out
