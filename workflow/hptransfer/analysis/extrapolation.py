"""Extrapolating what was measured at a few widths to a wider target, with honest intervals.

Two ways, one for each case of the advice (:mod:`hptransfer.analysis.advice`):

* :func:`extrapolate_law`: a fitted law y(n) = c + a (n/n0)^-p (:func:`~.fits.fit_offset_power`)
  read at other widths. The interval of any quantity read off it (a value, or the difference of
  two values: a drift, a loss gap) has two parts:

  - the fit's noise: the delta-method variance g' C g, with C the residual-scaled covariance of
    (c, a, p) and a Student t quantile on n_points - 3 degrees of freedom (exact for the linear
    parameters under Gaussian noise; the linearisation in p is what makes it approximate);
  - its sensitivity to the fitted range: the law is refitted without the smallest width, where a
    pre-asymptotic regime shows first. Under a correct law the two estimates differ only by noise,
    with variance V = Var(window) - Var(all) (the refit is the less efficient estimator of the same
    quantity: Hausman's test); what their squared difference exceeds the level's quantile of that
    noise (chi2_1(level) V) by is added to the variance as a systematic term. A law that fits well
    but bends with the fitted range (widths that are not yet asymptotic) gets a wider interval; a
    correct one keeps its nominal one but in the few cases where noise alone crosses the quantile.

* :func:`drift_per_doubling`: where no law is identified, the straight line of the optimum
  against log2 n, whose slope (the drift per doubling of width) bounds how far the optimum can
  move beyond the widths measured if its drift does not speed up: every power law n^-beta with
  beta > 0 drifts less per doubling at larger widths than at smaller ones.

Pure numpy/scipy; no dataset handling here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from .fits import OffsetPowerLaw, fit_offset_power

__all__ = ["Drift", "Estimate", "Extrapolation", "drift_per_doubling", "extrapolate_law"]

# the smallest number of widths a law needs for an interval: 3 parameters and 1 degree of freedom
MIN_LAW_WIDTHS = 4


class Estimate(NamedTuple):
    """A quantity read off a law at some widths: ``value`` with its central interval [lo, hi]
    (arrays shaped like the widths asked for; NaN where there is no interval)."""

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _t_quantile(level: float, dof: int) -> float:
    return float(stats.t.ppf((1 + level) / 2, dof)) if dof >= 1 else np.nan


def _reading(law: OffsetPowerLaw, upper, lower) -> tuple[np.ndarray, np.ndarray]:
    """law(upper) - law(lower) (just law(upper) when lower is None) and its delta-method variance."""
    if lower is not None:
        upper, lower = np.broadcast_arrays(np.asarray(upper, np.float64), np.asarray(lower, np.float64))
    value, grad = law.value(upper), law.gradient(upper)
    if lower is not None:
        value, grad = value - law.value(lower), grad - law.gradient(lower)
    variance = np.einsum("i...,ij,j...->...", grad, law.cov, grad)
    return value, variance


@dataclass(frozen=True)
class Extrapolation:
    """A law fitted on every width (``law``) and refitted without the smallest one (``window``,
    None where that leaves too few widths for an interval), at a central interval ``level``."""

    law: OffsetPowerLaw
    window: OffsetPowerLaw | None
    level: float

    def estimate(self, upper, lower=None) -> Estimate:
        """law(upper) - law(lower) (or law(upper)) with its interval: fit noise plus the systematic
        term of the fitted range (see the module docstring). ``lower`` may be ``np.inf``."""
        value, variance = _reading(self.law, upper, lower)
        variance = variance + self.systematic_variance(upper, lower)
        half = _t_quantile(self.level, self.law.dof) * np.sqrt(variance)
        return Estimate(value, value - half, value + half)

    def systematic_variance(self, upper, lower=None) -> np.ndarray:
        """What the squared shift between the full and the window fit exceeds by what noise gives it
        at the interval's level (0 where there is no window fit): a shift that noise explains adds
        nothing, so a correct law keeps its nominal interval."""
        value, variance = _reading(self.law, upper, lower)
        if self.window is None or not self.window.identified:
            return np.zeros_like(variance)
        window_value, window_variance = _reading(self.window, upper, lower)
        noise = np.maximum(window_variance - variance, 0.0) * stats.chi2.ppf(self.level, 1)
        return np.maximum((value - window_value) ** 2 - noise, 0.0)


def extrapolate_law(widths, values, level: float = 0.9, min_exponent: float | None = None) -> Extrapolation:
    """Fit y(n) = c + a (n/n0)^-p to ``values`` at ``widths`` (every width, and again without the
    smallest) for :meth:`Extrapolation.estimate`. ``min_exponent``: hold a smaller fitted exponent
    at this bound (:func:`~.fits.fit_offset_power`)."""
    widths = np.asarray(widths, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(widths)
    widths, values = widths[order], values[order]
    law = fit_offset_power(widths, values, min_exponent)
    window = None
    if widths.size - 1 >= MIN_LAW_WIDTHS:
        window = fit_offset_power(widths[1:], values[1:], min_exponent)
    return Extrapolation(law, window, float(level))


@dataclass(frozen=True)
class Drift:
    """The optimum's straight-line drift against log2 n: ``slope`` per doubling of width with its
    central interval [slope_lo, slope_hi]; ``scatter``, the half-width of the same level for one
    optimum about the line (Student t on the residuals; NaN with two widths), what one width's
    optimum is known to when its seeds give no interval or too narrow a one; ``reason`` says why
    there is no drift (empty otherwise)."""

    slope: float
    slope_lo: float
    slope_hi: float
    scatter: float
    n_points: int
    reason: str

    def band(self, start_lo: float, start_hi: float, doublings) -> tuple[np.ndarray, np.ndarray]:
        """Where the optimum can be ``doublings`` doublings beyond the last width, starting in
        [start_lo, start_hi] there: each side moved by the slope bound that points outwards (a drift
        interval that contains 0 widens both sides; one of a single sign widens one side only)."""
        doublings = np.asarray(doublings, dtype=np.float64)
        return (
            start_lo + min(0.0, self.slope_lo) * doublings,
            start_hi + max(0.0, self.slope_hi) * doublings,
        )


def drift_per_doubling(widths, nu, nu_se=None, level: float = 0.9) -> Drift:
    """Least-squares slope of ``nu`` against log2(width), with an interval from the larger of two
    standard errors: the residuals' (Student t on n - 2 degrees of freedom; the optima scatter about
    the line more than their seed noise when the drift is not straight) and the one the optima's own
    standard errors ``nu_se`` imply (normal; the only one with two widths)."""
    x = np.log2(np.asarray(widths, dtype=np.float64))
    y = np.asarray(nu, dtype=np.float64)
    se = np.full(y.shape, np.nan) if nu_se is None else np.asarray(nu_se, dtype=np.float64)
    if x.size < 2:
        return Drift(np.nan, np.nan, np.nan, np.nan, int(x.size), "a drift needs two widths")
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ (y - y.mean()) / sxx)
    dof = x.size - 2
    residual = y - y.mean() - slope * dx
    residual_sd = float(np.sqrt(residual @ residual / dof)) if dof >= 1 else np.nan
    residual_se = residual_sd / np.sqrt(sxx)
    # seed intervals of zero width (every resample picked the same optimum) bound nothing
    measured_se = float(np.sqrt(np.sum((dx / sxx) ** 2 * se**2))) if np.all(np.isfinite(se) & (se > 0)) else np.nan
    scatter = _t_quantile(level, dof) * residual_sd
    if np.isfinite(residual_se) and not residual_se < measured_se:
        half = _t_quantile(level, dof) * residual_se
    elif np.isfinite(measured_se):
        half = float(stats.norm.ppf((1 + level) / 2)) * measured_se
    else:
        return Drift(
            slope, np.nan, np.nan, scatter, int(x.size), "two widths and no seed interval: the drift has no error bar"
        )
    return Drift(slope, slope - half, slope + half, scatter, int(x.size), "")
