"""Optimal hyperparameter per width from a smooth interpolant of the seed-mean loss.

Method (paper.md §5 intro, §7 "Optimal HP / star location")
-----------------------------------------------------------
* Seed means: a diverged run (NaN or inf loss) counts as ``+inf``, so a grid point at which any seed
  diverged has an infinite seed mean (see :func:`seed_mean`). Such a point is excluded from the
  interpolant and can never be the optimum.
* Interpolant: a not-a-knot **cubic spline** in ``nu`` through the finite seed means
  (``scipy.interpolate.CubicSpline``). Why this one:

  - it is C², so the minimiser lies between grid points, as the paper's stars do;
  - it reproduces every polynomial of degree <= 3 exactly, so the minimiser of a quadratic (or
    cubic) bowl planted off-grid is recovered exactly, and that of a smooth bowl to O(step^4);
  - PCHIP / Akima-type monotone interpolants were rejected: PCHIP forces a zero slope at a
    discrete extremum, which pins the optimum to a grid point.

  With two finite points the spline is the straight line, with three it is the parabola.
* Optimum: the discrete argmin of the finite seed means, refined to the minimiser of the spline on
  the bracket formed by that grid point and its two grid neighbours. Restricting the search to the
  bracket means ringing of the spline away from the data minimum can never produce a spurious
  optimum. A neighbour that diverged closes its side of the bracket (the loss is infinite there,
  and the spline is not extrapolated towards it), so an optimum next to the divergence boundary is
  searched on its finite side only. There is no extrapolation beyond the grid.
* Edge flag: the optimum is bracketed only by a grid neighbour on each side at most one grid step
  away (the median spacing of the grid in ``nu``, with half a step of slack for unevenly rounded
  grids: :data:`BRACKET_STEPS`). If the discrete argmin is the first or last grid point, or a
  neighbour is further away (a grid of 0.004 … 0.064 plus 100), the optimum may lie where nothing
  was measured: ``at_edge`` is set and :func:`find_optimum` logs a warning. A diverged neighbour
  within a step brackets the argmin (by the divergence); it is not an edge.
* Uncertainty: a parametric bootstrap (:func:`bootstrap_optimum`): replicate studies whose seed
  means are redrawn with the pooled seed-to-seed noise near the optimum (:func:`replicate_means`),
  valid with as few as two seeds, where resampling seeds is not.

The same interpolant (:func:`fit_interpolant`) serves the optimum, the loss at a transferred
hyperparameter (:func:`loss_at`), the plotted curves and the rate computations.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
from scipy.interpolate import CubicSpline

__all__ = [
    "INTERVAL_METHOD",
    "Interpolant",
    "Optima",
    "Optimum",
    "bootstrap_optimum",
    "find_optima",
    "find_optimum",
    "fit_interpolant",
    "loss_at",
    "pooled_noise",
    "replicate_means",
    "seed_mean",
    "unbracketed",
]

log = logging.getLogger(__name__)

# A neighbour brackets the discrete argmin only within this many median grid spacings (in nu).
BRACKET_STEPS = 1.5


class Optimum(NamedTuple):
    """Optimum of one loss curve.

    ``nu_star``/``loss_star``: minimiser and minimum of the interpolant (NaN if no finite point);
    ``at_edge``: the discrete minimum is not bracketed (a grid end, or a neighbour more than a grid
    step away: :func:`unbracketed`); ``index``: grid index of the discrete minimum (-1 if no finite
    point).
    """

    nu_star: float
    loss_star: float
    at_edge: bool
    index: int


class Optima(NamedTuple):
    """Optima of many loss curves (arrays of length B, fields as in :class:`Optimum`)."""

    nu_star: np.ndarray
    loss_star: np.ndarray
    at_edge: np.ndarray
    index: np.ndarray


def seed_mean(losses, axis: int = -1) -> np.ndarray:
    """Mean over seeds with diverged runs (NaN or +-inf) counted as ``+inf``.

    Why +inf: a hyperparameter at which some seeds diverge is worse than any at which none do,
    and it must not become the optimum through the surviving seeds.
    """
    x = np.asarray(losses, dtype=np.float64)
    return np.where(np.isfinite(x), x, np.inf).mean(axis=axis)


def _validate_grid(nu, loss_mean) -> tuple[np.ndarray, np.ndarray]:
    nu = np.asarray(nu, dtype=np.float64)
    y = np.asarray(loss_mean, dtype=np.float64)
    if nu.ndim != 1 or y.shape[-1] != nu.size:
        raise ValueError(f"grid of shape {nu.shape} does not match losses of shape {y.shape}")
    if nu.size > 1 and np.any(np.diff(nu) <= 0):
        raise ValueError("nu grid must be strictly increasing")
    return nu, np.where(np.isnan(y), np.inf, y)


def _spline(nu: np.ndarray, values: np.ndarray) -> CubicSpline:
    """The one interpolant of the package: a not-a-knot cubic spline along axis 0 of ``values``."""
    return CubicSpline(nu, values, axis=0, bc_type="not-a-knot", extrapolate=False)


class Interpolant:
    """Callable interpolant of one seed-mean loss curve; the spline runs through the finite points.

    Evaluation at ``nu_query``:
    * in a grid interval whose two ends are both finite: the cubic spline;
    * at a diverged grid point, or beyond the outermost diverged point on a side with no finite
      point further out: ``+inf`` (training diverges there);
    * anywhere else (off the grid, or between a finite and a diverged grid point): NaN, since
      nothing is extrapolated.
    """

    def __init__(self, nu, loss_mean):
        self.nu, self.loss_mean = _validate_grid(nu, loss_mean)
        if self.loss_mean.ndim != 1:
            raise ValueError("Interpolant takes one curve; use the batched helpers for many")
        self.finite = np.isfinite(self.loss_mean)
        self.nu_finite = self.nu[self.finite]
        self.loss_finite = self.loss_mean[self.finite]
        self.spline = _spline(self.nu_finite, self.loss_finite) if self.finite.sum() >= 2 else None
        diverged = self.nu[~self.finite]
        lo = self.nu_finite.min() if self.finite.any() else np.inf
        hi = self.nu_finite.max() if self.finite.any() else -np.inf
        # the divergence walls: the innermost diverged grid point on each side of the finite span
        self._wall_lo = diverged[diverged < lo].max() if np.any(diverged < lo) else -np.inf
        self._wall_hi = diverged[diverged > hi].min() if np.any(diverged > hi) else np.inf

    def __call__(self, nu_query):
        q = np.asarray(nu_query, dtype=np.float64)
        out = np.full(q.shape, np.nan)
        if self.nu_finite.size == 1:
            out[q == self.nu_finite[0]] = self.loss_finite[0]
        elif self.spline is not None:
            piece = np.clip(np.searchsorted(self.nu, q, side="right") - 1, 0, self.nu.size - 2)
            on_grid = (q >= self.nu[0]) & (q <= self.nu[-1])
            both_ends_finite = self.finite[piece] & self.finite[piece + 1]
            at_finite_point = ((q == self.nu[piece]) & self.finite[piece]) | (
                (q == self.nu[piece + 1]) & self.finite[piece + 1]
            )
            ok = on_grid & (both_ends_finite | at_finite_point)
            out[ok] = self.spline(q[ok])
        out[np.isin(q, self.nu[~self.finite])] = np.inf
        out[(q <= self._wall_lo) | (q >= self._wall_hi)] = np.inf
        return out if out.ndim else float(out)


def fit_interpolant(nu, loss_mean) -> Interpolant:
    """Interpolant of the seed-mean loss over ``nu`` (see the module docstring for the method)."""
    return Interpolant(nu, loss_mean)


def loss_at(nu, loss_mean, nu_query):
    """Loss read from the interpolant of ``loss_mean`` at ``nu_query`` (e.g. a transferred nu)."""
    return fit_interpolant(nu, loss_mean)(nu_query)


def _cubic_piece_minima(coef: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum of c0 t^3 + c1 t^2 + c2 t + c3 over t in [0, h], vectorised over the last axis.

    Candidates are both ends and the real roots of the derivative 3 c0 t^2 + 2 c1 t + c2 that fall
    inside the piece; returns (t_min, value_min).
    """
    c0, c1, c2, c3 = coef
    qa, qb, qc = 3 * c0, 2 * c1, c2
    disc = qb * qb - 4 * qa * qc
    sqrt_disc = np.sqrt(np.where(disc >= 0, disc, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        quad_roots = [(-qb + sqrt_disc) / (2 * qa), (-qb - sqrt_disc) / (2 * qa)]
        linear_root = np.where(qb != 0, -qc / qb, np.nan)
    is_quadratic = np.abs(qa) > 1e-14 * (np.abs(qb) + np.abs(qc) + 1e-300)
    roots = [np.where(is_quadratic, r, linear_root) for r in quad_roots]
    t = np.stack([np.zeros_like(h), h, *roots])
    t = np.where((t >= 0) & (t <= h), t, np.nan)
    val = ((c0 * t + c1) * t + c2) * t + c3
    val = np.where(np.isnan(val), np.inf, val)
    best = np.argmin(val, axis=0)
    pick = np.take_along_axis
    return pick(t, best[None], 0)[0], pick(val, best[None], 0)[0]


def _optima_same_mask(nu_f: np.ndarray, grid_idx: np.ndarray, y: np.ndarray):
    """Optima of many curves sharing the same finite points ``nu_f`` (at grid indices
    ``grid_idx``); ``y`` has shape (m, B). Returns (nu_star, loss_star, j) with j the position of
    the discrete argmin among the finite points.
    """
    m, batch = y.shape
    j = np.argmin(y, axis=0)  # discrete argmin among the finite points
    if m == 1:
        return np.full(batch, nu_f[0]), y[0].copy(), j
    spline = _spline(nu_f, y)
    cols = np.arange(batch)
    nu_best, loss_best = nu_f[j].copy(), y[j, cols].copy()
    # pieces [j-1, j] and [j, j+1] bracket the discrete minimum; a piece that spans a diverged
    # grid point is skipped, because the loss is infinite inside it
    grid_adjacent = np.diff(grid_idx) == 1
    for piece in (j - 1, j):
        p = np.clip(piece, 0, m - 2)
        valid = (piece >= 0) & (piece <= m - 2) & grid_adjacent[p]
        coef = spline.c[:, p, cols]
        t, val = _cubic_piece_minima(coef, np.diff(nu_f)[p])
        better = valid & (val < loss_best)
        nu_best = np.where(better, nu_f[p] + t, nu_best)
        loss_best = np.where(better, val, loss_best)
    return nu_best, loss_best, j


def find_optima(nu: np.ndarray, means: np.ndarray) -> Optima:
    """Optima of many seed-mean curves at once: ``means`` has shape (B, g), +inf marking diverged
    grid points; the same search as :func:`find_optimum`, without its warnings.

    Curves are grouped by their pattern of finite points, so each group needs one spline fit
    (which is what makes bootstrap replicates cheap).
    """
    batch = means.shape[0]
    nu_star = np.full(batch, np.nan)
    loss_star = np.full(batch, np.nan)
    index = np.full(batch, -1, dtype=np.int64)
    finite = np.isfinite(means)
    patterns, group = np.unique(finite, axis=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(group.ravel() == p)
        grid_idx = np.flatnonzero(pattern)
        if grid_idx.size == 0:
            continue  # every grid point diverged: no optimum
        res = _optima_same_mask(nu[grid_idx], grid_idx, means[np.ix_(rows, grid_idx)].T)
        nu_star[rows], loss_star[rows], index[rows] = res[0], res[1], grid_idx[res[2]]
    return Optima(nu_star, loss_star, unbracketed(nu, index), index)


def unbracketed(nu: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The edge flag of discrete argmins at grid ``index`` (-1: none, never an edge): the first or
    last grid point, or a grid neighbour more than BRACKET_STEPS median spacings away. The one place
    that decides what counts as bracketed."""
    index = np.asarray(index)
    if nu.size < 2:
        return index >= 0
    gaps = np.diff(nu)
    gap_too_wide = gaps > BRACKET_STEPS * np.median(gaps)
    left_open = (index == 0) | gap_too_wide[np.clip(index - 1, 0, nu.size - 2)]
    right_open = (index == nu.size - 1) | gap_too_wide[np.clip(index, 0, nu.size - 2)]
    return (index >= 0) & (left_open | right_open)


def find_optimum(nu, loss_mean) -> Optimum:
    """Optimum of the seed-mean loss curve ``loss_mean`` over the grid ``nu``.

    NaN entries count as diverged (+inf). Logs a warning when the optimum sits at an edge of the
    grid and when every point diverged.
    """
    nu, y = _validate_grid(nu, loss_mean)
    if y.ndim != 1:
        raise ValueError("find_optimum takes one curve")
    res = find_optima(nu, y[None, :])
    opt = Optimum(float(res[0][0]), float(res[1][0]), bool(res[2][0]), int(res[3][0]))
    if opt.index < 0:
        log.warning("every grid point diverged: no optimum")
    elif opt.at_edge:
        log.warning(
            "optimum at a grid edge or gap (nu=%.4g, grid index %d of %d: no neighbour within a grid step on "
            "one side): the true optimum may lie where nothing was measured",
            opt.nu_star,
            opt.index,
            nu.size,
        )
    return opt


INTERVAL_METHOD = (
    "parametric bootstrap: replicate studies whose seed means are redrawn with the pooled seed-to-seed "
    "noise near the optimum (its variance drawn from a scaled chi-square), percentile interval"
)
# grid points either side of the best one whose seed-to-seed spread is pooled into the noise estimate:
# the noise that matters is the optimum's, and runs near divergence are noisier than the rest
NOISE_WINDOW = 2


def pooled_noise(losses_by_seed) -> tuple[float, int]:
    """(σ², degrees of freedom) of one run's loss around its seed mean, pooled over the grid points
    within :data:`NOISE_WINDOW` of the best seed mean where no seed diverged (all such points if
    fewer than two are there); (NaN, 0) with one seed."""
    x = np.asarray(losses_by_seed, dtype=np.float64)
    complete = np.isfinite(x).all(axis=-1)
    if x.shape[-1] < 2 or not complete.any():
        return float("nan"), 0
    best = int(np.argmin(seed_mean(x, axis=-1)))
    near = np.zeros_like(complete)
    near[max(0, best - NOISE_WINDOW) : best + NOISE_WINDOW + 1] = True
    pooled = complete & near if (complete & near).sum() >= 2 else complete
    deviations = x[pooled] - x[pooled].mean(axis=-1, keepdims=True)
    dof = int(pooled.sum()) * (x.shape[-1] - 1)
    return float((deviations**2).sum() / dof), dof


def replicate_means(losses_by_seed, n_boot: int, rng) -> np.ndarray | None:
    """Seed means of ``n_boot`` replicate studies, shape (n_boot, hp): a parametric bootstrap.

    Each grid point's seed mean is redrawn as the observed mean plus Gaussian noise of the pooled
    seed-to-seed variance over the number of seeds (:func:`pooled_noise`), the variance itself drawn
    from its scaled-χ² distribution so that its uncertainty widens the interval as a t quantile
    would. Why not resample seeds: with 2–3 seeds there are only 3–10 distinct resamples, and the
    percentile interval covers the true optimum in about half to two thirds of studies at a nominal
    90% (tests/analysis/test_optimum.py measures both). Points where a seed diverged stay +inf.
    None with one seed.
    """
    x = np.asarray(losses_by_seed, dtype=np.float64)
    sigma2, dof = pooled_noise(x)
    if dof == 0:
        return None
    rng = np.random.default_rng(rng)
    means = seed_mean(x, axis=-1)
    variance = sigma2 * dof / rng.chisquare(dof, size=(n_boot, 1))
    replicates = means + np.sqrt(variance / x.shape[-1]) * rng.standard_normal((n_boot, means.size))
    replicates[:, ~np.isfinite(means)] = np.inf
    return replicates


def bootstrap_optimum(nu, losses_by_seed, n_boot: int = 1000, rng=None, level: float = 0.9):
    """Percentile interval of the optimum over the replicate studies of :func:`replicate_means`.

    ``losses_by_seed`` has shape (hp, seed); NaN means diverged. Each replicate re-runs the
    optimum search (same interpolant) on its seed means. Returns ``(nu_lo, nu_hi, loss_lo,
    loss_hi)`` at the central ``level`` (NaN with one seed or if no replicate has an optimum).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    losses = np.asarray(losses_by_seed, dtype=np.float64)
    nu, _ = _validate_grid(nu, losses.T)
    means = replicate_means(losses, n_boot, rng)
    if means is None:
        return (np.nan, np.nan, np.nan, np.nan)
    nu_star, loss_star, _, _ = find_optima(nu, means)
    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    if np.all(np.isnan(nu_star)):
        return (np.nan, np.nan, np.nan, np.nan)
    nu_lo, nu_hi = np.nanpercentile(nu_star, q)
    loss_lo, loss_hi = np.nanpercentile(loss_star, q)
    return (float(nu_lo), float(nu_hi), float(loss_lo), float(loss_hi))
