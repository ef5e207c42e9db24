"""transfer.nc -> advice.nc: the hyperparameter to use at a target width, with its interval, what
using a proxy's tuned value there is expected to cost, and Theorem 2 at a FLOP budget.

For one parametrization (docs/advice.md has the method for a reader):

1. **Refusals.** One width, a width at which every run diverged, an optimum on the grid edge at the
   largest width, or fewer than two widths with an interior optimum: no number pretends to be
   advice, the ``refusal`` says why. A target not above the largest width gets a ``target_note``
   (its optimum is measured, or lies between measured widths) and no value.
2. **The value at a target width N** (``nu_advised`` with its interval), one of three cases:

   - ``law``: the law nu*(n) = D - B n^-beta fitted to the widths with an interior optimum (at
     least :data:`MIN_OPTIMUM_LAW_WIDTHS`) is identified; the value is read off it, the interval
     counts the fit's noise and its shift when the smallest width is left out
     (:mod:`~hptransfer.analysis.extrapolation`);
   - ``law_floor``: the same law with beta held at alpha_lo/2 because the free fit gave a smaller
     exponent. Proposition 1 (b_n = O(a_n^1/2) under weak transfer) makes beta >= alpha/2 the
     slowest asymptotic drift; a smaller fitted beta means widths that are not yet asymptotic. Held
     only where both rates are established (alpha_lo > 0 and beta_lo > 0: the loss and the
     optimum's gap both measurably shrink), since an optimum that does not converge at all (beta
     ~ 0) breaks the bound's assumptions;
   - ``drift``: no law is identified. The value is nu*(n_max) and its interval is widened by the
     drift per doubling of width measured over the widths times the doublings to N, which bounds the
     optimum as long as its drift does not speed up with width.
3. **What transfer costs at N.** ``suboptimality``: the loss at N of using the largest width's
   tuned value instead of retuning, the largest width's loss curve read at its optimum shifted by
   the predicted drift (the curve's shape at N taken to be the largest width's; a quadratic in the
   curve's curvature where the shift leaves the grid). Next to it the loss gap ``loss_gap`` a_N =
   L(N) - L_inf of the fitted L(n) = L_inf + A n^-alpha, and ``suboptimality_from`` every measured
   width as the proxy.
4. **Theorem 2 at a budget** F (FLOPs; by default the cost of tuning directly at N, the study's
   grid of G values: F = G C(N)): tuning directly at the width F affords, against tuning each
   measured proxy (G runs) and training once at the width the rest of F affords, each with its
   predicted loss; ``decision`` is "undecided" where the interval of beta - alpha/2 contains 0.
   C(n) is :mod:`~hptransfer.analysis.flops`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats

from ..io import describe, in_sweep_units
from .coords import coordinate_name, hp_value, map_over_param
from .extrapolation import MIN_LAW_WIDTHS, Drift, Estimate, Extrapolation, drift_per_doubling, extrapolate_law
from .flops import CostModel
from .optimum import fit_interpolant
from .rates import MARGIN_ATOL

__all__ = ["CASES", "advise"]

CASES = ("law", "law_floor", "drift", "refused")
# widths the optimum's law needs before the advice extrapolates it: 3 parameters, a degree of
# freedom for its noise, and one more so that the refit without the smallest width (the check of the
# fitted range) has one too. With one degree of freedom a residual that is small by chance makes a
# narrow interval that nothing checks. The loss law, only the yardstick a_N, makes do with
# MIN_LAW_WIDTHS (4).
MIN_OPTIMUM_LAW_WIDTHS = MIN_LAW_WIDTHS + 1
# points of the figure's extrapolation curve, from the smallest width to the largest target
CURVE_POINTS = 120


# ---------------------------------------------------------------------------- what was measured


@dataclass(frozen=True)
class Measured:
    """One parametrization's transfer analysis (transfer.nc) as arrays: per width the optimum with
    its bootstrap interval and flags, the seed-mean loss curves, and the rates' intervals."""

    hp: str
    widths: np.ndarray
    nu_star: np.ndarray
    nu_lo: np.ndarray
    nu_hi: np.ndarray
    loss_star: np.ndarray
    at_edge: np.ndarray
    grid_index: np.ndarray
    used: np.ndarray
    nu_grid: np.ndarray
    loss_mean: np.ndarray
    level: float
    verdict: str
    margin_lo: float
    margin_hi: float
    alpha_lo: float
    beta_lo: float

    @classmethod
    def from_transfer(cls, t: xr.Dataset) -> Measured:
        hp = t.attrs["hp"]

        def per_width(name):
            return t[name].values.astype(np.float64)

        return cls(
            hp=hp,
            widths=t["width"].values.astype(np.int64),
            nu_star=per_width("nu_star"),
            nu_lo=per_width("nu_star_lo"),
            nu_hi=per_width("nu_star_hi"),
            loss_star=per_width("loss_star"),
            at_edge=t["at_edge"].values.astype(bool),
            grid_index=t["grid_index"].values.astype(np.int64),
            used=t["used_in_fit"].values.astype(bool),
            nu_grid=t["nu"].values.astype(np.float64),
            loss_mean=t["loss_mean"].transpose("width", hp).values.astype(np.float64),
            level=float(t.attrs.get("interval_level", 0.9)),
            verdict=str(t["verdict"].values),
            margin_lo=float(t["margin_lo"]),
            margin_hi=float(t["margin_hi"]),
            alpha_lo=float(t["alpha_lo"]),
            beta_lo=float(t["beta_lo"]),
        )

    @property
    def reference(self) -> int:
        """Index of the largest width: the proxy whose tuned value the advice starts from."""
        return int(np.argmax(self.widths))

    def nu_se(self) -> np.ndarray:
        """Standard errors of the optima from their percentile intervals (NaN with one seed)."""
        z = float(stats.norm.ppf((1 + self.level) / 2))
        return (self.nu_hi - self.nu_lo) / (2 * z)


def refusal(m: Measured) -> str:
    """Why this sweep cannot support advice ("" where it can): each a message that names what to fix."""
    if m.widths.size < 2:
        return (
            f"the sweep has one width ({int(m.widths[0])}): advice extrapolates how the optimum moves "
            "with width, which takes at least two widths"
        )
    dead = m.widths[m.grid_index < 0]
    if dead.size:
        return (
            f"every run diverged at width {', '.join(map(str, dead))}: there is no optimum to extrapolate from; "
            "shift the grid towards smaller values or fix the training at that width"
        )
    ref = m.reference
    if m.at_edge[ref]:
        return (
            f"the optimum at the largest width {int(m.widths[ref])} is on the edge of the grid "
            f"({m.hp} = {float(hp_value(m.hp, m.nu_star[ref])):.4g}), so it is only a bound: extend the grid there"
        )
    if m.used.sum() < 2:
        return (
            f"only width {', '.join(map(str, m.widths[m.used]))} has an interior optimum (the others are on a grid "
            "edge): a drift with width cannot be measured; extend the grid"
        )
    return ""


def target_note(target: int, m: Measured) -> str:
    """Why a target width gets no extrapolated value ("" where it does)."""
    n_max = int(m.widths.max())
    if target in m.widths:
        return f"width {target} was measured: read its optimum from the table of optima"
    if target < n_max:
        return f"width {target} is below the largest width run ({n_max}): interpolate between the measured optima"
    return ""


def beta_floor(m: Measured) -> tuple[float | None, str]:
    """The smallest exponent the optimum's law may have, alpha_lo/2 (Proposition 1), with why it
    is (or is not) imposed."""
    if np.isfinite(m.alpha_lo) and np.isfinite(m.beta_lo) and m.alpha_lo > 0 and m.beta_lo > 0:
        return m.alpha_lo / 2, f"beta >= alpha_lo/2 = {m.alpha_lo / 2:.3g} (Proposition 1)"
    return None, "no floor on beta: alpha or beta is not established above 0"


# ------------------------------------------------------------------ what a proxy's value costs


class LossShift:
    """The loss, above its minimum, of using a value d away from the optimum, read on the reference
    width's seed-mean curve: phi(nu* - d) - phi* (+inf where that value diverged). Where nu* - d
    leaves the grid, the quadratic curvature/2 d^2 of the curve at its optimum stands in."""

    def __init__(self, m: Measured):
        ref = m.reference
        self.curve = fit_interpolant(m.nu_grid, m.loss_mean[ref])
        self.nu_star, self.loss_star = float(m.nu_star[ref]), float(m.loss_star[ref])
        spline = self.curve.spline
        curvature = float(spline(self.nu_star, 2)) if spline is not None else np.nan
        self.curvature = curvature if curvature > 0 else np.nan

    def __call__(self, d) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        query = np.where(np.isfinite(d), self.nu_star - d, np.nan)
        # off the measured range: the quadratic, but never less than at the range's end (the curve
        # rises away from its optimum), so the loss grows with the drift on either side
        inside = np.clip(query, self.curve.nu_finite.min(), self.curve.nu_finite.max())
        with np.errstate(invalid="ignore"):
            raw = np.asarray(self.curve(query), dtype=np.float64)  # +inf where training diverges
            edge = np.maximum(np.asarray(self.curve(inside), dtype=np.float64) - self.loss_star, 0.0)
        quadratic = 0.5 * self.curvature * d**2
        out = np.where(np.isnan(raw), np.fmax(edge, quadratic), np.maximum(raw - self.loss_star, 0.0))
        return np.where(np.isfinite(d), out, np.nan)

    def interval(self, d_lo, d_hi) -> tuple[np.ndarray, np.ndarray]:
        """Range of the loss over drifts in [d_lo, d_hi]: 0 where the interval holds d = 0 (the
        curve is unimodal), else the nearer end's; the farther end's at the top."""
        at_lo, at_hi = self(d_lo), self(d_hi)
        holds_zero = (np.asarray(d_lo) <= 0) & (np.asarray(d_hi) >= 0)
        return np.where(holds_zero, 0.0, np.fmin(at_lo, at_hi)), np.fmax(at_lo, at_hi)


def suboptimality(shift: LossShift, drift: Estimate) -> Estimate:
    """The loss of using the proxy's value where the optimum has moved by ``drift``."""
    lo, hi = shift.interval(drift.lo, drift.hi)
    return Estimate(shift(drift.value), lo, hi)


# ------------------------------------------------------------------------------ the two cases


@dataclass(frozen=True)
class Extrapolated:
    """The optimum at the targets, its drift from the reference width, and how it was obtained."""

    case: str
    statement: str
    advised: Estimate
    drift: Estimate
    curve: Estimate  # over the figure's widths
    law: Extrapolation | None
    slope: Drift | None
    floor: float | None


def _law_case(m: Measured, ext: Extrapolation, floor, floor_note, targets, fine) -> Extrapolated:
    law, k = ext.law, int(m.used.sum())
    n_ref = float(m.widths[m.reference])
    held = law.held
    if held:
        statement = (
            f"law with beta held at its floor: nu*(n) = D - B n^-beta fitted to the {k} widths with an interior "
            f"optimum, the free fit's beta = {law.p_free:.3g} lying below {floor_note}, so these widths look "
            "pre-asymptotic for the optimum's drift and beta is held at the floor"
        )
    else:
        se = float(np.sqrt(law.cov[2, 2]))
        statement = (
            f"law identified: nu*(n) = D - B n^-beta fitted to the {k} widths with an interior optimum "
            f"(beta = {law.p:.3g} ± {se:.2g})"
        )
    statement += (
        f"; each value is read off the law, its interval adds the fit's noise (Student t, {law.dof} degrees of "
        "freedom) and the law's shift when the smallest width is left out"
    )
    return Extrapolated(
        case="law_floor" if held else "law",
        statement=statement,
        advised=ext.estimate(targets),
        drift=ext.estimate(targets, n_ref),
        curve=ext.estimate(fine),
        law=ext,
        slope=None,
        floor=floor,
    )


def _drift_case(m: Measured, why: str, targets, fine) -> Extrapolated | str:
    used = m.used
    slope = drift_per_doubling(m.widths[used], m.nu_star[used], m.nu_se()[used], m.level)
    if slope.reason:
        return f"no law is identified ({why}) and {slope.reason}: add a width or a seed"
    ref = m.reference
    n_ref, nu_ref = float(m.widths[ref]), float(m.nu_star[ref])
    # where the largest width's optimum is: its seed interval, or its scatter about the drift line
    # where that is wider (a percentile bootstrap over two or three seeds is too narrow)
    start_lo = float(np.fmin(m.nu_lo[ref], nu_ref - slope.scatter)) if np.isfinite(slope.scatter) else m.nu_lo[ref]
    start_hi = float(np.fmax(m.nu_hi[ref], nu_ref + slope.scatter)) if np.isfinite(slope.scatter) else m.nu_hi[ref]
    start_lo, start_hi = (nu_ref if np.isnan(x) else x for x in (start_lo, start_hi))

    def band(widths):
        doublings = np.log2(np.asarray(widths, dtype=np.float64) / n_ref)
        lo, hi = slope.band(start_lo, start_hi, doublings)
        beyond = doublings >= 0
        value = np.where(beyond, nu_ref, np.nan)
        return Estimate(value, np.where(beyond, lo, np.nan), np.where(beyond, hi, np.nan))

    advised = band(targets)
    statement = (
        f"law not identified ({why}): the value is the optimum measured at the largest width {int(n_ref)}, "
        f"its interval widened by the drift per doubling of width over the {slope.n_points} widths "
        f"({slope.slope:+.3g}, interval [{slope.slope_lo:+.3g}, {slope.slope_hi:+.3g}] in {coordinate_name(m.hp)}) "
        "times the doublings to the target; this bounds the optimum if its drift does not speed up with width"
    )
    drift = Estimate(np.full(advised.value.shape, np.nan), advised.lo - nu_ref, advised.hi - nu_ref)
    return Extrapolated("drift", statement, advised, drift, band(fine), None, slope, None)


def extrapolate_optimum(m: Measured, targets, fine) -> Extrapolated | str:
    """The optimum at ``targets`` (and the figure's widths ``fine``) by the law where one is
    identified, else by the drift; a message where neither can be had."""
    used = m.used
    floor, floor_note = beta_floor(m)
    if used.sum() >= MIN_OPTIMUM_LAW_WIDTHS:
        ext = extrapolate_law(m.widths[used], m.nu_star[used], m.level, floor)
        if ext.law.identified:
            return _law_case(m, ext, floor, floor_note, targets, fine)
        why = ext.law.reason
    else:
        why = (
            f"{int(used.sum())} widths with an interior optimum; extrapolating the optimum's law takes "
            f"{MIN_OPTIMUM_LAW_WIDTHS}"
        )
    return _drift_case(m, why, targets, fine)


# ------------------------------------------------------------------------ Theorem 2 at a budget


@dataclass(frozen=True)
class BudgetComparison:
    """Theorem 2 made concrete at one budget per target: direct tuning against each proxy."""

    budget: np.ndarray  # (target,)
    direct_width: np.ndarray
    direct_loss: Estimate
    reach_width: np.ndarray  # (target, proxy)
    transfer_loss: Estimate
    best_proxy: np.ndarray  # (target,) int, -1: direct tuning is predicted best (or nothing is)
    decision: list[str]


def _nan_estimate(shape) -> Estimate:
    return Estimate(*(np.full(shape, np.nan) for _ in range(3)))


def _predicted_loss(loss_law: Extrapolation | None, widths) -> Estimate:
    if loss_law is None:
        return _nan_estimate(np.shape(widths))
    return loss_law.estimate(widths)


def _decision(m: Measured, direct: float, options: np.ndarray, proxies, why_not: str) -> tuple[int, str]:
    """The predicted-best strategy and the decision: "undecided" where Theorem 2's margin does not
    decide (its interval contains 0) or the laws are missing."""
    if why_not:
        return -1, f"undecided: {why_not}"
    finite = np.isfinite(options)
    best = int(np.nanargmin(options)) if finite.any() else -1
    if best >= 0 and not options[best] < direct:
        best = -1  # direct tuning predicted at least as good
    margin = f"beta - alpha/2 in [{m.margin_lo:.3g}, {m.margin_hi:.3g}]"
    pick = f"tune at {int(proxies[best])} and transfer" if best >= 0 else "tune directly"
    if not (np.isfinite(m.margin_lo) and np.isfinite(m.margin_hi)):
        return best, f"undecided: no interval for beta - alpha/2 (best by the point estimates: {pick})"
    if m.margin_lo <= MARGIN_ATOL and m.margin_hi >= -MARGIN_ATOL:
        return best, f"undecided: {margin} contains 0 (best by the point estimates: {pick})"
    return best, f"{pick} ({margin})"


def compare_at_budget(
    m: Measured, budgets, cost: CostModel | None, opt: Extrapolated | None, loss_law, shift: LossShift
) -> BudgetComparison:
    """Direct tuning against tuning each measured proxy and transferring, at ``budgets`` (one per
    target): widths afforded, predicted losses (loss law plus the transfer's sub-optimality)."""
    budgets = np.asarray(budgets, dtype=np.float64)
    proxies = m.widths.astype(np.float64)
    n_grid = m.nu_grid.size
    shape = (budgets.size, proxies.size)
    if cost is None:
        return BudgetComparison(
            budgets,
            np.full(budgets.shape, np.nan),
            _nan_estimate(budgets.shape),
            np.full(shape, np.nan),
            _nan_estimate(shape),
            np.full(budgets.shape, -1),
            ["undecided: no cost model for this study"] * budgets.size,
        )
    direct_width = np.array([cost.width_for(f / n_grid) for f in budgets])
    spare = budgets[:, None] - n_grid * cost.run_flops(proxies)[None, :]
    reach = np.array([[cost.width_for(s) if s > 0 else np.nan for s in row] for row in spare])
    reach = np.where(m.used[None, :] & (reach > proxies[None, :]), reach, np.nan)
    direct = _predicted_loss(loss_law, direct_width)
    at_reach = _predicted_loss(loss_law, reach)
    if opt is not None and opt.law is not None:
        cost_of_transfer = suboptimality(shift, opt.law.estimate(reach, proxies[None, :]))
    else:
        cost_of_transfer = _nan_estimate(shape)
    transfer = Estimate(*(a + b for a, b in zip(at_reach, cost_of_transfer)))
    why_not = _missing_law(loss_law, opt)
    picks = [_decision(m, direct.value[i], transfer.value[i], proxies, why_not) for i in range(budgets.size)]
    return BudgetComparison(
        budgets,
        direct_width,
        direct,
        reach,
        transfer,
        np.array([p[0] for p in picks], dtype=np.int64),
        [p[1] for p in picks],
    )


def _missing_law(loss_law, opt: Extrapolated | None) -> str:
    if loss_law is None:
        return "the loss law L(n) = L_inf + A n^-alpha is not identified, so no loss can be predicted"
    if opt is None or opt.law is None:
        return "the optimum's law is not identified, so the transfer's cost at a wider width cannot be predicted"
    return ""


# ---------------------------------------------------------------------------------- the dataset


def _var(dims, values, long_name: str, units: str):
    return (dims, np.asarray(values), {"long_name": long_name, "units": units})


def _estimate_vars(name: str, dims, est: Estimate, long_name: str, units: str, level: float) -> dict:
    pct = f"{100 * level:g}%"
    return {
        name: _var(dims, est.value, long_name, units),
        f"{name}_lo": _var(dims, est.lo, f"lower {pct} bound of {long_name}", units),
        f"{name}_hi": _var(dims, est.hi, f"upper {pct} bound of {long_name}", units),
    }


def _loss_law(m: Measured) -> tuple[Extrapolation | None, str]:
    used = m.used
    if used.sum() < MIN_LAW_WIDTHS:
        return None, f"{int(used.sum())} widths with an interior optimum, a law with an interval needs {MIN_LAW_WIDTHS}"
    ext = extrapolate_law(m.widths[used], m.loss_star[used], m.level)
    return (ext, "") if ext.law.identified else (None, ext.law.reason)


def _law_scalars(opt: Extrapolated | None, loss_law: Extrapolation | None, loss_note: str, nu_units: str) -> dict:
    nan = np.nan
    law = opt.law.law if opt is not None and opt.law is not None else None
    loss = loss_law.law if loss_law is not None else None
    slope = opt.slope if opt is not None else None
    return {
        "law_D": _var((), law.c if law else nan, "D = nu*(inf) of nu*(n) = D - B n^-beta", nu_units),
        "law_B": _var((), -law.a * law.n0**law.p if law else nan, "B of nu*(n) = D - B n^-beta", nu_units),
        "law_beta": _var((), law.p if law else nan, "beta of the law used (held at its floor where law_held)", "1"),
        "law_beta_free": _var((), law.p_free if law else nan, "beta of the unconstrained fit", "1"),
        "law_held": _var((), bool(law.held) if law else False, "beta held at its floor alpha_lo/2", "1"),
        "beta_floor": _var(
            (), opt.floor if opt is not None and opt.floor is not None else nan, "floor alpha_lo/2 on beta", "1"
        ),
        "law_dof": _var((), law.dof if law else -1, "degrees of freedom of the law's fit (-1: no law)", "1"),
        "drift_slope": _var((), slope.slope if slope else nan, "drift of nu* per doubling of width", nu_units),
        "drift_slope_lo": _var((), slope.slope_lo if slope else nan, "lower bound of the drift per doubling", nu_units),
        "drift_slope_hi": _var((), slope.slope_hi if slope else nan, "upper bound of the drift per doubling", nu_units),
        "loss_law_L_inf": _var((), loss.c if loss else nan, "L_inf of L(n) = L_inf + A n^-alpha", "loss"),
        "loss_law_A": _var((), loss.a * loss.n0**loss.p if loss else nan, "A of L(n) = L_inf + A n^-alpha", "loss"),
        "loss_law_alpha": _var((), loss.p if loss else nan, "alpha of L(n) = L_inf + A n^-alpha", "1"),
        "loss_law_note": _var((), loss_note, "why the loss law is not used (empty: it is)", ""),
    }


@dataclass(frozen=True)
class _Advice:
    """Everything computed for one parametrization, before it becomes variables."""

    m: Measured
    targets: np.ndarray
    fine: np.ndarray
    notes: list[str]
    reason: str
    opt: Extrapolated | None
    shift: LossShift
    loss_law: Extrapolation | None
    loss_note: str
    valid: np.ndarray  # targets that get a value
    run_flops: np.ndarray
    proxy_flops: np.ndarray
    thm2: BudgetComparison

    def masked(self, est: Estimate, mask=None) -> Estimate:
        mask = self.valid if mask is None else mask
        return Estimate(*(np.where(mask, part, np.nan) for part in est))


def _compute(t: xr.Dataset, targets, cost: CostModel | None, budget: float | None) -> _Advice:
    m = Measured.from_transfer(t)
    targets = np.asarray(targets, dtype=np.int64)
    fine = np.geomspace(m.widths.min(), max(targets.max(), m.widths.max()), CURVE_POINTS)
    notes = [target_note(int(n), m) for n in targets]
    reason = refusal(m)
    opt = None
    if not reason:
        opt = extrapolate_optimum(m, targets.astype(np.float64), fine)
        if isinstance(opt, str):
            reason, opt = opt, None
    loss_law, loss_note = _loss_law(m) if not reason else (None, reason)
    valid = np.array([not note for note in notes]) & (opt is not None)
    run_flops = cost.run_flops(targets) if cost else np.full(targets.size, np.nan)
    proxy_flops = cost.run_flops(m.widths) if cost else np.full(m.widths.size, np.nan)
    budgets = np.full(targets.size, float(budget)) if budget is not None else m.nu_grid.size * run_flops
    shift = LossShift(m)
    thm2 = compare_at_budget(m, np.where(valid, budgets, np.nan), cost, opt, loss_law, shift)
    return _Advice(
        m, targets, fine, notes, reason, opt, shift, loss_law, loss_note, valid, run_flops, proxy_flops, thm2
    )


T, TP = ("target",), ("target", "proxy")


def _value_vars(a: _Advice) -> dict:
    """The value to use at each target, its drift from the largest width, the figure's curve."""
    hp, level, nu_units = a.m.hp, a.m.level, coordinate_name(a.m.hp)
    nan = _nan_estimate(a.targets.shape)
    advised = a.masked(a.opt.advised) if a.opt else nan
    return {
        **_estimate_vars("nu_advised", T, advised, "advised hp coordinate at the target width", nu_units, level),
        **_estimate_vars(
            "hp_advised",
            T,
            Estimate(*(hp_value(hp, x) for x in advised)),
            f"advised {hp} at the target width",
            hp,
            level,
        ),
        **_estimate_vars(
            "drift", T, a.masked(a.opt.drift) if a.opt else nan, "nu*(target) - nu*(largest width)", nu_units, level
        ),
        "target_note": _var(T, a.notes, "why a target has no advised value (empty: it has one)", ""),
        **_estimate_vars(
            "curve",
            ("width_fine",),
            a.opt.curve if a.opt else _nan_estimate(a.fine.shape),
            "optimum against width: the law, or the drift band beyond the largest width",
            nu_units,
            level,
        ),
    }


def _cost_vars(a: _Advice) -> dict:
    """What using a proxy's value costs at each target, next to the loss gap still to come, and the
    FLOPs of tuning there directly or at a proxy."""
    level, widths = a.m.level, a.m.widths.astype(np.float64)
    n_grid = a.m.nu_grid.size
    if a.opt is not None and a.opt.law is not None:
        drift_from = a.opt.law.estimate(a.targets[:, None].astype(np.float64), widths[None, :])
        drift_from = a.masked(drift_from, a.valid[:, None] & a.m.used[None, :])
    else:
        drift_from = _nan_estimate((a.targets.size, widths.size))
    drift = a.masked(a.opt.drift) if a.opt else _nan_estimate(a.targets.shape)
    gap = _loss_gap(a.loss_law, a.targets)
    return {
        **_estimate_vars(
            "suboptimality",
            T,
            suboptimality(a.shift, drift),
            "loss at the target of the largest width's tuned value, above the target's optimum",
            "loss",
            level,
        ),
        **_estimate_vars(
            "suboptimality_from",
            TP,
            suboptimality(a.shift, drift_from),
            "loss at the target of the proxy's tuned value, above the target's optimum",
            "loss",
            level,
        ),
        **_estimate_vars("loss_gap", T, a.masked(gap), "loss gap a_N = L(N) - L_inf", "loss", level),
        **_estimate_vars(
            "loss_at_target",
            T,
            a.masked(_predicted_loss(a.loss_law, a.targets)),
            "predicted optimal loss L(N)",
            "loss",
            level,
        ),
        "run_flops": _var(T, a.run_flops, "training FLOPs of one run at the target width", "FLOPs"),
        "direct_flops": _var(T, n_grid * a.run_flops, "FLOPs of tuning directly at the target", "FLOPs"),
        "transfer_flops": _var(
            TP,
            n_grid * a.proxy_flops[None, :] + a.run_flops[:, None],
            "FLOPs of tuning at the proxy and one run at the target",
            "FLOPs",
        ),
    }


def _budget_vars(a: _Advice) -> dict:
    """Theorem 2 at the budget of each target."""
    level, thm2 = a.m.level, a.thm2
    decisions = [note or (a.reason and f"no advice: {a.reason}") or d for note, d in zip(a.notes, thm2.decision)]
    return {
        "budget": _var(T, thm2.budget, "FLOP budget of the Theorem 2 comparison", "FLOPs"),
        "direct_width": _var(T, thm2.direct_width, "widest width tuned directly within the budget", "1"),
        **_estimate_vars("direct_loss", T, thm2.direct_loss, "predicted loss of direct tuning", "loss", level),
        "reach_width": _var(TP, thm2.reach_width, "width trained after tuning at the proxy within the budget", "1"),
        **_estimate_vars(
            "transfer_loss",
            TP,
            thm2.transfer_loss,
            "predicted loss of tuning at the proxy, then transferring",
            "loss",
            level,
        ),
        "best_proxy": _var(T, thm2.best_proxy, "proxy width predicted best (-1: direct tuning or none)", "1"),
        "decision": _var(T, decisions, "Theorem 2 at the budget: which strategy, or undecided and why", ""),
    }


def _scalar_vars(a: _Advice) -> dict:
    m, pct, nu_units = a.m, f"{100 * a.m.level:g}%", coordinate_name(a.m.hp)
    return {
        "case": _var((), a.opt.case if a.opt else "refused", f"how the value was obtained: {' | '.join(CASES)}", ""),
        "statement": _var((), a.opt.statement if a.opt else f"no advice: {a.reason}", "the case in words", ""),
        "refusal": _var((), a.reason, "why the sweep cannot support advice (empty: it can)", ""),
        "proxy_usable": _var(("proxy",), m.used, "width with an interior optimum (a usable proxy)", "1"),
        "reference_width": _var((), int(m.widths[m.reference]), "largest width, the proxy of suboptimality", "1"),
        "curvature": _var(
            (), a.shift.curvature, "second derivative of its loss curve at its optimum", f"loss/({nu_units})^2"
        ),
        "grid_size": _var((), m.nu_grid.size, "values of the swept hyperparameter (runs of one tuning)", "1"),
        "verdict": _var((), m.verdict, "transfer verdict of transfer.nc: fast | weak | inconclusive", ""),
        "margin_lo": _var((), m.margin_lo, f"lower {pct} bound of beta - alpha/2 (transfer.nc)", "1"),
        "margin_hi": _var((), m.margin_hi, f"upper {pct} bound of beta - alpha/2 (transfer.nc)", "1"),
        **_law_scalars(a.opt, a.loss_law, a.loss_note, nu_units),
    }


def _advise_single(t: xr.Dataset, targets, cost: CostModel | None, budget: float | None) -> xr.Dataset:
    a = _compute(t, targets, cost, budget)
    variables = {**_value_vars(a), **_cost_vars(a), **_budget_vars(a), **_scalar_vars(a)}
    coords = {
        "target": _var("target", a.targets, "target width N", "1"),
        "proxy": _var("proxy", a.m.widths, "measured width as the proxy", "1"),
        "width_fine": _var("width_fine", a.fine, "width of the extrapolation curve", "1"),
    }
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(
        study=t.attrs.get("study", ""),
        hp=a.m.hp,
        coordinate=coordinate_name(a.m.hp),
        metric=t.attrs.get("metric", ""),
        interval_level=a.m.level,
        cost_model=json.dumps(cost.settings if cost else None, sort_keys=True),
        cost_model_description=cost.describe() if cost else "none",
        budget_rule="given" if budget is not None else "the FLOPs of tuning directly at the target",
    )
    return ds


def _loss_gap(loss_law: Extrapolation | None, targets) -> Estimate:
    if loss_law is None:
        return _nan_estimate(np.shape(targets))
    return loss_law.estimate(np.asarray(targets, dtype=np.float64), np.inf)


def advise(transfer: xr.Dataset, targets, cost: CostModel | None = None, budget: float | None = None) -> xr.Dataset:
    """advice.nc from a transfer analysis (per parametrization where it has a ``param`` dim).

    ``targets``: the target widths (:func:`hptransfer.studies.advice_targets` in the workflow); ``cost``: the study's
    :class:`~hptransfer.analysis.flops.CostModel` (None: no FLOPs, Theorem 2 undecided); ``budget``:
    the FLOP budget of Theorem 2 (default: the cost of tuning directly at each target).
    """
    ds = describe(map_over_param(transfer, lambda part: _advise_single(part, targets, cost, budget)))
    return in_sweep_units(ds, transfer["loss_star"].attrs.get("units"), transfer.attrs["hp"])
