"""Convergence rates, the fast/weak transfer verdict and Theorem 2 (paper.md §1.3–§1.6, §1.8).

Definitions (paper §1.3), for widths n with optimum nu*(n) and optimal loss phi*_n:

* a_n = |phi*_n - phi*_inf|                 loss gap,           a_n ~ n^-alpha
* b_n = |nu*(n) - nu*(inf)|                 hyperparameter gap, b_n ~ n^-beta
* c_n = |phi_inf(nu*(n)) - phi*_inf|        transfer suboptimality gap

Transfer is *fast* iff beta > alpha/2 (paper §1.5); beta = alpha/2 is the agnostic rate implied by
strong convexity alone ("weak" transfer).

Two stand-ins for n = infinity (``infinity=``):

* ``"n_max"``: the largest width is infinity. Rates use the other widths, and alpha/beta come from
  :func:`~hptransfer.analysis.fits.fit_power` with ``reference=n_max``, i.e.
  a_n = A (n^-alpha - n_max^-alpha), which removes the bias of a plain log-log fit near n_max.
  The uncertainty of the n_max optimum (shared by every gap) is added to the exponents' errors
  when its standard error is given. phi_inf is the interpolant of the largest width's curve.
* ``"fit"``: the fitted limits are infinity: phi*_inf = L_inf of L(n) = L_inf + A n^-alpha and
  nu*(inf) = D of nu*(n) = -B n^-beta + D. alpha and beta (and their errors) are those of the two
  3-parameter fits. phi_inf for c_n is the largest width's curve re-centred so that its minimiser
  sits at D and its minimum equals L_inf (the curvature of phi_inf is taken from the largest width).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy import stats

from .fits import fit_lr_law, fit_power, fit_scaling

__all__ = ["Verdict", "convergent_quantities", "estimate_rates", "theorem2", "verdict"]

INFINITY_CHOICES = ("n_max", "fit")


class Verdict(NamedTuple):
    """Outcome of the fast-transfer test on margin = beta - alpha/2.

    ``label`` is "fast", "weak" or "inconclusive"; ``explanation`` says why, with the interval;
    ``margin``/``margin_lo``/``margin_hi`` are the estimate and interval of beta - alpha/2.
    """

    label: str
    explanation: str
    margin: float
    margin_lo: float
    margin_hi: float


def convergent_quantities(nu_star, loss_star, phi_inf: Callable, nu_inf: float, loss_inf: float):
    """a_n, b_n, c_n of paper §1.3 for arrays of per-width optima against given limits.

    ``phi_inf`` is the infinite-width loss as a function of nu (vectorised callable).
    """
    nu_star = np.asarray(nu_star, dtype=np.float64)
    loss_star = np.asarray(loss_star, dtype=np.float64)
    a = np.abs(loss_star - loss_inf)
    b = np.abs(nu_star - nu_inf)
    c = np.abs(np.asarray(phi_inf(nu_star), dtype=np.float64) - loss_inf)
    return a, b, c


def _quantile(level: float, dof: int | None) -> float:
    """Two-sided critical value: Student t with ``dof`` degrees of freedom, normal if None."""
    p = (1 + level) / 2
    return float(stats.norm.ppf(p) if dof is None else stats.t.ppf(p, dof))


def _interval(value: float, se: float, level: float, dof: int | None) -> tuple[float, float]:
    if not (np.isfinite(value) and np.isfinite(se)) or (dof is not None and dof < 1):
        return (np.nan, np.nan)
    half = _quantile(level, dof) * se
    return (value - half, value + half)


# beta - alpha/2 closer to 0 than this counts as 0 (numerical noise of exact synthetic data; rates
# that close cannot be told apart in practice).
MARGIN_ATOL = 1e-3


def verdict(
    alpha,
    beta,
    alpha_se=0.0,
    beta_se=0.0,
    *,
    level: float = 0.9,
    dof: int | None = None,
    resolution: float = 0.5,
    atol: float = MARGIN_ATOL,
) -> Verdict:
    """Classify transfer as "fast", "weak" or "inconclusive" from alpha and beta with errors.

    The test is on the margin m = beta - alpha/2 with standard error sqrt(se_beta^2 + se_alpha^2/4)
    (the two fits treated as independent) and a central ``level`` interval (Student t with ``dof``
    degrees of freedom, normal if None).

    * "fast": the whole interval lies above +atol (beta > alpha/2 beyond the uncertainty);
    * "weak": the interval lies below -atol (slower than the agnostic rate, so certainly not fast),
      or it contains 0 and is narrow, half-width <= ``resolution`` * alpha/2 (beta ~ alpha/2);
    * "inconclusive": a NaN, too few degrees of freedom, or an interval too wide to tell.

    ``atol`` is the margin below which beta - alpha/2 counts as zero.
    """
    alpha, beta = float(alpha), float(beta)
    se = float(np.sqrt(float(beta_se) ** 2 + float(alpha_se) ** 2 / 4))
    margin = beta - alpha / 2
    if not np.all(np.isfinite([alpha, beta, se])):
        return Verdict(
            "inconclusive",
            f"alpha, beta or their standard errors are not available (alpha={alpha:.3g}, beta={beta:.3g}, se={se:.3g})",
            margin,
            np.nan,
            np.nan,
        )
    if dof is not None and dof < 1:
        return Verdict("inconclusive", f"too few widths for error bars (dof={dof})", margin, np.nan, np.nan)
    lo, hi = _interval(margin, se, level, dof)
    ci = f"beta - alpha/2 = {margin:.3f}, {100 * level:.0f}% interval [{lo:.3f}, {hi:.3f}]"
    if lo > atol:
        return Verdict(
            "fast",
            f"{ci} lies above 0: beta > alpha/2, c_n = o(a_n), fast transfer; "
            "tuning a proxy and transferring beats direct tuning (Theorem 2)",
            margin,
            lo,
            hi,
        )
    if hi < -atol:
        return Verdict(
            "weak",
            f"{ci} lies below 0: beta < alpha/2, slower than the agnostic rate "
            "of Proposition 1 (its assumptions may be violated); not fast",
            margin,
            lo,
            hi,
        )
    if (hi - lo) / 2 <= resolution * alpha / 2 or max(abs(lo), abs(hi)) <= atol:
        return Verdict(
            "weak",
            f"{ci} contains 0: beta ~ alpha/2, the agnostic rate "
            "b_n ~ sqrt(a_n); transfer holds but is not fast, and gives no gain over "
            "direct tuning",
            margin,
            lo,
            hi,
        )
    return Verdict(
        "inconclusive",
        f"{ci} is too wide (half-width > {resolution:g} * alpha/2) to tell beta = alpha/2 from fast transfer",
        margin,
        lo,
        hi,
    )


def _shifted_curve(phi_largest: Callable, shift: float, offset: float) -> Callable:
    return lambda nu: np.asarray(phi_largest(np.asarray(nu, dtype=np.float64) + shift)) + offset


def _gap_fit(widths, values, limit, limit_se, reference) -> dict:
    """fit_power of |values - limit| against widths < reference, with the limit's uncertainty.

    Every gap shares the same limit (the n_max optimum), so its noise is common to all points and
    invisible in the fit residuals. It is propagated by refitting at limit +- limit_se and adding
    half the spread of the exponent in quadrature to the fit's standard error.
    """
    fit = fit_power(widths, np.abs(values - limit), reference)
    usable_se = limit_se is not None and np.isfinite(limit_se) and limit_se > 0
    if usable_se and np.isfinite(fit["alpha"]):
        up = fit_power(widths, np.abs(values - (limit + limit_se)), reference)["alpha"]
        down = fit_power(widths, np.abs(values - (limit - limit_se)), reference)["alpha"]
        fit = dict(fit, alpha_se=float(np.hypot(fit["alpha_se"], (up - down) / 2)))
    return fit


def estimate_rates(
    widths,
    nu_star,
    loss_star,
    phi_largest: Callable,
    infinity: str = "n_max",
    level: float = 0.9,
    nu_star_se=None,
    loss_star_se=None,
) -> dict:
    """a_n, b_n, c_n and the rates alpha, beta with intervals, for one of two infinity stand-ins.

    ``widths``, ``nu_star``, ``loss_star`` are per-width arrays of the widths to use (callers drop
    unreliable widths beforehand); ``phi_largest`` is the interpolant of the largest width's loss
    curve. Optional per-width standard errors ``nu_star_se``/``loss_star_se`` (e.g. from the
    bootstrap) are used with ``infinity="n_max"`` to propagate the uncertainty of the n_max
    optimum, which every gap shares, into alpha and beta. Returns a dict with arrays ``a_n``,
    ``b_n``, ``c_n`` (NaN at n_max for "n_max"), the limits ``nu_inf``/``loss_inf``,
    ``alpha``/``beta`` with ``*_se``, ``*_lo``, ``*_hi``, ``*_dof``, ``*_reason`` and the
    :class:`Verdict` under ``verdict``.
    """
    if infinity not in INFINITY_CHOICES:
        raise ValueError(f"infinity must be one of {INFINITY_CHOICES}, got {infinity!r}")
    widths = np.asarray(widths, dtype=np.float64)
    nu_star = np.asarray(nu_star, dtype=np.float64)
    loss_star = np.asarray(loss_star, dtype=np.float64)
    if infinity == "n_max":
        out = _rates_against_n_max(widths, nu_star, loss_star, phi_largest, nu_star_se, loss_star_se)
    else:
        out = _rates_against_fit(widths, nu_star, loss_star, phi_largest)
    out.update(infinity=infinity, level=level)
    for name in ("alpha", "beta"):
        out[f"{name}_lo"], out[f"{name}_hi"] = _interval(out[name], out[f"{name}_se"], level, out[f"{name}_dof"])
    dof = min(out["alpha_dof"], out["beta_dof"])
    out["verdict"] = verdict(out["alpha"], out["beta"], out["alpha_se"], out["beta_se"], level=level, dof=dof)
    return out


def _rate_entries(name: str, fit: dict, exponent_key: str) -> dict:
    return {
        name: fit[exponent_key],
        f"{name}_se": fit[f"{exponent_key}_se"],
        f"{name}_dof": fit["dof"],
        f"{name}_reason": fit["reason"],
    }


def _rates_against_n_max(widths, nu_star, loss_star, phi_largest, nu_star_se, loss_star_se):
    """Largest width as infinity: gaps of the other widths, reference-corrected power laws."""
    if not widths.size:
        nan_fit = fit_power([], [])
        empty = np.zeros(0)
        return dict(
            a_n=empty,
            b_n=empty,
            c_n=empty,
            nu_inf=np.nan,
            loss_inf=np.nan,
            **_rate_entries("alpha", nan_fit, "alpha"),
            **_rate_entries("beta", nan_fit, "alpha"),
        )
    largest = int(np.argmax(widths))
    n_max = float(widths[largest])
    nu_inf, loss_inf = float(nu_star[largest]), float(loss_star[largest])
    others = widths < n_max
    a, b, c = (
        np.where(others, q, np.nan) for q in convergent_quantities(nu_star, loss_star, phi_largest, nu_inf, loss_inf)
    )

    def reference_se(se):
        return None if se is None else float(np.asarray(se)[largest])

    fa = _gap_fit(widths[others], loss_star[others], loss_inf, reference_se(loss_star_se), n_max)
    fb = _gap_fit(widths[others], nu_star[others], nu_inf, reference_se(nu_star_se), n_max)
    return dict(
        a_n=a,
        b_n=b,
        c_n=c,
        nu_inf=nu_inf,
        loss_inf=loss_inf,
        **_rate_entries("alpha", fa, "alpha"),
        **_rate_entries("beta", fb, "alpha"),
    )


def _rates_against_fit(widths, nu_star, loss_star, phi_largest):
    """Fitted limits as infinity: alpha and beta straight from the two 3-parameter fits."""
    fa, fb = fit_scaling(widths, loss_star), fit_lr_law(widths, nu_star)
    nu_inf, loss_inf = float(fb["D"]), float(fa["L_inf"])
    if widths.size and np.isfinite(nu_inf) and np.isfinite(loss_inf):
        largest = int(np.argmax(widths))
        phi_inf = _shifted_curve(phi_largest, nu_star[largest] - nu_inf, loss_inf - loss_star[largest])
    else:

        def phi_inf(nu):  # no limit to read
            return np.full(np.shape(nu), np.nan)

    a, b, c = convergent_quantities(nu_star, loss_star, phi_inf, nu_inf, loss_inf)
    return dict(
        a_n=a,
        b_n=b,
        c_n=c,
        nu_inf=nu_inf,
        loss_inf=loss_inf,
        **_rate_entries("alpha", fa, "alpha"),
        **_rate_entries("beta", fb, "beta"),
    )


def theorem2(alpha, beta, r: float = 2, h: int = 1, budget: float | None = None) -> dict:
    """Compute-optimal grid search, direct tuning vs transfer (paper §1.6, Theorem 2).

    A run at width n costs n^r FLOPs and h hyperparameters are tuned. Error ~ F^-exponent:

    * direct tuning exponent 2 alpha / (h alpha + 2 r), at width n* ~ F^(2/(h alpha + 2 r));
    * transfer exponent min(alpha / r, 2 beta / (h beta + r)), proxy width n* ~ F^(1/(h beta + r)),
      target width M* ~ F^(1/r).

    ``better`` is "transfer", "direct", "tie" or "undetermined" (NaN rates); a larger exponent
    decays faster, and transfer wins
    iff beta > alpha/2, with the tie exactly at beta = alpha/2 (compared to 1e-12 relative, so the
    crossover does not depend on rounding). With a FLOP ``budget`` F the widths and error scales
    (all up to constants) are included.
    """
    alpha, beta = float(alpha), float(beta)
    direct = 2 * alpha / (h * alpha + 2 * r)
    transfer = min(alpha / r, 2 * beta / (h * beta + r))
    if not (np.isfinite(direct) and np.isfinite(transfer)):
        better = "undetermined"  # alpha or beta unavailable
    elif np.isclose(transfer, direct, rtol=1e-12, atol=0.0):
        better = "tie"
    else:
        better = "transfer" if transfer > direct else "direct"
    out = dict(
        alpha=alpha,
        beta=beta,
        r=r,
        h=h,
        direct_error_exponent=direct,
        transfer_error_exponent=transfer,
        better=better,
        transfer_is_better=bool(better == "transfer"),
        direct_width_exponent=2 / (h * alpha + 2 * r),
        proxy_width_exponent=1 / (h * beta + r),
        target_width_exponent=1 / r,
    )
    if budget is not None:
        F = float(budget)
        out.update(
            budget=F,
            direct_width=F ** out["direct_width_exponent"],
            proxy_width=F ** out["proxy_width_exponent"],
            target_width=F ** out["target_width_exponent"],
            direct_error=F**-direct,
            transfer_error=F ** (-alpha / r) + F ** (-2 * beta / (h * beta + r)),
        )
    return out
