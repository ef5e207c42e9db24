"""Hyperparameter coordinates and sweep-layout helpers.

Every analysis works in a coordinate ``nu`` in which the swept hyperparameter's grid is (roughly)
evenly spaced and in which curvature, Lipschitz constants and optima are measured (paper.md §4.5,
§7):

* learning rates and any other positive hyperparameter: ``nu = log2(v)``;
* Adam-style momenta (names starting with ``"beta"``): ``nu = log2(1 / (1 - v))``, the log2 of the
  effective averaging window, because the paper spaces the β grids in log effective window.

This module is the single place that makes that decision.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["hp_coordinate", "hp_value", "coordinate_name", "map_over_param"]


def _is_momentum(hp: str) -> bool:
    return hp.lower().startswith("beta")


def coordinate_name(hp: str) -> str:
    """Human-readable description of the coordinate used for ``hp`` (for ``units`` attrs)."""
    return f"log2(1/(1-{hp}))" if _is_momentum(hp) else f"log2({hp})"


def hp_coordinate(hp: str, values) -> np.ndarray:
    """Map hyperparameter values to the analysis coordinate ``nu`` (float64 array).

    Raises ``ValueError`` for values outside the coordinate's domain (a momentum outside [0, 1),
    or a non-positive value of any other hyperparameter) rather than silently producing NaN.
    """
    v = np.asarray(values, dtype=np.float64)
    if _is_momentum(hp):
        if np.any(~np.isfinite(v)) or np.any((v < 0) | (v >= 1)):
            raise ValueError(f"{hp}: momentum values must lie in [0, 1), got {v}")
        return -np.log2(1.0 - v)
    if np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{hp}: values must be positive and finite for a log2 coordinate, got {v}")
    return np.log2(v)


def hp_value(hp: str, nu) -> np.ndarray:
    """Inverse of :func:`hp_coordinate`: the hyperparameter value at coordinate ``nu``.

    NaN maps to NaN, so an undefined optimum stays undefined in hp units.
    """
    x = np.asarray(nu, dtype=np.float64)
    if _is_momentum(hp):
        return 1.0 - np.exp2(-x)
    return np.exp2(x)


def map_over_param(sweep: xr.Dataset, analyse: Callable[[xr.Dataset], xr.Dataset]) -> xr.Dataset:
    """Apply ``analyse`` to each parametrization of a sweep and stack the results along ``param``.

    Sweeps without a ``param`` dimension are analysed directly. Dataset attrs of the first result
    are kept (they record method choices, which are the same for every parametrization).
    """
    if "param" not in sweep.dims:
        return analyse(sweep)
    params = list(sweep["param"].values)
    parts = [analyse(sweep.sel(param=p, drop=True).assign_attrs(sweep.attrs)) for p in params]
    stacked = xr.concat(parts, dim=pd.Index(params, name="param"), combine_attrs="override")
    stacked["param"].attrs.update(long_name="parametrization", units="1")
    return stacked
