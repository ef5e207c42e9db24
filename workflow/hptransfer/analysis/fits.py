"""Power-law fits in width with parameter uncertainties (paper.md §1.8).

* :func:`fit_scaling`  L(n) = L_inf + A n^-alpha          (loss along an HP path, free asymptote)
* :func:`fit_lr_law`   nu*(n) = -B n^-beta + D            (optimal HP in nu units, sign of B free)
* :func:`fit_power`    y(n) = A (n^-alpha - n_ref^-alpha)  in log space (n_ref = inf: a pure
  power law, the usual log-log fit; a finite n_ref corrects for a largest width standing in for
  infinity)
* :func:`fit_offset_power`  y(n) = c + a (n/n0)^-p as an :class:`OffsetPowerLaw` that keeps the
  covariance of (c, a, p), for extrapolating the law beyond the widths measured (the advice)

All fits use ``scipy.optimize.curve_fit`` (unweighted least squares, as paper.md §1.8 suggests);
standard errors are the square roots of the diagonal of its covariance (residual variance scaled,
i.e. ``absolute_sigma=False``). Every fit returns a plain dict with the parameters, their ``*_se``,
``r2``, ``n_points``, ``dof``, ``identified`` (False where the fit failed or its exponent sits on
a bound or, for the offset laws, has a standard error larger than itself, so that the parameters
mean little) and ``reason`` (empty when the fit is fine). Too few points or a
failed optimisation give NaN parameters and a reason instead of an exception.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

__all__ = ["OffsetPowerLaw", "fit_lr_law", "fit_offset_power", "fit_power", "fit_scaling"]

# exponents searched for the initial guess, and the bounds of the refined fit
_EXPONENT_GRID = np.concatenate([np.linspace(0.01, 1.0, 100), np.linspace(1.02, 4.0, 150)])
_EXPONENT_BOUNDS = (1e-4, 10.0)


def _finite_points(n, y) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if n.shape != y.shape:
        raise ValueError(f"n and y differ in shape: {n.shape} vs {y.shape}")
    keep = np.isfinite(n) & np.isfinite(y) & (n > 0)
    return n[keep], y[keep]


def _failed(names: list[str], n_points: int, reason: str) -> dict:
    out = {name: np.nan for name in names}
    out.update({f"{name}_se": np.nan for name in names})
    out.update(
        r2=np.nan, n_points=int(n_points), dof=max(int(n_points) - len(names), 0), identified=False, reason=reason
    )
    return out


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else np.nan


def _standard_errors(pcov: np.ndarray, dof: int) -> np.ndarray:
    # with zero degrees of freedom curve_fit cannot scale the covariance: no honest error bar
    if dof < 1 or not np.all(np.isfinite(pcov)):
        return np.full(pcov.shape[0], np.nan)
    return np.sqrt(np.clip(np.diag(pcov), 0, None))


def _profile_initial_guess(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Best (c, a, p) of y = c + a x^-p over the exponent grid, (c, a) by least squares per p.

    For fixed p the model is a straight line in x^-p, so the residual sum of squares has the
    closed form SST - cov^2 / var, evaluated for the whole grid at once.
    """
    design = x[None, :] ** (-_EXPONENT_GRID[:, None])  # (grid, points)
    dx = design - design.mean(axis=1, keepdims=True)
    dy = y - y.mean()
    var = np.sum(dx * dx, axis=1)
    cov = dx @ dy
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = np.where(var > 0, np.sum(dy * dy) - cov**2 / var, np.inf)
    best = int(np.argmin(sse))
    a = cov[best] / var[best] if var[best] > 0 else 0.0
    c = y.mean() - a * design[best].mean()
    return float(c), float(a), float(_EXPONENT_GRID[best])


def _offset_power(x, c, a, p):
    return c + a * x ** (-p)


def _least_squares_offset_power(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c, a, p) and their covariance for y = c + a x^-p (x = n/n0), by curve_fit from the profiled
    initial guess; raises RuntimeError or ValueError where curve_fit fails."""
    c0, a0, p0 = _profile_initial_guess(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        return curve_fit(
            _offset_power,
            x,
            y,
            p0=[c0, a0, p0],
            bounds=([-np.inf, -np.inf, _EXPONENT_BOUNDS[0]], [np.inf, np.inf, _EXPONENT_BOUNDS[1]]),
            x_scale="jac",
            max_nfev=20000,
        )


def _fit_offset_power(n, y) -> dict:
    """Fit y = c + a (n/n0)^-p with n0 the geometric mean width; returns c, A (unscaled), p.

    Why normalise: with n up to 1e4 and p up to a few, n^-p spans many decades; in units of n0
    the amplitude is O(range of y) and curve_fit is well conditioned. The initial guess profiles
    out the linear parameters (c, a) over a grid of exponents, which makes the fit global.
    """
    names = ["c", "a", "p"]
    n, y = _finite_points(n, y)
    if n.size < 3:
        return _failed(names, n.size, f"too few points for a 3-parameter fit ({n.size} < 3)")
    if np.unique(n).size < 3:
        return _failed(names, n.size, "fewer than 3 distinct widths")
    n0 = float(np.exp(np.mean(np.log(n))))
    x = n / n0
    try:
        popt, pcov = _least_squares_offset_power(x, y)
    except (RuntimeError, ValueError) as err:
        return _failed(names, n.size, f"curve_fit failed: {err}")
    dof = n.size - 3
    c, a, p = popt
    se_c, se_a, se_p = _standard_errors(pcov, dof)
    # back to original units: A = a n0^p; delta method with the full covariance of (a, p)
    amp = a * n0**p
    grad = np.array([0.0, n0**p, amp * np.log(n0)])
    se_amp = float(np.sqrt(grad @ pcov @ grad)) if np.isfinite(se_a) else np.nan
    return dict(
        c=float(c),
        a=float(amp),
        p=float(p),
        c_se=float(se_c),
        a_se=se_amp,
        p_se=float(se_p),
        r2=_r2(y, _offset_power(x, *popt)),
        n_points=int(n.size),
        dof=int(dof),
        identified=not (_at_bound(p) or _unconstrained(p, se_p)),
        reason=_fit_caveat(p, se_p, dof),
    )


def _unconstrained(p: float, se: float) -> bool:
    """An exponent whose standard error exceeds it: a step-like set of points that any p fits."""
    return bool(np.isfinite(se) and se > abs(p))


def _at_bound(p: float) -> bool:
    return bool(np.isclose(p, _EXPONENT_BOUNDS[0], rtol=0.5) or np.isclose(p, _EXPONENT_BOUNDS[1], rtol=1e-3))


def _fit_caveat(p: float, se: float, dof: int) -> str:
    """Why a converged offset power law may still say little (empty when nothing to say)."""
    if _at_bound(p):
        # y ≈ c + a n^-p with p → 0 is c + a − a p log n: a straight line in log n, where c and a
        # trade off without limit; the data do not level off over these widths
        return (
            f"exponent at its bound ({p:.3g}): no power-law curvature over these widths, "
            "so the asymptote and exponent are not identified"
        )
    if _unconstrained(p, se):
        return (
            f"exponent {p:.3g} with standard error {se:.3g}: the widths do not constrain it, "
            "so the asymptote and exponent are not identified"
        )
    return "" if dof >= 1 else "exact fit: no degrees of freedom for standard errors"


def _rename(fit: dict, mapping: dict[str, str], flip: tuple[str, ...] = ()) -> dict:
    out = {}
    for key, value in fit.items():
        base, se = (key[:-3], "_se") if key.endswith("_se") else (key, "")
        if base in mapping:
            value = -value if (base in flip and not se) else value
            out[mapping[base] + se] = value
        else:
            out[key] = value
    return out


def fit_scaling(n, L) -> dict:
    """Fit L(n) = L_inf + A n^-alpha (3 parameters, free asymptote; sign of A free).

    Returns dict(L_inf, A, alpha, L_inf_se, A_se, alpha_se, r2, n_points, dof, reason).
    """
    return _rename(_fit_offset_power(n, L), {"c": "L_inf", "a": "A", "p": "alpha"})


def fit_lr_law(n, nu_star) -> dict:
    """Fit nu*(n) = -B n^-beta + D (paper §1.8; 3 parameters, sign of B free).

    Returns dict(B, beta, D, B_se, beta_se, D_se, r2, n_points, dof, reason).
    """
    return _rename(_fit_offset_power(n, nu_star), {"c": "D", "a": "B", "p": "beta"}, flip=("a",))


def fit_power(n, y, reference: float | None = None) -> dict:
    """Fit y = A (n^-alpha - reference^-alpha) by least squares on log y (a log-log fit).

    With ``reference=None`` this is the pure power law y = A n^-alpha (linear in log-log). A finite
    ``reference`` is for gaps measured against the largest width n_max instead of infinity, e.g.
    a_n = |phi*_n - phi*_{n_max}| ~ A (n^-alpha - n_max^-alpha): ignoring that term biases alpha
    upwards near n_max. Non-positive y (log undefined) and widths >= reference are dropped and
    counted in ``reason``. Returns dict(A, alpha, A_se, alpha_se, r2 (in log space), n_points,
    dof, reason).
    """
    names = ["A", "alpha"]
    n, y = _finite_points(n, y)
    keep = y > 0
    if reference is not None:
        keep &= n < reference
    dropped = int((~keep).sum())
    n, y = n[keep], y[keep]
    note = f"dropped {dropped} point(s) with y <= 0 or n >= reference" if dropped else ""
    if n.size < 2 or np.unique(n).size < 2:
        reason = "; ".join(filter(None, [note, f"too few points ({n.size} < 2)"]))
        return _failed(names, n.size, reason)
    ref = np.inf if reference is None else float(reference)
    log_n, log_y = np.log(n), np.log(y)
    log_n0 = float(np.mean(log_n))

    def model(log_n, log_a, alpha):
        # log(n^-alpha - ref^-alpha), written relative to n0 for conditioning
        gap = np.exp(-alpha * (log_n - log_n0)) - np.exp(-alpha * (np.log(ref) - log_n0))
        return log_a + np.log(np.clip(gap, 1e-300, None))

    slope, intercept = np.polyfit(log_n - log_n0, log_y, 1)
    p0 = [intercept, float(np.clip(-slope, 1e-3, _EXPONENT_BOUNDS[1]))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, pcov = curve_fit(
                model,
                log_n,
                log_y,
                p0=p0,
                x_scale="jac",
                max_nfev=20000,
                bounds=([-np.inf, _EXPONENT_BOUNDS[0]], [np.inf, _EXPONENT_BOUNDS[1]]),
            )
    except (RuntimeError, ValueError) as err:
        return _failed(names, n.size, "; ".join(filter(None, [note, f"curve_fit failed: {err}"])))
    dof = n.size - 2
    log_a, alpha = popt
    se_log_a, se_alpha = _standard_errors(pcov, dof)
    # A = exp(log_a) n0^alpha; delta method with the covariance of (log_a, alpha)
    amp = float(np.exp(log_a + alpha * log_n0))
    grad = amp * np.array([1.0, log_n0])
    se_amp = float(np.sqrt(grad @ pcov @ grad)) if np.isfinite(se_alpha) else np.nan
    reasons = [note] + ([] if dof >= 1 else ["exact fit: no degrees of freedom for standard errors"])
    if _at_bound(alpha):
        # at the lower bound the gaps do not shrink with width (they grow or stay put)
        reasons.append(
            f"exponent at its bound ({alpha:.3g}): the gaps do not follow a decaying power law over these widths"
        )
    return dict(
        A=amp,
        alpha=float(alpha),
        A_se=se_amp,
        alpha_se=float(se_alpha),
        r2=_r2(log_y, model(log_n, *popt)),
        n_points=int(n.size),
        dof=int(dof),
        identified=not _at_bound(alpha),
        reason="; ".join(filter(None, reasons)),
    )


# --------------------------------------------------------------- the law kept for extrapolation


@dataclass(frozen=True)
class OffsetPowerLaw:
    """y(n) = c + a (n/n0)^-p fitted by unweighted least squares (the fit of :func:`fit_scaling` and
    :func:`fit_lr_law`), kept whole for extrapolation: ``cov`` is the residual-scaled covariance of
    (c, a, p), so any quantity read off the law at other widths gets a delta-method variance from
    :meth:`gradient`.

    ``held``: the free fit's exponent ``p_free`` fell below the caller's ``min_exponent``, so p is
    held there and (c, a) refitted as a linear model (the p row and column of ``cov`` are 0).
    ``dof`` is n_points - 3 either way (the exponent was chosen with the data). ``identified``:
    converged with dof >= 1 and an exponent that is held, or off its bounds and larger than its
    standard error; ``reason`` says why not (empty when identified).
    """

    c: float
    a: float
    p: float
    cov: np.ndarray
    n0: float
    n_points: int
    dof: int
    p_free: float
    held: bool
    identified: bool
    reason: str

    def value(self, n) -> np.ndarray:
        """The law at widths ``n`` (``np.inf`` gives the asymptote c)."""
        x = np.asarray(n, dtype=np.float64) / self.n0
        with np.errstate(divide="ignore", over="ignore"):
            return self.c + self.a * np.where(np.isinf(x), 0.0, x ** (-self.p))

    def gradient(self, n) -> np.ndarray:
        """d value / d(c, a, p) at widths ``n``, shape (3,) + shape of n (0 for a and p at inf)."""
        x = np.asarray(n, dtype=np.float64) / self.n0
        finite = np.isfinite(x)
        power = np.where(finite, np.where(finite, x, 1.0) ** (-self.p), 0.0)
        log_x = np.log(np.where(finite, x, 1.0))
        return np.stack([np.ones_like(power), power, -self.a * power * log_x])


def _failed_law(n_points: int, reason: str) -> OffsetPowerLaw:
    nan = float("nan")
    return OffsetPowerLaw(
        nan, nan, nan, np.full((3, 3), np.nan), nan, n_points, n_points - 3, nan, False, False, reason
    )


def _held_exponent_fit(x: np.ndarray, y: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """(c, a, p) and covariance with p fixed: ordinary least squares in (c, a) on x^-p, residual
    variance over n - 3 degrees of freedom (the exponent was still chosen with the data)."""
    design = np.stack([np.ones_like(x), x ** (-p)], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    dof = x.size - 3
    cov = np.full((3, 3), np.nan)
    if dof >= 1:
        cov = np.zeros((3, 3))
        cov[:2, :2] = float(residual @ residual) / dof * np.linalg.inv(design.T @ design)
    return np.array([coef[0], coef[1], p]), cov


def fit_offset_power(n, y, min_exponent: float | None = None) -> OffsetPowerLaw:
    """Fit y = c + a (n/n0)^-p (n0 the geometric mean width) and keep it for extrapolation.

    The free fit is :func:`fit_scaling`'s. With ``min_exponent``, a free exponent below it is held
    at it (a theory bound the caller imposes, e.g. beta >= alpha/2); see :class:`OffsetPowerLaw`.
    """
    n, y = _finite_points(n, y)
    if n.size < 3 or np.unique(n).size < 3:
        return _failed_law(n.size, f"too few distinct widths for a 3-parameter law ({np.unique(n).size} < 3)")
    n0 = float(np.exp(np.mean(np.log(n))))
    x = n / n0
    try:
        popt, pcov = _least_squares_offset_power(x, y)
    except (RuntimeError, ValueError) as err:
        return _failed_law(n.size, f"curve_fit failed: {err}")
    dof = n.size - 3
    p_free = float(popt[2])
    held = min_exponent is not None and p_free < min_exponent
    if held:
        popt, pcov = _held_exponent_fit(x, y, float(min_exponent))
    elif dof < 1:
        pcov = np.full((3, 3), np.nan)  # an exact fit: no residuals to scale the covariance
    se_p = float(np.sqrt(pcov[2, 2])) if np.isfinite(pcov[2, 2]) else np.nan
    if dof < 1:
        reason = f"exact fit of {n.size} widths: no degrees of freedom for an interval"
    elif held:
        reason = ""
    else:
        reason = _fit_caveat(p_free, se_p, dof)
    return OffsetPowerLaw(
        c=float(popt[0]),
        a=float(popt[1]),
        p=float(popt[2]),
        cov=np.asarray(pcov, dtype=np.float64),
        n0=n0,
        n_points=int(n.size),
        dof=int(dof),
        p_free=p_free,
        held=bool(held),
        identified=not reason,
        reason=reason,
    )
