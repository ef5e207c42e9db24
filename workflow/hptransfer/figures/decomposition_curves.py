"""Curves derived from the decomposition (topk-curve, residual-curve and profile figures): φ^k at
kappa.nc's analysis step, the per-seed top-κ and residual curves behind kappa.nc's seed means, and
the smooth curves through them with their optima (as the analysis finds them).

Notation (paper.md §4.3): φ_n = φ^n (total linearised loss change at width n), φ_n^κ = φ^{κ(ν)} at
width n, φ_{n_max}^κ the same truncation applied to the n_max run (the ∞ proxy); residuals are
φ − φ^κ. kappa.nc holds the seed means; the sweep's ``phi_k`` gives the seeds for error bars.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

import numpy as np
import xarray as xr

from ..analysis import find_optimum, fit_interpolant, hp_coordinate

OPTIMUM_LOGGER = "hptransfer.analysis.optimum"


@contextmanager
def quiet_optimum():
    """find_optimum warns about edge optima; a figure marks them with hollow stars instead."""
    logger = logging.getLogger(OPTIMUM_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def phi_at_analysis_step(sweep: xr.Dataset, kappa: xr.Dataset | None = None) -> xr.DataArray:
    """sweep.phi_k at the analysis step kappa.nc was computed at (the last one by default),
    with dims (width, hp, seed, k), sorted by the swept value."""
    phi = sweep["phi_k"]
    if "analysis_step" in phi.dims:
        step = kappa.attrs.get("analysis_step", "last") if kappa is not None else "last"
        phi = phi.isel(analysis_step=-1) if step == "last" else phi.sel(analysis_step=json.loads(str(step)))
    hp = sweep.attrs["hp"]
    return phi.sortby(hp)


def seed_curves(
    phi: xr.DataArray, hp: str, grid: np.ndarray, width: int, n_max: int, kappa_idx: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-seed curves over ``grid`` (arrays seed × grid): total at n and n_max, and, given κ
    (one index per grid point, ≤ 0 where unusable), top-κ and residuals at n and n_max."""
    at_n = phi.sel(width=width).sel({hp: grid}).transpose("seed", hp, "k").values
    at_max = phi.sel(width=n_max).sel({hp: grid}).transpose("seed", hp, "k").values
    out = {"total_n": at_n[:, :, int(width) - 1], "total_max": at_max[:, :, int(n_max) - 1]}
    if kappa_idx is not None:
        ok = np.asarray(kappa_idx) >= 1
        idx = np.where(ok, np.asarray(kappa_idx) - 1, 0)
        cols = np.arange(grid.size)
        top_n = np.where(ok, at_n[:, cols, idx], np.nan)
        top_max = np.where(ok, at_max[:, cols, idx], np.nan)
        out.update(
            top_n=top_n, top_max=top_max, residual_n=out["total_n"] - top_n, residual_max=out["total_max"] - top_max
        )
    return out


def smooth(nu: np.ndarray, y: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The analysis' spline interpolant through (nu, y) on a fine grid (NaN where undefined)."""
    nu, y = np.asarray(nu, float), np.asarray(y, float)
    fine = np.linspace(nu.min(), nu.max(), points)
    if np.isfinite(y).sum() < 2:
        return fine, np.full(fine.shape, np.nan)
    curve = np.asarray(fit_interpolant(nu, y)(fine), dtype=float)
    curve[~np.isfinite(curve)] = np.nan
    return fine, curve


def optimum(nu: np.ndarray, y: np.ndarray) -> tuple[float, float, bool]:
    """(nu*, value*, at_edge) of a curve, as the analysis finds optima (spline minimiser)."""
    if not np.isfinite(y).any():
        return np.nan, np.nan, False
    with quiet_optimum():
        opt = find_optimum(nu, y)
    return opt.nu_star, opt.loss_star, opt.at_edge


def grid_nu(kappa: xr.Dataset) -> tuple[str, np.ndarray, np.ndarray]:
    """(hp name, grid values, analysis coordinate nu) of kappa.nc."""
    hp = kappa.attrs["hp"]
    grid = kappa[hp].values
    nu = kappa["nu"].values if "nu" in kappa else hp_coordinate(hp, grid)
    return hp, grid, nu
