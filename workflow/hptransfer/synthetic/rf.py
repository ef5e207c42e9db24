"""Random-features ridge regression: deterministic equivalent, Theorem 3 rates, and a simulation.

paper.md §2. Data x ~ N(0, I_d), target y = σ_*(⟨x, β_*⟩) + ε, features σ(Wᵀx) with W_ij ~ N(0, 1/d),
ridge penalty n·λ‖a‖² (the convention under which the deterministic equations (E1)/(E2) hold, §2.5).
σ and σ_* are normalised to zero mean and unit Gaussian norm (Assumption 2): by default the paper's
tanh features and ReLU target, or any pair of :data:`.hermite.NAMES` (keywords ``activation``,
``target``; their Hermite coefficients are in :mod:`.hermite`). The equations see the pair only
through μ1² of σ and μ1*² of σ_*; the simulation uses the functions themselves.

The asymptotic risk at ridge λ and width ψ2 = n/d comes from the unique positive solution (m1, m2) of
(E1)/(E2) at z = λ. We reach it by continuation: the ψ2 = ∞ solution is closed form (§2.3), and we
walk log ψ2 down from ``PSI2_START`` to the target with a tangent predictor and a damped Newton
corrector that never leaves m1, m2 > 0. Derivatives in λ come from the implicit function theorem.

Public API: :func:`hermite_constants`, :func:`solve_m`, :func:`risk`, :func:`excess_risk`,
:func:`risk_inf`, :func:`lambda_star_inf`, :func:`lambda_star`, :func:`transfer_gaps`,
:func:`fit_loglog_slope`, :func:`simulate_rf`, :func:`rf_study`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import xarray as xr
from scipy import optimize

from ..config import defaults
from . import hermite
from .hermite import gaussian_expectation  # noqa: F401 - public before the hermite module existed

PSI2_START = 1e7  # where continuation starts; η = ψ1/ψ2 ≈ 4e-7 there, so ∞ is an excellent guess
NEWTON_TOL = 1e-14  # relative step size at which Newton has converged (risk needs ~1e-12 to pin λ*)
NEWTON_MAX_ITER = 40
MIN_LOG_STEP = 1e-6  # continuation gives up below this step in log ψ2 (never reached in practice)
HERMITE_ORDER = 41  # highest (odd) Hermite order in the simulation's population second moments
# λ*(ψ2) not inside (λ*(∞)/20, 10 λ*(∞)) is bracketed by a scan of λ*(∞)·[1e-3, 1e3] (ratio ≈1.26).
SCAN_FACTORS, SCAN_POINTS = (1e-3, 1e3), 61

# Theorem 3: a ~ b ~ ψ2^-1 and c ~ ψ2^-2.
PREDICTED_SLOPES = {"a": -1.0, "b": -1.0, "c": -2.0}

# The paper's model (ψ1 = N/d, noise σ_ε): the defaults of every function below.
PSI1, SIGMA_EPS = defaults.RF_RIDGE["psi1"], defaults.RF_RIDGE["sigma_eps"]
# ... and its functions: tanh features, a ReLU target (``activation``, ``target`` of a study).
ACTIVATION, TARGET = defaults.RF_FUNCTIONS["activation"], defaults.RF_FUNCTIONS["target"]


# ----------------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class HermiteConstants:
    """The normalised feature activation σ and target link σ_* with their Hermite coefficients (§2.5).

    The deterministic equivalent depends on the pair only through μ1² (μ2² = 1 − μ1²) of σ and
    μ1*² (μ2*² = 1 − μ1*²) of σ_*; the simulation uses the functions themselves.
    """

    activation: hermite.Normalised
    target: hermite.Normalised

    @property
    def mu1(self) -> float:  # E[σ'(z)]
        return self.activation.mu1

    @property
    def mu2sq(self) -> float:  # 1 − μ1²
        return self.activation.mu2sq

    @property
    def mu1_star(self) -> float:  # E[σ_*'(z)]
        return self.target.mu1

    @property
    def mu2sq_star(self) -> float:  # 1 − μ1*²
        return self.target.mu2sq

    # The paper's pair's normalisers under their historical names (tests and callers use them).
    @property
    def tanh_norm(self) -> float:
        return self._named("tanh").sd

    @property
    def relu_mean(self) -> float:
        return self._named("relu").mean

    @property
    def relu_sd(self) -> float:
        return self._named("relu").sd

    def _named(self, name: str) -> hermite.Normalised:
        for f in (self.activation, self.target):
            if f.name == name:
                return f
        raise AttributeError(f"neither the activation nor the target is {name}")

    def record(self) -> dict[str, float]:
        """rf.nc's ``constants``: μ1, μ2², μ1*, μ2*² and each function's normaliser, ``<name>_norm``
        for an odd one (mean 0), else ``<name>_mean`` and ``<name>_sd`` (for the paper's pair exactly
        the keys rf.nc always had)."""
        out = {"mu1": self.mu1, "mu2sq": self.mu2sq, "mu1_star": self.mu1_star, "mu2sq_star": self.mu2sq_star}
        for f in (self.activation, self.target):
            out.update({f"{f.name}_norm": f.sd} if f.odd else {f"{f.name}_mean": f.mean, f"{f.name}_sd": f.sd})
        return out


@lru_cache(maxsize=None)
def hermite_constants(activation: str = ACTIVATION, target: str = TARGET) -> HermiteConstants:
    """Constants of the pair; the default is the paper's, tanh features and a ReLU target."""
    return HermiteConstants(hermite.normalised(activation), hermite.normalised(target))


def sigma(z: np.ndarray, activation: str = ACTIVATION) -> np.ndarray:
    """Feature activation, normalised to zero mean and unit Gaussian norm."""
    return hermite.normalised(activation)(z)


def sigma_star(z: np.ndarray, target: str = TARGET) -> np.ndarray:
    """Target link, normalised to zero mean and unit Gaussian norm."""
    return hermite.normalised(target)(z)


# --------------------------------------------------------------------- deterministic equations
#
# We scale (E2) by η = ψ1/ψ2 so that ψ2 = ∞ is the regular point η = 0:
#   F1 = (1/ψ1)(m1 − m2)(μ2² m1 + μ1² m2) + μ1² m1 m2 (z m1 − 1)
#   F2 = μ1² m1 m2 + (m2 − m1)/ψ1 + η μ1² m1 m2 (z m1 − 1)


def _residual(m1, m2, z, psi1, eta, mu1sq, mu2sq):
    g = mu1sq * m1 * m2 * (z * m1 - 1.0)
    f1 = (m1 - m2) * (mu2sq * m1 + mu1sq * m2) / psi1 + g
    f2 = mu1sq * m1 * m2 + (m2 - m1) / psi1 + eta * g
    return f1, f2


def _jacobian(m1, m2, z, psi1, eta, mu1sq, mu2sq):
    """∂(F1, F2)/∂(m1, m2)."""
    dg1 = mu1sq * m2 * (2.0 * z * m1 - 1.0)
    dg2 = mu1sq * m1 * (z * m1 - 1.0)
    j11 = (2.0 * mu2sq * m1 + (mu1sq - mu2sq) * m2) / psi1 + dg1
    j12 = ((mu1sq - mu2sq) * m1 - 2.0 * mu1sq * m2) / psi1 + dg2
    j21 = mu1sq * m2 - 1.0 / psi1 + eta * dg1
    j22 = mu1sq * m1 + 1.0 / psi1 + eta * dg2
    return j11, j12, j21, j22


def _solve2(j11, j12, j21, j22, r1, r2):
    """J⁻¹ r for stacked 2×2 systems."""
    det = j11 * j22 - j12 * j21
    return (j22 * r1 - j12 * r2) / det, (j11 * r2 - j21 * r1) / det


def t_of_lambda(lam, psi1: float, *, activation: str = ACTIVATION) -> np.ndarray:
    """The ψ2 = ∞ root t > 1 of λ(t) = μ1²ψ1/(t−1) − μ1²/t − μ2² (§2.3).

    Clearing denominators gives q(t) = (λ+μ2²) t² − (λ + μ2² + μ1²ψ1 − μ1²) t − μ1² = 0. For
    λ > −μ2² the roots have a negative product, and q(1) = −μ1²ψ1 < 0, so the positive root is the
    unique root with t > 1.
    """
    f = hermite.normalised(activation)
    mu1sq = f.mu1**2
    s = np.asarray(lam, dtype=float) + f.mu2sq
    if np.any(s <= 0):
        raise ValueError("λ must exceed −μ2² for a positive ψ2 = ∞ solution")
    p = s + mu1sq * psi1 - mu1sq
    return (p + np.sqrt(p * p + 4.0 * s * mu1sq)) / (2.0 * s)


def _m_at_infinity(lam, psi1: float, activation: str):
    t = t_of_lambda(lam, psi1, activation=activation)
    m1 = (t - 1.0) / (hermite.normalised(activation).mu1 ** 2 * psi1)
    return m1, m1 / t


def _newton(m1, m2, z, psi1, eta, mu1sq, mu2sq):
    """Damped Newton on (F1, F2) that keeps every m strictly positive.

    Returns (m1, m2, converged). Each component's step is halved until the iterate stays in the
    positive quadrant: the positive root is unique (§2.5), so a path that never leaves the quadrant
    cannot drift onto a spurious (m ≤ 0) branch.
    """
    for _ in range(NEWTON_MAX_ITER):
        f1, f2 = _residual(m1, m2, z, psi1, eta, mu1sq, mu2sq)
        d1, d2 = _solve2(*_jacobian(m1, m2, z, psi1, eta, mu1sq, mu2sq), f1, f2)
        alpha = np.ones_like(m1)
        for _ in range(60):
            bad = (m1 - alpha * d1 <= 0) | (m2 - alpha * d2 <= 0) | ~np.isfinite(d1 + d2)
            if not bad.any():
                break
            alpha = np.where(bad, 0.5 * alpha, alpha)
        else:
            return m1, m2, False
        m1, m2 = m1 - alpha * d1, m2 - alpha * d2
        size = np.maximum(np.abs(alpha * d1) / m1, np.abs(alpha * d2) / m2)
        if np.all(size < NEWTON_TOL) and np.all(alpha == 1.0):
            return m1, m2, True
    # Converged to rounding noise without meeting the strict tolerance is still acceptable.
    f1, f2 = _residual(m1, m2, z, psi1, eta, mu1sq, mu2sq)
    ok = np.all(np.abs(f1) + np.abs(f2) < 1e-13 * (1.0 + m1 * m1 + m2 * m2))
    return m1, m2, bool(ok)


def _tangent_in_log_psi2(m1, m2, z, psi1, eta, mu1sq, mu2sq):
    """dm/d(log ψ2) = −J⁻¹ ∂F/∂(log ψ2); only F2 depends on ψ2, through η, and dη/dlogψ2 = −η."""
    g = mu1sq * m1 * m2 * (z * m1 - 1.0)
    d1, d2 = _solve2(*_jacobian(m1, m2, z, psi1, eta, mu1sq, mu2sq), np.zeros_like(g), -eta * g)
    return -d1, -d2


def _continue_to(m1, m2, z, psi1, log_from, log_to, mu1sq, mu2sq):
    """Follow the positive branch in log ψ2 from ``log_from`` down to ``log_to``."""
    log_psi2, step = log_from, 1.0
    while log_psi2 > log_to:
        h = min(step, log_psi2 - log_to)
        eta_now, eta_next = psi1 * math.exp(-log_psi2), psi1 * math.exp(-(log_psi2 - h))
        t1, t2 = _tangent_in_log_psi2(m1, m2, z, psi1, eta_now, mu1sq, mu2sq)
        g1, g2 = m1 - h * t1, m2 - h * t2
        if np.all(g1 > 0) and np.all(g2 > 0):
            n1, n2, ok = _newton(g1, g2, z, psi1, eta_next, mu1sq, mu2sq)
        else:
            ok = False
        # A step is accepted only if Newton converged and the solution moved by a modest amount;
        # otherwise halve it (the branch is smooth, so small enough steps always succeed).
        if ok and np.all(np.abs(n1 / m1 - 1.0) < 0.5) and np.all(np.abs(n2 / m2 - 1.0) < 0.5):
            m1, m2, log_psi2 = n1, n2, log_psi2 - h
            step = min(2.0 * step, 4.0)
        else:
            step = 0.5 * h
            if step < MIN_LOG_STEP:
                raise RuntimeError(f"continuation stalled at ψ2 = {math.exp(log_psi2):.6g}")
    return m1, m2


@dataclass(frozen=True)
class Solution:
    """Positive solution of (E1)/(E2) and its λ-derivatives; arrays of shape (len(psi2), len(lam))."""

    psi2: np.ndarray
    lam: np.ndarray
    m1: np.ndarray
    m2: np.ndarray
    dm1: np.ndarray
    dm2: np.ndarray


def solve_m(lam, psi2, psi1: float = PSI1, *, activation: str = ACTIVATION) -> Solution:
    """Solve (E1)/(E2) at z = λ for every (ψ2, λ) pair, by one continuation pass in log ψ2.

    ``psi2`` entries may be ``np.inf`` (closed form). The targets are visited from the largest ψ2
    down, each one starting from the previous, so a whole grid costs about one path. (E1)/(E2)
    involve the feature activation only (through μ1²); the target enters the risk.
    """
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    psi2 = np.atleast_1d(np.asarray(psi2, dtype=float))
    if np.any(lam <= 0):
        raise ValueError("the deterministic equivalent is solved at z = λ > 0")
    if np.any(psi2 <= 0):
        raise ValueError("ψ2 must be positive")
    f = hermite.normalised(activation)
    mu1sq, mu2sq = f.mu1**2, f.mu2sq
    m1_inf, m2_inf = _m_at_infinity(lam, psi1, activation)
    m1 = np.empty((psi2.size, lam.size))
    m2 = np.empty_like(m1)
    order = np.argsort(-psi2, kind="stable")
    cur1, cur2, log_cur = m1_inf, m2_inf, math.log(PSI2_START)
    for idx in order:
        if np.isinf(psi2[idx]):
            m1[idx], m2[idx] = m1_inf, m2_inf
            continue
        log_target = math.log(psi2[idx])
        if log_target >= log_cur:
            # Beyond the start: η is tiny, Newton from the ∞ solution converges at once.
            s1, s2, ok = _newton(m1_inf, m2_inf, lam, psi1, psi1 / psi2[idx], mu1sq, mu2sq)
            if not ok:
                raise RuntimeError(f"Newton failed at ψ2 = {psi2[idx]:.6g}")
        else:
            cur1, cur2 = _continue_to(cur1, cur2, lam, psi1, log_cur, log_target, mu1sq, mu2sq)
            log_cur = log_target
            s1, s2 = cur1, cur2
        m1[idx], m2[idx] = s1, s2
    eta = np.where(np.isinf(psi2), 0.0, psi1 / psi2)[:, None]
    dm1, dm2 = _lambda_derivatives(m1, m2, lam[None, :], psi1, eta, mu1sq, mu2sq)
    return Solution(psi2, lam, m1, m2, dm1, dm2)


def _lambda_derivatives(m1, m2, z, psi1, eta, mu1sq, mu2sq):
    """dm/dλ = −J⁻¹ ∂F/∂z with ∂F1/∂z = μ1² m1² m2 and ∂F2/∂z = η μ1² m1² m2."""
    dz = mu1sq * m1 * m1 * m2
    d1, d2 = _solve2(*_jacobian(m1, m2, z, psi1, eta, mu1sq, mu2sq), dz, eta * dz)
    return -d1, -d2


def residuals(sol: Solution, psi1: float = PSI1, *, activation: str = ACTIVATION) -> tuple[np.ndarray, np.ndarray]:
    """(E1) and the *unscaled* (E2) evaluated at a solution (for checks)."""
    c = hermite.normalised(activation)
    z = sol.lam[None, :]
    psi2 = sol.psi2[:, None]
    m1, m2 = sol.m1, sol.m2
    g = c.mu1**2 * m1 * m2 * (z * m1 - 1.0)
    e1 = (m1 - m2) * (c.mu2sq * m1 + c.mu1**2 * m2) / psi1 + g
    with np.errstate(invalid="ignore"):
        e2 = (psi2 / psi1) * (c.mu1**2 * m1 * m2 + (m2 - m1) / psi1) + g
    return e1, e2


# ------------------------------------------------------------------------------------------ risk


def risk_from_solution(sol: Solution, sigma_eps: float, *, target: str = TARGET) -> np.ndarray:
    """§2.2: R = −(μ2*² + σ_ε²) m1'/m1² − μ1*² m2'/m1² (full risk, noise included)."""
    c = hermite.normalised(target)
    return -((c.mu2sq + sigma_eps**2) * sol.dm1 + c.mu1**2 * sol.dm2) / sol.m1**2


def risk(
    lam, psi2, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS, *, activation: str = ACTIVATION, target: str = TARGET
) -> np.ndarray:
    """Asymptotic prediction risk E(y − f)², shape (len(psi2), len(lam))."""
    return risk_from_solution(solve_m(lam, psi2, psi1, activation=activation), sigma_eps, target=target)


def excess_risk(
    lam, psi2, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS, *, activation: str = ACTIVATION, target: str = TARGET
) -> np.ndarray:
    """R − σ_ε² (the y-axis of Fig 4a; it still contains the unlearnable μ2*² part)."""
    return risk(lam, psi2, psi1, sigma_eps, activation=activation, target=target) - sigma_eps**2


def risk_inf(
    lam, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS, *, activation: str = ACTIVATION, target: str = TARGET
) -> np.ndarray:
    """§2.3 closed form: R_∞ = ψ1((μ2*² + σ_ε²) t² + μ1*²)/S(t), S(t) = ψ1 t² − (t − 1)²."""
    c = hermite_constants(activation, target)
    t = t_of_lambda(lam, psi1, activation=activation)
    s = psi1 * t * t - (t - 1.0) ** 2
    return psi1 * ((c.mu2sq_star + sigma_eps**2) * t * t + c.mu1_star**2) / s


def lambda_star_inf(
    psi1: float = PSI1, sigma_eps: float = SIGMA_EPS, *, activation: str = ACTIVATION, target: str = TARGET
) -> float:
    """§2.3: λ*(∞) = μ1²(σ_ε² + μ2*²)/μ1*² − μ2² (independent of ψ1)."""
    problem = hermite.ill_posed(activation, target, sigma_eps)
    if problem:
        raise ValueError(problem)
    c = hermite_constants(activation, target)
    return hermite.infinite_width_optimum(c.activation, c.target, sigma_eps)


def lambda_star(
    psi2: float, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS, *, activation: str = ACTIVATION, target: str = TARGET
) -> tuple[float, float]:
    """argmin over λ of the risk at width ψ2 and the minimal *excess* risk.

    Bounded Brent minimisation in a bracket around λ*(∞) (λ*(ψ2) → λ*(∞), Theorem 3). Where the
    minimum lies at that bracket's edge (other pairs than the paper's: ReLU features put λ*(4) near
    8 λ*(∞)), a log-spaced scan brackets it first.
    """
    pair = {"activation": activation, "target": target}
    lam_inf = lambda_star_inf(psi1, sigma_eps, **pair)
    if np.isinf(psi2):
        return lam_inf, float(risk_inf(lam_inf, psi1, sigma_eps, **pair)) - sigma_eps**2
    objective = lambda lam: float(excess_risk(lam, psi2, psi1, sigma_eps, **pair)[0, 0])  # noqa: E731
    found = _interior_minimum(objective, lam_inf / 20.0, lam_inf * 10.0)
    if found is None:
        grid = lam_inf * np.geomspace(SCAN_FACTORS[0], SCAN_FACTORS[1], SCAN_POINTS)
        i = int(np.argmin(excess_risk(grid, [psi2], psi1, sigma_eps, **pair)[0]))
        if 0 < i < grid.size - 1:
            found = _interior_minimum(objective, grid[i - 1], grid[i + 1])
        if found is None:
            raise RuntimeError(
                f"λ*(ψ2={psi2}) not found inside ({grid[0]:.3g}, {grid[-1]:.3g}) for activation {activation!r}, "
                f"target {target!r}: the risk decreases towards the edge (no interior optimum at this width)"
            )
    return found


def _interior_minimum(objective, lo: float, hi: float) -> tuple[float, float] | None:
    """(argmin, min) by bounded Brent on (lo, hi), or None where it ends at an edge of the bracket."""
    res = optimize.minimize_scalar(
        objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10, "maxiter": 500}
    )
    if not res.success or min(res.x - lo, hi - res.x) < 1e-6 * hi:
        return None
    return float(res.x), float(res.fun)


@dataclass(frozen=True)
class TransferGaps:
    """Definition 1 with ψ2 = ∞ as n = ∞: a (loss gap), b (HP gap), c (suboptimality gap)."""

    psi2: np.ndarray
    lambda_star: np.ndarray
    excess_risk_star: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray


def transfer_gaps(
    psi2: Sequence[float],
    psi1: float = PSI1,
    sigma_eps: float = SIGMA_EPS,
    *,
    activation: str = ACTIVATION,
    target: str = TARGET,
) -> TransferGaps:
    pair = {"activation": activation, "target": target}
    psi2 = np.asarray(psi2, dtype=float)
    lam_inf = lambda_star_inf(psi1, sigma_eps, **pair)
    excess_inf = float(risk_inf(lam_inf, psi1, sigma_eps, **pair)) - sigma_eps**2
    found = [lambda_star(p, psi1, sigma_eps, **pair) for p in psi2]
    lam_star = np.array([f[0] for f in found])
    excess_star = np.array([f[1] for f in found])
    finite = np.isfinite(psi2)
    a = np.where(finite, np.abs(excess_star - excess_inf), np.nan)
    b = np.where(finite, np.abs(lam_star - lam_inf), np.nan)
    # c uses R_∞ at the width-ψ2 optimum: the infinite-width loss paid for transferring λ*(ψ2).
    c = np.where(finite, np.abs(risk_inf(lam_star, psi1, sigma_eps, **pair) - (excess_inf + sigma_eps**2)), np.nan)
    return TransferGaps(psi2, lam_star, excess_star, a, b, c)


def fit_loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x over finite, positive points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


# ------------------------------------------------------------------------------------ simulation


def _mehler_sum(coeff: np.ndarray, rho: np.ndarray, odd: bool) -> np.ndarray:
    """Σ_k c_k(s_i) c_k(s_j) ρ_ij^k over the orders of ``coeff``: E[σ(s_i u) σ(s_j v)] off the diagonal.

    An odd σ has only odd orders; stepping by ρ² then halves the work (and keeps the paper's tanh
    features' sums, rounding included, as they always were).
    """
    U = np.zeros_like(rho)
    first, power, factor = (1, rho.copy(), rho * rho) if odd else (0, np.ones_like(rho), rho)
    for k in range(first, coeff.shape[1], 2 if odd else 1):
        U += np.outer(coeff[:, k], coeff[:, k]) * power
        power *= factor
    return U


def _cross_moments(coeff: np.ndarray, target_coeff: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """v_i = Σ_{k≥1} c*_k c_k(s_i) ρ_i^k = E[σ_*(βᵀx) σ(s_i uᵢᵀx)] (c*_0 = 0: σ_* is centred).

    Orders where either coefficient is exactly 0 (parity; ReLU's odd orders ≥ 3) are skipped: for
    tanh features and a ReLU target only μ1* c_1(s) ρ remains, the sum rf.nc was always built from.
    """
    v = np.zeros(coeff.shape[0])
    power = np.ones_like(rho)
    for k in range(1, coeff.shape[1]):
        power = power * rho
        if target_coeff[k] != 0.0 and np.any(coeff[:, k] != 0.0):
            v = v + target_coeff[k] * coeff[:, k] * power
    return v


def population_moments(
    W: np.ndarray, beta: np.ndarray, *, activation: str = ACTIVATION, target: str = TARGET
) -> tuple[np.ndarray, np.ndarray]:
    """U = E[σ(Wᵀx) σ(Wᵀx)ᵀ] and v = E[σ_*(βᵀx) σ(Wᵀx)] for x ~ N(0, I), exactly up to 1e-10.

    Mehler's formula: for unit-variance Gaussians with correlation ρ, E[h_k(u) h_j(v)] = δ_kj ρ^k,
    so E[σ(s_i u) σ(s_j v)] = Σ_k c_k(s_i) c_k(s_j) ρ^k with c_k(s) the Hermite coefficients of
    σ(s·) (:func:`.hermite.hermite_coefficients`; s = ‖w_i‖, |ρ| < 1 off the diagonal, so order
    ``HERMITE_ORDER`` is ample). The diagonal E[σ(s z)²] is computed directly because its series
    converges slowly at ρ = 1.
    """
    c = hermite_constants(activation, target)
    scales = np.linalg.norm(W, axis=0)
    unit = W / scales
    coeff = hermite.hermite_coefficients(c.activation, scales, HERMITE_ORDER)
    rho = unit.T @ unit
    np.fill_diagonal(rho, 0.0)
    U = _mehler_sum(coeff, rho, c.activation.odd)
    np.fill_diagonal(U, hermite.second_moment(c.activation, scales))
    target_coeff = hermite.hermite_coefficients(c.target, np.ones(1), HERMITE_ORDER)[0]
    return U, _cross_moments(coeff, target_coeff, unit.T @ beta)


def _ridge_coefficients(Z: np.ndarray, y: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """a_λ = argmin ‖y − Z a‖² + n λ ‖a‖² for every λ, columns of an (n, len(lams)) array.

    One eigendecomposition of the smaller Gram matrix serves every λ (faster than an SVD):
    a = Zᵀ(ZZᵀ + nλI)⁻¹y when N ≤ n, else (ZᵀZ + nλI)⁻¹Zᵀy.
    """
    N, n = Z.shape
    ridge = n * lams[None, :]
    if N <= n:
        evals, V = np.linalg.eigh(Z @ Z.T)
        return Z.T @ (V @ ((V.T @ y)[:, None] / (evals[:, None] + ridge)))
    evals, V = np.linalg.eigh(Z.T @ Z)
    return V @ ((V.T @ (Z.T @ y))[:, None] / (evals[:, None] + ridge))


def simulate_rf_draw(
    rng: np.random.Generator,
    d: int,
    N: int,
    n: int,
    lams: np.ndarray,
    sigma_eps: float,
    *,
    activation: str = ACTIVATION,
    target: str = TARGET,
) -> np.ndarray:
    """One finite-size random-features ridge fit; returns the population risk at each λ."""
    beta = rng.standard_normal(d)
    beta /= np.linalg.norm(beta)
    W = rng.standard_normal((d, n)) / math.sqrt(d)
    X = rng.standard_normal((N, d))
    y = sigma_star(X @ beta, target) + sigma_eps * rng.standard_normal(N)
    A = _ridge_coefficients(sigma(X @ W, activation), y, lams)
    U, v = population_moments(W, beta, activation=activation, target=target)
    # E(y − aᵀφ)² = σ_ε² + E σ_*² − 2 aᵀv + aᵀ U a, with E σ_*² = 1.
    return sigma_eps**2 + 1.0 - 2.0 * (v @ A) + np.einsum("il,il->l", A, U @ A)


def simulate_rf(
    d: int,
    psi1: float,
    psi2: float,
    lams: Sequence[float],
    n_draws: int,
    seed: int,
    sigma_eps: float = SIGMA_EPS,
    *,
    activation: str = ACTIVATION,
    target: str = TARGET,
) -> xr.Dataset:
    """Finite-size random-features ridge regression (beyond the paper; checks §2.2's risk).

    N = round(ψ1 d) samples, n = round(ψ2 d) features, penalty n·λ‖a‖². The risk of each fit is the
    exact population risk (no test-set noise), via :func:`population_moments`. Draws are seeded by
    (seed, round(ψ2·1000), draw), so adding a ψ2 or a draw leaves the others unchanged.
    Returns ``risk(draw, lam)``, ``risk_mean(lam)`` and ``risk_se(lam)`` (standard error over draws).
    """
    lams = np.asarray(lams, dtype=float)
    N, n = int(round(psi1 * d)), int(round(psi2 * d))
    risks = np.empty((n_draws, lams.size))
    for draw in range(n_draws):
        rng = np.random.default_rng(np.random.SeedSequence([seed, int(round(psi2 * 1000)), draw]))
        risks[draw] = simulate_rf_draw(rng, d, N, n, lams, sigma_eps, activation=activation, target=target)
    se = risks.std(axis=0, ddof=1) / math.sqrt(n_draws) if n_draws > 1 else np.full(lams.size, np.nan)
    return xr.Dataset(
        {
            "risk": (("draw", "lam"), risks, {"long_name": "population risk E(y − f)² of the fit", "units": "1"}),
            "risk_mean": ("lam", risks.mean(axis=0), {"long_name": "mean risk over the draws", "units": "1"}),
            "risk_se": ("lam", se, {"long_name": "standard error of the mean risk over the draws", "units": "1"}),
        },
        coords={
            "draw": ("draw", np.arange(n_draws), {"long_name": "draw of features and data", "units": "1"}),
            "lam": ("lam", lams, {"long_name": "ridge penalty λ (penalty n·λ‖a‖²)", "units": "1"}),
        },
        attrs={
            "d": d,
            "N": N,
            "n": n,
            "psi1": N / d,
            "psi2": n / d,
            "sigma_eps": sigma_eps,
            "seed": seed,
            "activation": activation,
            "target": target,
            "risk": "population risk E(y - f)^2 including noise",
        },
    )


# ----------------------------------------------------------------------------------------- study


def _merge_config(cfg: dict | None) -> dict:
    merged = json.loads(json.dumps(defaults.RF_RIDGE))
    for key, value in (cfg or {}).items():
        if key == "simulation" and isinstance(value, dict):
            merged["simulation"].update(value)
        elif key in merged or key in defaults.RF_FUNCTIONS:
            merged[key] = value
    return merged


def _pair(cfg: dict) -> dict[str, str]:
    """The study's activation and target: the paper's tanh and ReLU where it names neither."""
    return {key: cfg.get(key, default) for key, default in defaults.RF_FUNCTIONS.items()}


def _union_grid(*grids: Sequence[float]) -> np.ndarray:
    """Sorted union of float grids, merging values equal to 1e-9 relative (√2 grids round)."""
    values = np.sort(np.concatenate([np.asarray(g, float) for g in grids]))
    kept: list[float] = []
    for v in values:
        if not kept or abs(v - kept[-1]) > 1e-9 * abs(v):
            kept.append(float(v))
    return np.array(kept)


def _membership(grid: np.ndarray, subset: Sequence[float]) -> np.ndarray:
    """Which grid values appear in ``subset`` (to 1e-9 relative; inf matches only inf)."""
    subset = np.asarray(subset, float)
    finite = subset[np.isfinite(subset)]
    return np.array(
        [bool(np.isinf(subset).any()) if np.isinf(g) else bool(np.any(np.abs(finite - g) <= 1e-9 * g)) for g in grid]
    )


def _simulation_block(cfg: dict) -> xr.Dataset:
    sim, psi1, sigma_eps, pair = cfg["simulation"], float(cfg["psi1"]), float(cfg["sigma_eps"]), _pair(cfg)
    psi2s = np.asarray(sim["psi2"], float)
    lams = np.asarray(sim["lam"], float)
    d, n_draws, seed = int(sim["d"]), int(sim["n_draws"]), int(sim["seed"])
    runs = [simulate_rf(d, psi1, p, lams, n_draws, seed, sigma_eps, **pair) for p in psi2s]
    # Theory at the simulated sizes' exact ratios (n/d may differ from ψ2 by rounding).
    theory = np.vstack([risk(lams, [r.attrs["psi2"]], r.attrs["psi1"], sigma_eps, **pair)[0] for r in runs])
    dims = ("sim_psi2", "sim_draw", "sim_lam")
    return xr.Dataset(
        {
            "sim_risk": (
                dims,
                np.stack([r["risk"].values for r in runs]),
                {"long_name": "finite-size population risk E(y − f)² (noise included) per draw", "units": "1"},
            ),
            "sim_risk_mean": (
                ("sim_psi2", "sim_lam"),
                np.stack([r["risk_mean"].values for r in runs]),
                {"long_name": "finite-size risk, mean over the draws", "units": "1"},
            ),
            "sim_risk_se": (
                ("sim_psi2", "sim_lam"),
                np.stack([r["risk_se"].values for r in runs]),
                {"long_name": "standard error of the mean finite-size risk over the draws", "units": "1"},
            ),
            "sim_theory_risk": (
                ("sim_psi2", "sim_lam"),
                theory,
                {"long_name": "asymptotic risk R(λ) (noise included) at the simulated sizes' n/d", "units": "1"},
            ),
        },
        coords={
            "sim_psi2": ("sim_psi2", psi2s, {"long_name": "simulated width ratio n/d (as configured)", "units": "1"}),
            "sim_draw": (
                "sim_draw",
                np.arange(int(sim["n_draws"])),
                {"long_name": "draw of features and data", "units": "1"},
            ),
            "sim_lam": ("sim_lam", lams, {"long_name": "ridge penalty λ of the simulation", "units": "1"}),
        },
    )


def rf_study(cfg: dict | None = None) -> xr.Dataset:
    """Everything Fig 4 needs, plus the finite-size simulation check (the rf.nc dataset).

    cfg keys (defaults: :data:`hptransfer.config.defaults.RF_RIDGE`): psi1, sigma_eps, psi2_curves, psi2_rates, lam,
    slope_fit_min_psi2, asymptotic_psi2, simulation{d, n_draws, psi2, lam, seed}; activation, target (defaults:
    ``RF_FUNCTIONS``). Other keys (kind, enabled, …) are ignored so a study block can be passed as is.
    """
    cfg = _merge_config(cfg)
    psi1, sigma_eps, pair = float(cfg["psi1"]), float(cfg["sigma_eps"]), _pair(cfg)
    lam_inf = lambda_star_inf(psi1, sigma_eps, **pair)  # first: an ill-posed pair fails before any work
    psi2_finite = _union_grid(cfg["psi2_curves"], cfg["psi2_rates"])
    psi2 = np.append(psi2_finite, np.inf)
    lams = np.asarray(cfg["lam"], float)

    curves = excess_risk(lams, psi2, psi1, sigma_eps, **pair)
    gaps = transfer_gaps(psi2, psi1, sigma_eps, **pair)
    in_rates = _membership(psi2, cfg["psi2_rates"])
    tail = in_rates & (psi2 >= float(cfg["slope_fit_min_psi2"]))
    slopes = {name: fit_loglog_slope(psi2[tail], getattr(gaps, name)[tail]) for name in "abc"}
    far = np.asarray(cfg["asymptotic_psi2"], float)
    far_gaps = transfer_gaps(far, psi1, sigma_eps, **pair)
    asymptotic = {name: fit_loglog_slope(far, getattr(far_gaps, name)) for name in "abc"}

    ds = xr.Dataset(
        {
            "excess_risk": (
                ("psi2", "lam"),
                curves,
                {"long_name": "asymptotic excess risk R(λ) − σ_ε²", "units": "1"},
            ),
            "lambda_star": ("psi2", gaps.lambda_star, {"long_name": "optimal ridge λ*(ψ2)", "units": "1"}),
            "excess_risk_star": ("psi2", gaps.excess_risk_star, {"long_name": "min_λ R − σ_ε²", "units": "1"}),
            "a": ("psi2", gaps.a, {"long_name": "loss gap |R*(ψ2) − R*(∞)|", "units": "1"}),
            "b": ("psi2", gaps.b, {"long_name": "HP gap |λ*(ψ2) − λ*(∞)|", "units": "1"}),
            "c": ("psi2", gaps.c, {"long_name": "suboptimality gap R_∞(λ*(ψ2)) − R_∞(λ*(∞))", "units": "1"}),
            "in_curves": (
                "psi2",
                _membership(psi2, list(cfg["psi2_curves"]) + [np.inf]),
                {"long_name": "ψ2 is a curve of Fig 4a (psi2_curves, and ∞)", "units": "1"},
            ),
            "in_rates": (
                "psi2",
                in_rates,
                {"long_name": "ψ2 is a point of the rates of Fig 4b (psi2_rates)", "units": "1"},
            ),
        },
        coords={
            "psi2": ("psi2", psi2, {"long_name": "width ratio n/d (inf = infinite width)", "units": "1"}),
            "lam": ("lam", lams, {"long_name": "ridge penalty λ (penalty n·λ‖a‖²)", "units": "1"}),
        },
    )
    ds = ds.merge(_simulation_block(cfg))
    ds.attrs = {
        "study": "rf-ridge",
        "config": json.dumps(cfg, sort_keys=True),
        "constants": json.dumps(hermite_constants(**pair).record(), sort_keys=True),
        "lambda_star_inf": lam_inf,
        "sigma_eps": sigma_eps,
        "psi1": psi1,
        # Only where the study names them, so the paper's pair's rf.nc stays as it always was.
        **(pair if set(pair) & set(cfg) else {}),
        **{f"slope_{k}": v for k, v in slopes.items()},
        **{f"asymptotic_slope_{k}": v for k, v in asymptotic.items()},
        **{f"predicted_slope_{k}": v for k, v in PREDICTED_SLOPES.items()},
        "slope_fit_psi2": json.dumps(psi2[tail].tolist()),
        "conventions": f"sigma={hermite.FORMULA[pair['activation']]}, sigma_*={hermite.FORMULA[pair['target']]}, "
        "W_ij~N(0,1/d), penalty n*lam*||a||^2; excess risk = R - sigma_eps^2",
    }
    return ds
