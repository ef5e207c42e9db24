"""Algorithms 1 and 2 of the paper (App. C; paper.md §4.5): choosing the truncation kappa-hat(n).

Notation. One swept hyperparameter with grid nu_1 < ... < nu_g (in the analysis coordinate). For a
width n, ``phi_n`` is a g x n array whose column k-1 holds phi^k(nu_i), the cumulative top-k
linearised loss change; its last column is the total phi_n. ``phi_max`` is the same for the
largest width n_max (g x n_max), which stands in for infinity. A truncation vector
kappa = (kappa_1..kappa_g), kappa_i in [n] = {1..n}, picks one index per grid point. Point sets
{(nu_i, y_i)} are read as piecewise-linear interpolants.

* J_proxy(kappa; tau) = mean_i |phi_n^{kappa_i}(nu_i) - phi_max^{kappa_i}(nu_i)|
                        + tau1 Lip(phi_n^{-kappa}) + tau2 Lip(phi_max^{-kappa}),
  with residuals phi^{-kappa}(nu_i) = phi(nu_i) - phi^{kappa_i}(nu_i).
* Algorithm 2 (coordinate descent): kappa_i = n/2 for all i; sweep i = 1..g setting kappa_i to the
  argmin over k in [n] of J_proxy with kappa_i := k, until a full sweep changes nothing.
* Algorithm 1: for tau pairs from T x T sorted by tau1 + tau2 (ties by tau1), run Algorithm 2 and
  accept the first kappa with E_cvx = max(ConvErr(phi_n^kappa), ConvErr(phi_max^kappa)) <= eps_cvx
  and Delta = max(|argmin phi_n^kappa - argmin phi_n|, |argmin phi_max^kappa - argmin phi_max|)
  <= eps_amin (discrete argmins over the grid, in nu units); FAIL if none is accepted.

Defaults (paper.md §7): eps_cvx = 1/(g-2) (at most one non-convex interior point), eps_amin = one
grid step in nu units, T = DEFAULT_TAUS. The phi arrays are seed-averaged before the algorithm.
"""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..config import defaults
from ..io import describe, in_sweep_units, metric_units
from .coords import coordinate_name, hp_coordinate, map_over_param

__all__ = [
    "DEFAULT_TAUS",
    "KappaResult",
    "ProxyObjective",
    "analyze_kappa",
    "conv_err",
    "j_proxy",
    "kappa_config",
    "lipschitz",
    "minimize_proxy",
    "run_algorithm1",
    "second_derivative",
    "select_kappa",
    "tau_pairs",
]

log = logging.getLogger(__name__)

DEFAULT_TAUS = defaults.KAPPA_TAUS
# relative slack when comparing Delta with eps_amin: Delta is a difference of grid values, which
# must pass when it equals one grid step up to rounding
_AMIN_SLACK = 1e-9


# ---------------------------------------------------------------------------------------------
# discrete helpers (paper.md §4.5)
# ---------------------------------------------------------------------------------------------


def second_derivative(nu, y) -> np.ndarray:
    """Three-point second derivative at the interior points i = 2..g-1 (length g-2)."""
    nu, y = np.asarray(nu, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xm, x0, xp = nu[:-2], nu[1:-1], nu[2:]
    ym, y0, yp = y[:-2], y[1:-1], y[2:]
    return 2.0 * (ym / ((xm - x0) * (xm - xp)) + y0 / ((x0 - xm) * (x0 - xp)) + yp / ((xp - xm) * (xp - x0)))


def conv_err(nu, y) -> float:
    """Fraction of interior grid points with a negative three-point second derivative."""
    d2 = second_derivative(nu, y)
    return float(np.mean(d2 < 0)) if d2.size else 0.0


def lipschitz(nu, y) -> float:
    """Largest absolute slope of the piecewise-linear interpolant of (nu, y)."""
    return float(np.max(np.abs(np.diff(y) / np.diff(nu))))


def _top_kappa(phi: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """phi^{kappa_i}(nu_i) for every grid point i (kappa counts directions, 1-based)."""
    return phi[np.arange(phi.shape[0]), np.asarray(kappa) - 1]


def j_proxy(phi_n, phi_max, nu, kappa, tau1: float, tau2: float) -> float:
    """J_proxy(kappa; tau) exactly as written in paper.md §4.5 (reference implementation)."""
    phi_n, phi_max = np.asarray(phi_n, np.float64), np.asarray(phi_max, np.float64)
    n = phi_n.shape[1]
    top_n, top_max = _top_kappa(phi_n, kappa), _top_kappa(phi_max, kappa)
    residual_n = phi_n[:, n - 1] - top_n
    residual_max = phi_max[:, -1] - top_max
    return float(
        np.mean(np.abs(top_n - top_max)) + tau1 * lipschitz(nu, residual_n) + tau2 * lipschitz(nu, residual_max)
    )


# ---------------------------------------------------------------------------------------------
# Algorithm 2
# ---------------------------------------------------------------------------------------------


class ProxyObjective:
    """J_proxy with the per-coordinate score over all k vectorised (O(n + g) per coordinate), the
    inner loop of Algorithm 2; :func:`j_proxy` is the reference it must agree with.

    Changing kappa_i only moves residual point i, so only the ell_1 term i and the two slopes
    adjacent to point i depend on k; everything else is a constant for that coordinate.
    """

    def __init__(self, phi_n: np.ndarray, phi_max: np.ndarray, nu: np.ndarray):
        g, n = phi_n.shape
        self.nu, self.g, self.n = nu, g, n
        self.gap = np.abs(phi_n - phi_max[:, :n])  # ell_1 term for every (i, k)
        # residual of every candidate k: total minus top-k (n and n_max, width-n indices)
        self.res_n = phi_n[:, n - 1 : n] - phi_n
        self.res_max = phi_max[:, -1:] - phi_max[:, :n]
        self.dnu = np.diff(nu)

    def _lip_with_point_free(self, res: np.ndarray, kappa: np.ndarray, i: int) -> np.ndarray:
        """Lip of the residual curve with point i replaced by every candidate k (length n)."""
        r = res[np.arange(self.g), kappa - 1]
        slopes = np.abs(np.diff(r) / self.dnu)
        fixed = np.delete(slopes, [s for s in (i - 1, i) if 0 <= s < self.g - 1])
        lip = np.full(self.n, fixed.max() if fixed.size else 0.0)
        if i > 0:
            lip = np.maximum(lip, np.abs(res[i] - r[i - 1]) / self.dnu[i - 1])
        if i < self.g - 1:
            lip = np.maximum(lip, np.abs(r[i + 1] - res[i]) / self.dnu[i])
        return lip

    def scores(self, kappa: np.ndarray, i: int, tau1: float, tau2: float) -> np.ndarray:
        """J_proxy(kappa with kappa_i := k; tau) for k = 1..n (index k-1)."""
        others = self.gap[np.arange(self.g), kappa - 1].sum() - self.gap[i, kappa[i] - 1]
        return (
            (others + self.gap[i]) / self.g
            + tau1 * self._lip_with_point_free(self.res_n, kappa, i)
            + tau2 * self._lip_with_point_free(self.res_max, kappa, i)
        )


def _minimize(proxy: ProxyObjective, tau1: float, tau2: float, max_sweeps: int) -> np.ndarray:
    kappa = np.full(proxy.g, max(proxy.n // 2, 1), dtype=np.int64)
    for _ in range(max_sweeps):
        changed = False
        for i in range(proxy.g):
            score = proxy.scores(kappa, i, tau1, tau2)
            best = int(np.argmin(score))
            # ties keep the current index: then every change strictly lowers J and the descent
            # terminates (the paper leaves ties unspecified)
            if score[best] < score[kappa[i] - 1]:
                kappa[i] = best + 1
                changed = True
        if not changed:
            return kappa
    log.warning("Algorithm 2 did not converge in %d sweeps; returning the last kappa", max_sweeps)
    return kappa


def _as_arrays(phi_n, phi_max, nu):
    phi_n = np.asarray(phi_n, dtype=np.float64)
    phi_max = np.asarray(phi_max, dtype=np.float64)
    nu = np.asarray(nu, dtype=np.float64)
    g = nu.size
    if phi_n.ndim != 2 or phi_max.ndim != 2 or phi_n.shape[0] != g or phi_max.shape[0] != g:
        raise ValueError(f"phi arrays must be g x k with g = {g}: {phi_n.shape}, {phi_max.shape}")
    if phi_max.shape[1] < phi_n.shape[1]:
        raise ValueError("phi_max needs at least as many columns as phi_n (n <= n_max)")
    if g < 3:
        raise ValueError("Algorithm 1 needs at least 3 grid points (ConvErr uses interior points)")
    if np.any(np.diff(nu) <= 0):
        raise ValueError("nu grid must be strictly increasing")
    if not (np.all(np.isfinite(phi_n)) and np.all(np.isfinite(phi_max))):
        raise ValueError("phi arrays must be finite (drop diverged grid points first)")
    return phi_n, phi_max, nu


def minimize_proxy(phi_n, phi_max, nu, tau1: float, tau2: float, max_sweeps: int = 10_000):
    """Algorithm 2 (MinimizeProxy): coordinate descent on J_proxy; returns kappa (ints in [n])."""
    phi_n, phi_max, nu = _as_arrays(phi_n, phi_max, nu)
    return _minimize(ProxyObjective(phi_n, phi_max, nu), tau1, tau2, max_sweeps)


# ---------------------------------------------------------------------------------------------
# Algorithm 1
# ---------------------------------------------------------------------------------------------


def tau_pairs(taus=DEFAULT_TAUS) -> list[tuple[float, float]]:
    """T x T sorted by tau1 + tau2, ties broken by tau1."""
    return sorted(((t1, t2) for t1 in taus for t2 in taus), key=lambda p: (p[0] + p[1], p[0]))


class KappaResult(NamedTuple):
    """Result of Algorithm 1 for one width; ``kappa`` is None (and the rest NaN) on FAIL."""

    kappa: np.ndarray | None
    tau1: float
    tau2: float
    conv_err: float
    delta: float
    j_proxy: float
    n_tried: int


def _acceptance(phi_n, phi_max, nu, kappa) -> tuple[float, float]:
    """(E_cvx, Delta) of Algorithm 1 step 2b-c for a truncation vector kappa."""
    n = phi_n.shape[1]
    top_n, top_max = _top_kappa(phi_n, kappa), _top_kappa(phi_max, kappa)
    e_cvx = max(conv_err(nu, top_n), conv_err(nu, top_max))
    delta = max(
        abs(nu[np.argmin(top_n)] - nu[np.argmin(phi_n[:, n - 1])]),
        abs(nu[np.argmin(top_max)] - nu[np.argmin(phi_max[:, -1])]),
    )
    return e_cvx, float(delta)


def default_tolerances(nu) -> tuple[float, float]:
    """(eps_cvx, eps_amin) of paper.md §7: 1/(g-2) and one grid step (median spacing) in nu."""
    nu = np.asarray(nu, dtype=np.float64)
    return 1.0 / (nu.size - 2), float(np.median(np.diff(nu)))


def run_algorithm1(phi_n, phi_max, nu, taus=None, eps_cvx=None, eps_amin=None, max_sweeps: int = 10_000) -> KappaResult:
    """Algorithm 1 for one width n < n_max: the first accepted tau pair's kappa, or FAIL."""
    phi_n, phi_max, nu = _as_arrays(phi_n, phi_max, nu)
    default_cvx, default_amin = default_tolerances(nu)
    eps_cvx = default_cvx if eps_cvx is None else eps_cvx
    eps_amin = default_amin if eps_amin is None else eps_amin
    proxy = ProxyObjective(phi_n, phi_max, nu)
    pairs = tau_pairs(DEFAULT_TAUS if taus is None else taus)
    for tried, (tau1, tau2) in enumerate(pairs, start=1):
        kappa = _minimize(proxy, tau1, tau2, max_sweeps)
        e_cvx, delta = _acceptance(phi_n, phi_max, nu, kappa)
        if e_cvx <= eps_cvx and delta <= eps_amin * (1 + _AMIN_SLACK):
            return KappaResult(kappa, tau1, tau2, e_cvx, delta, j_proxy(phi_n, phi_max, nu, kappa, tau1, tau2), tried)
    return KappaResult(None, np.nan, np.nan, np.nan, np.nan, np.nan, len(pairs))


def select_kappa(phi_n, phi_max, nu, taus=None, eps_cvx=None, eps_amin=None):
    """kappa-hat(n) of Algorithm 1 (ints in [n], one per grid point), or None for FAIL."""
    return run_algorithm1(phi_n, phi_max, nu, taus, eps_cvx, eps_amin).kappa


# ---------------------------------------------------------------------------------------------
# sweep -> kappa.nc
# ---------------------------------------------------------------------------------------------


def _seed_mean_phi(sweep: xr.Dataset, cfg: dict) -> xr.DataArray:
    """phi_k at the analysis step, averaged over seeds; NaN where any seed is missing/diverged."""
    phi = sweep["phi_k"]
    if "analysis_step" in phi.dims:
        step = cfg.get("analysis_step")
        phi = phi.isel(analysis_step=-1) if step is None else phi.sel(analysis_step=step)
    if "seed" in phi.dims:
        # skipna=False: a diverged seed has no meaningful decomposition, so its grid point is
        # dropped (as its loss counts as +inf in the optimum analysis)
        phi = phi.mean("seed", skipna=False)
    return phi


def _check_k_coordinate(phi: xr.DataArray) -> None:
    k = phi["k"].values
    if not np.array_equal(k, np.arange(1, k.size + 1)):
        raise ValueError("phi_k's k coordinate must be 1..K (column k-1 holds phi^k)")


def _curves(phi_n: np.ndarray, phi_max: np.ndarray, kappa: np.ndarray | None, usable: np.ndarray):
    """Total, top-kappa and residual curves over the full grid (NaN off the usable points)."""
    g, n = usable.size, phi_n.shape[1]
    total_n, total_max = phi_n[:, n - 1], phi_max[:, -1]
    top_n, top_max = np.full(g, np.nan), np.full(g, np.nan)
    if kappa is not None:
        rows = np.flatnonzero(usable)
        top_n[rows] = phi_n[rows, kappa[rows] - 1]
        top_max[rows] = phi_max[rows, kappa[rows] - 1]
    return dict(
        phi_n=total_n,
        phi_max=total_max,
        phi_n_kappa=top_n,
        phi_max_kappa=top_max,
        residual_n=total_n - top_n,
        residual_max=total_max - top_max,
    )


def _analyze_width(phi_n, phi_max, nu, algo: dict) -> tuple[dict, dict]:
    """Algorithm 1 for one width on its usable (finite) grid points.

    Returns (per-width scalars, per-hp curves over the full grid).
    """
    usable = np.all(np.isfinite(phi_n), axis=1) & np.all(np.isfinite(phi_max), axis=1)
    kappa_full = np.full(nu.size, -1, dtype=np.int64)
    eps_cvx, eps_amin = np.nan, np.nan
    if usable.sum() >= 3:
        # tolerance defaults refer to the grid the algorithm actually sees (diverged points gone)
        default_cvx, default_amin = default_tolerances(nu[usable])
        eps_cvx = default_cvx if algo["eps_cvx"] is None else algo["eps_cvx"]
        eps_amin = default_amin if algo["eps_amin"] is None else algo["eps_amin"]
        res = run_algorithm1(phi_n[usable], phi_max[usable], nu[usable], algo["taus"], eps_cvx, eps_amin)
    else:
        log.warning("fewer than 3 usable grid points: kappa FAIL")
        res = KappaResult(None, np.nan, np.nan, np.nan, np.nan, np.nan, 0)
    if res.kappa is not None:
        kappa_full[usable] = res.kappa
    scalars = dict(
        failed=res.kappa is None,
        tau1=res.tau1,
        tau2=res.tau2,
        conv_err=res.conv_err,
        delta=res.delta,
        j_proxy=res.j_proxy,
        n_usable=int(usable.sum()),
        eps_cvx=float(eps_cvx),
        eps_amin=float(eps_amin),
    )
    curves = _curves(phi_n, phi_max, kappa_full if res.kappa is not None else None, usable)
    curves["kappa"] = kappa_full
    return scalars, curves


_KAPPA_ATTRS = {
    "kappa": ("truncation index kappa-hat(n) (Algorithm 1); -1 = FAIL or unusable grid point", "directions"),
    "failed": ("Algorithm 1 found no acceptable tau pair (FAIL)", "1"),
    "tau1": ("accepted tau1 (weight of Lip of the width-n residual)", "1"),
    "tau2": ("accepted tau2 (weight of Lip of the n_max residual)", "1"),
    "conv_err": ("E_cvx = max ConvErr of the top-kappa curves at n and n_max", "1"),
    "delta": ("argmin proximity Delta of Algorithm 1", "nu"),
    "j_proxy": ("J_proxy(kappa-hat; tau) at the accepted tau", "loss"),
    "n_usable": ("grid points with finite seed-mean phi at n and n_max", "1"),
    "eps_cvx": ("convexity tolerance used (default 1/(g-2) on the usable grid)", "1"),
    "eps_amin": ("argmin tolerance used (default one grid step on the usable grid)", "nu"),
    "phi_n": ("total linearised loss change phi_n (seed mean)", "loss"),
    "phi_max": ("total linearised loss change at n_max (seed mean)", "loss"),
    "phi_n_kappa": ("top-kappa loss curve phi_n^kappa", "loss"),
    "phi_max_kappa": ("top-kappa loss at n_max with the width-n kappa", "loss"),
    "residual_n": ("residual loss curve phi_n - phi_n^kappa", "loss"),
    "residual_max": ("residual at n_max, phi_max - phi_max^kappa", "loss"),
}


def _analyze_kappa_single(sweep: xr.Dataset, cfg: dict) -> xr.Dataset:
    hp = sweep.attrs["hp"]
    phi = _seed_mean_phi(sweep, cfg).sortby(hp)
    _check_k_coordinate(phi)
    phi = phi.transpose("width", hp, "k")
    widths = np.sort(phi["width"].values)
    grid = phi[hp].values
    nu = hp_coordinate(hp, grid)
    n_max = int(widths.max())
    taus = cfg.get("taus")
    algo = dict(taus=None if taus is None else tuple(taus), eps_cvx=cfg.get("eps_cvx"), eps_amin=cfg.get("eps_amin"))
    phi_max = phi.sel(width=n_max).values[:, :n_max]
    per_width, per_curve = [], []
    for n in widths[widths < n_max]:
        scalars, curves = _analyze_width(phi.sel(width=n).values[:, : int(n)], phi_max, nu, algo)
        if scalars["failed"]:
            log.warning("kappa-hat(%d): Algorithm 1 FAIL", n)
        per_width.append(scalars)
        per_curve.append(curves)
    small = widths[widths < n_max]
    data = {}
    for name in ("failed", "tau1", "tau2", "conv_err", "delta", "j_proxy", "n_usable", "eps_cvx", "eps_amin"):
        data[name] = ("width", np.array([s[name] for s in per_width]))
    for name in ("kappa", "phi_n", "phi_max", "phi_n_kappa", "phi_max_kappa", "residual_n", "residual_max"):
        stacked = np.array([c[name] for c in per_curve]).reshape(len(small), nu.size)
        data[name] = (("width", hp), stacked)
    ds = xr.Dataset(
        data,
        coords={
            "width": small.astype(np.int64),
            hp: grid,
            "nu": (hp, nu, {"long_name": "hp coordinate", "units": coordinate_name(hp)}),
        },
    )
    for name, (long_name, units) in _KAPPA_ATTRS.items():
        ds[name].attrs.update(long_name=long_name, units=coordinate_name(hp) if units == "nu" else units)
    ds["width"].attrs.update(long_name="width n (< n_max)", units="1")
    step = cfg.get("analysis_step")
    ds.attrs.update(
        hp=hp,
        n_max=n_max,
        study=sweep.attrs.get("study", ""),
        method="Algorithm 1-2 (paper App. C / spec 4.5); phi_k seed-averaged before the algorithm; "
        "diverged grid points dropped; coordinate descent ties keep the current index",
        taus=json.dumps(list(algo["taus"] or DEFAULT_TAUS)),
        analysis_step="last" if step is None else json.dumps(step),
    )
    return ds


KAPPA_KEYS = ("analysis_step", "taus", "eps_cvx", "eps_amin")


def kappa_config(cfg: dict | None) -> dict:
    """The Algorithm 1 settings from a study's ``analysis`` block.

    They may sit in its ``kappa`` sub-block (as in the config schema) or at the top level; the
    sub-block wins. The study's ``step`` (the step the whole analysis reads) sets ``analysis_step``
    unless one of those names it. Other keys (the transfer analysis settings) are ignored.
    """
    cfg = dict(cfg or {})
    merged = {key: cfg[key] for key in KAPPA_KEYS if key in cfg}
    if cfg.get("step") is not None:  # the study's analysis step, unless the kappa block names its own
        merged["analysis_step"] = cfg["step"]
    merged.update({key: value for key, value in dict(cfg.get("kappa") or {}).items() if key in KAPPA_KEYS})
    return merged


def analyze_kappa(sweep: xr.Dataset, cfg: dict | None = None) -> xr.Dataset:
    """kappa.nc from a sweep: Algorithm 1 for every width n < n_max (per param if present).

    cfg: a study's ``analysis`` block; its ``kappa`` sub-block (or top-level keys) may set
    ``analysis_step`` (coordinate value; default the last step), ``taus``, ``eps_cvx``,
    ``eps_amin`` (defaults of paper.md §7, computed per width on its usable grid).
    """
    settings = kappa_config(cfg)
    ds = describe(map_over_param(sweep, lambda part: _analyze_kappa_single(part, settings)))
    return in_sweep_units(ds, metric_units(sweep), sweep.attrs["hp"])
