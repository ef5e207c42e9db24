"""Random-features ridge regression: deterministic equivalent, Theorem 3 rates, and a simulation.

paper.md §2. Data x ~ N(0, I_d), target y = σ_*(⟨x, β_*⟩) + ε, features σ(Wᵀx) with W_ij ~ N(0, 1/d),
ridge penalty n·λ‖a‖² (the convention under which the deterministic equations (E1)/(E2) hold, §2.5).
σ is the normalised tanh, σ_* the normalised ReLU (Assumption 2: zero mean, unit Gaussian norm).

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
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import xarray as xr
from scipy import integrate, optimize

from ..config import defaults

PSI2_START = 1e7  # where continuation starts; η = ψ1/ψ2 ≈ 4e-7 there, so ∞ is an excellent guess
NEWTON_TOL = 1e-14  # relative step size at which Newton has converged (risk needs ~1e-12 to pin λ*)
NEWTON_MAX_ITER = 40
MIN_LOG_STEP = 1e-6  # continuation gives up below this step in log ψ2 (never reached in practice)
HERMITE_ORDER = 41  # highest (odd) Hermite order in the simulation's population second moments

# Theorem 3: a ~ b ~ ψ2^-1 and c ~ ψ2^-2.
PREDICTED_SLOPES = {"a": -1.0, "b": -1.0, "c": -2.0}

# The paper's model (ψ1 = N/d, noise σ_ε): the defaults of every function below.
PSI1, SIGMA_EPS = defaults.RF_RIDGE["psi1"], defaults.RF_RIDGE["sigma_eps"]


# ----------------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class HermiteConstants:
    """Normalisation and first Hermite coefficients of σ (tanh) and σ_* (ReLU), §2.5."""

    tanh_norm: float  # ‖tanh‖_γ
    mu1: float  # E[σ'(z)] for σ = tanh/‖tanh‖_γ
    mu2sq: float  # 1 − μ1²
    relu_mean: float  # E[ReLU(z)] = 1/√(2π)
    relu_sd: float  # sd of ReLU(z) = √(1/2 − 1/(2π))
    mu1_star: float  # E[σ_*'(z)] for σ_* = (ReLU − mean)/sd
    mu2sq_star: float  # 1 − μ1*²


def gaussian_expectation(f) -> float:
    """E f(z), z ~ N(0, 1), by adaptive quadrature (smooth integrands only)."""
    density = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)  # noqa: E731
    value, _ = integrate.quad(lambda z: f(z) * density(z), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)
    return value


@lru_cache(maxsize=1)
def hermite_constants() -> HermiteConstants:
    # tanh is analytic, so adaptive quadrature is accurate to ~1e-13.
    tanh_norm = math.sqrt(gaussian_expectation(lambda z: math.tanh(z) ** 2))
    mu1 = gaussian_expectation(lambda z: 1.0 - math.tanh(z) ** 2) / tanh_norm
    # ReLU moments in closed form: quadrature converges slowly across the kink (§2.5).
    relu_mean = 1.0 / math.sqrt(2.0 * math.pi)
    relu_sd = math.sqrt(0.5 - 1.0 / (2.0 * math.pi))
    mu1_star = 0.5 / relu_sd  # E[1{z>0}] / sd
    return HermiteConstants(tanh_norm, mu1, 1.0 - mu1**2, relu_mean, relu_sd, mu1_star, 1.0 - mu1_star**2)


def sigma(z: np.ndarray) -> np.ndarray:
    """Feature activation: tanh normalised to unit Gaussian norm."""
    return np.tanh(z) / hermite_constants().tanh_norm


def sigma_star(z: np.ndarray) -> np.ndarray:
    """Target link: ReLU centred and scaled to zero mean and unit Gaussian norm."""
    c = hermite_constants()
    return (np.maximum(z, 0.0) - c.relu_mean) / c.relu_sd


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


def t_of_lambda(lam, psi1: float) -> np.ndarray:
    """The ψ2 = ∞ root t > 1 of λ(t) = μ1²ψ1/(t−1) − μ1²/t − μ2² (§2.3).

    Clearing denominators gives q(t) = (λ+μ2²) t² − (λ + μ2² + μ1²ψ1 − μ1²) t − μ1² = 0. For
    λ > −μ2² the roots have a negative product, and q(1) = −μ1²ψ1 < 0, so the positive root is the
    unique root with t > 1.
    """
    c = hermite_constants()
    mu1sq = c.mu1**2
    s = np.asarray(lam, dtype=float) + c.mu2sq
    if np.any(s <= 0):
        raise ValueError("λ must exceed −μ2² for a positive ψ2 = ∞ solution")
    p = s + mu1sq * psi1 - mu1sq
    return (p + np.sqrt(p * p + 4.0 * s * mu1sq)) / (2.0 * s)


def _m_at_infinity(lam, psi1: float):
    t = t_of_lambda(lam, psi1)
    m1 = (t - 1.0) / (hermite_constants().mu1 ** 2 * psi1)
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


def solve_m(lam, psi2, psi1: float = PSI1) -> Solution:
    """Solve (E1)/(E2) at z = λ for every (ψ2, λ) pair, by one continuation pass in log ψ2.

    ``psi2`` entries may be ``np.inf`` (closed form). The targets are visited from the largest ψ2
    down, each one starting from the previous, so a whole grid costs about one path.
    """
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    psi2 = np.atleast_1d(np.asarray(psi2, dtype=float))
    if np.any(lam <= 0):
        raise ValueError("the deterministic equivalent is solved at z = λ > 0")
    if np.any(psi2 <= 0):
        raise ValueError("ψ2 must be positive")
    c = hermite_constants()
    mu1sq, mu2sq = c.mu1**2, c.mu2sq
    m1_inf, m2_inf = _m_at_infinity(lam, psi1)
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


def residuals(sol: Solution, psi1: float = PSI1) -> tuple[np.ndarray, np.ndarray]:
    """(E1) and the *unscaled* (E2) evaluated at a solution (for checks)."""
    c = hermite_constants()
    z = sol.lam[None, :]
    psi2 = sol.psi2[:, None]
    m1, m2 = sol.m1, sol.m2
    g = c.mu1**2 * m1 * m2 * (z * m1 - 1.0)
    e1 = (m1 - m2) * (c.mu2sq * m1 + c.mu1**2 * m2) / psi1 + g
    with np.errstate(invalid="ignore"):
        e2 = (psi2 / psi1) * (c.mu1**2 * m1 * m2 + (m2 - m1) / psi1) + g
    return e1, e2


# ------------------------------------------------------------------------------------------ risk


def risk_from_solution(sol: Solution, sigma_eps: float) -> np.ndarray:
    """§2.2: R = −(μ2*² + σ_ε²) m1'/m1² − μ1*² m2'/m1² (full risk, noise included)."""
    c = hermite_constants()
    return -((c.mu2sq_star + sigma_eps**2) * sol.dm1 + c.mu1_star**2 * sol.dm2) / sol.m1**2


def risk(lam, psi2, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> np.ndarray:
    """Asymptotic prediction risk E(y − f)², shape (len(psi2), len(lam))."""
    return risk_from_solution(solve_m(lam, psi2, psi1), sigma_eps)


def excess_risk(lam, psi2, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> np.ndarray:
    """R − σ_ε² (the y-axis of Fig 4a; it still contains the unlearnable μ2*² part)."""
    return risk(lam, psi2, psi1, sigma_eps) - sigma_eps**2


def risk_inf(lam, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> np.ndarray:
    """§2.3 closed form: R_∞ = ψ1((μ2*² + σ_ε²) t² + μ1*²)/S(t), S(t) = ψ1 t² − (t − 1)²."""
    c = hermite_constants()
    t = t_of_lambda(lam, psi1)
    s = psi1 * t * t - (t - 1.0) ** 2
    return psi1 * ((c.mu2sq_star + sigma_eps**2) * t * t + c.mu1_star**2) / s


def lambda_star_inf(psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> float:
    """§2.3: λ*(∞) = μ1²(σ_ε² + μ2*²)/μ1*² − μ2² (independent of ψ1)."""
    c = hermite_constants()
    value = c.mu1**2 * (sigma_eps**2 + c.mu2sq_star) / c.mu1_star**2 - c.mu2sq
    if value <= 0:
        raise ValueError(f"λ*(∞) = {value:.4g} ≤ 0: the optimum is at the boundary (Assumption fails)")
    return value


def lambda_star(psi2: float, psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> tuple[float, float]:
    """argmin over λ of the risk at width ψ2 and the minimal *excess* risk.

    Bounded Brent minimisation in a bracket around λ*(∞) (λ*(ψ2) → λ*(∞), Theorem 3).
    """
    lam_inf = lambda_star_inf(psi1, sigma_eps)
    if np.isinf(psi2):
        return lam_inf, float(risk_inf(lam_inf, psi1, sigma_eps)) - sigma_eps**2
    objective = lambda lam: float(excess_risk(lam, psi2, psi1, sigma_eps)[0, 0])  # noqa: E731
    lo, hi = lam_inf / 20.0, lam_inf * 10.0
    res = optimize.minimize_scalar(
        objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10, "maxiter": 500}
    )
    if not res.success or min(res.x - lo, hi - res.x) < 1e-6 * hi:
        raise RuntimeError(f"λ*(ψ2={psi2}) not found inside ({lo:.3g}, {hi:.3g}): {res.message}")
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


def transfer_gaps(psi2: Sequence[float], psi1: float = PSI1, sigma_eps: float = SIGMA_EPS) -> TransferGaps:
    psi2 = np.asarray(psi2, dtype=float)
    lam_inf = lambda_star_inf(psi1, sigma_eps)
    excess_inf = float(risk_inf(lam_inf, psi1, sigma_eps)) - sigma_eps**2
    found = [lambda_star(p, psi1, sigma_eps) for p in psi2]
    lam_star = np.array([f[0] for f in found])
    excess_star = np.array([f[1] for f in found])
    finite = np.isfinite(psi2)
    a = np.where(finite, np.abs(excess_star - excess_inf), np.nan)
    b = np.where(finite, np.abs(lam_star - lam_inf), np.nan)
    # c uses R_∞ at the width-ψ2 optimum: the infinite-width loss paid for transferring λ*(ψ2).
    c = np.where(finite, np.abs(risk_inf(lam_star, psi1, sigma_eps) - (excess_inf + sigma_eps**2)), np.nan)
    return TransferGaps(psi2, lam_star, excess_star, a, b, c)


def fit_loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log y against log x over finite, positive points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


# ------------------------------------------------------------------------------------ simulation


@lru_cache(maxsize=8)
def _gauss_hermite(nodes: int = 200):
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / math.sqrt(2.0 * math.pi)


def _sigma_hermite_coefficients(scales: np.ndarray, order: int = HERMITE_ORDER) -> np.ndarray:
    """c_k(s) = E[σ(s z) He_k(z)]/√k! for k = 0..order, one row per scale s.

    σ is analytic (tanh), so Gauss–Hermite quadrature converges fast here (unlike for ReLU).
    """
    z, w = _gauss_hermite()
    values = sigma(np.outer(scales, z)) * w  # (n, nodes)
    he = np.polynomial.hermite_e.hermevander(z, order)  # (nodes, order+1)
    norms = np.sqrt([float(math.factorial(k)) for k in range(order + 1)])
    return values @ he / norms


def population_moments(W: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """U = E[σ(Wᵀx) σ(Wᵀx)ᵀ] and v = E[σ_*(βᵀx) σ(Wᵀx)] for x ~ N(0, I), exactly up to 1e-10.

    Mehler's formula: for unit-variance Gaussians with correlation ρ, E[h_k(u) h_j(v)] = δ_kj ρ^k,
    so E[σ(s_i u) σ(s_j v)] = Σ_k c_k(s_i) c_k(s_j) ρ^k (odd k only, σ is odd). σ_*'s only odd
    Hermite component is μ1* z (ReLU's odd part is z/2), hence v_i = μ1* c_1(s_i) ρ_i.
    The diagonal E[σ(s z)²] is computed directly because its series converges slowly at ρ = 1.
    """
    scales = np.linalg.norm(W, axis=0)
    unit = W / scales
    coeff = _sigma_hermite_coefficients(scales)
    rho = unit.T @ unit
    np.fill_diagonal(rho, 0.0)
    U = np.zeros_like(rho)
    power = rho.copy()
    rho_sq = rho * rho
    for k in range(1, coeff.shape[1], 2):
        U += np.outer(coeff[:, k], coeff[:, k]) * power
        power *= rho_sq
    z, w = _gauss_hermite()
    np.fill_diagonal(U, (sigma(np.outer(scales, z)) ** 2) @ w)
    v = hermite_constants().mu1_star * coeff[:, 1] * (unit.T @ beta)
    return U, v


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
    rng: np.random.Generator, d: int, N: int, n: int, lams: np.ndarray, sigma_eps: float
) -> np.ndarray:
    """One finite-size random-features ridge fit; returns the population risk at each λ."""
    beta = rng.standard_normal(d)
    beta /= np.linalg.norm(beta)
    W = rng.standard_normal((d, n)) / math.sqrt(d)
    X = rng.standard_normal((N, d))
    y = sigma_star(X @ beta) + sigma_eps * rng.standard_normal(N)
    A = _ridge_coefficients(sigma(X @ W), y, lams)
    U, v = population_moments(W, beta)
    # E(y − aᵀφ)² = σ_ε² + E σ_*² − 2 aᵀv + aᵀ U a, with E σ_*² = 1.
    return sigma_eps**2 + 1.0 - 2.0 * (v @ A) + np.einsum("il,il->l", A, U @ A)


def simulate_rf(
    d: int, psi1: float, psi2: float, lams: Sequence[float], n_draws: int, seed: int, sigma_eps: float = SIGMA_EPS
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
        risks[draw] = simulate_rf_draw(rng, d, N, n, lams, sigma_eps)
    se = risks.std(axis=0, ddof=1) / math.sqrt(n_draws) if n_draws > 1 else np.full(lams.size, np.nan)
    return xr.Dataset(
        {"risk": (("draw", "lam"), risks), "risk_mean": ("lam", risks.mean(axis=0)), "risk_se": ("lam", se)},
        coords={"draw": np.arange(n_draws), "lam": lams},
        attrs={
            "d": d,
            "N": N,
            "n": n,
            "psi1": N / d,
            "psi2": n / d,
            "sigma_eps": sigma_eps,
            "seed": seed,
            "risk": "population risk E(y - f)^2 including noise",
        },
    )


# ----------------------------------------------------------------------------------------- study


def _merge_config(cfg: dict | None) -> dict:
    merged = json.loads(json.dumps(defaults.RF_RIDGE))
    for key, value in (cfg or {}).items():
        if key == "simulation" and isinstance(value, dict):
            merged["simulation"].update(value)
        elif key in merged:
            merged[key] = value
    return merged


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
    sim, psi1, sigma_eps = cfg["simulation"], float(cfg["psi1"]), float(cfg["sigma_eps"])
    psi2s = np.asarray(sim["psi2"], float)
    lams = np.asarray(sim["lam"], float)
    runs = [simulate_rf(int(sim["d"]), psi1, p, lams, int(sim["n_draws"]), int(sim["seed"]), sigma_eps) for p in psi2s]
    # Theory at the simulated sizes' exact ratios (n/d may differ from ψ2 by rounding).
    theory = np.vstack([risk(lams, [r.attrs["psi2"]], r.attrs["psi1"], sigma_eps)[0] for r in runs])
    dims = ("sim_psi2", "sim_draw", "sim_lam")
    return xr.Dataset(
        {
            "sim_risk": (dims, np.stack([r["risk"].values for r in runs])),
            "sim_risk_mean": (("sim_psi2", "sim_lam"), np.stack([r["risk_mean"].values for r in runs])),
            "sim_risk_se": (("sim_psi2", "sim_lam"), np.stack([r["risk_se"].values for r in runs])),
            "sim_theory_risk": (("sim_psi2", "sim_lam"), theory),
        },
        coords={"sim_psi2": psi2s, "sim_draw": np.arange(int(sim["n_draws"])), "sim_lam": lams},
    )


def rf_study(cfg: dict | None = None) -> xr.Dataset:
    """Everything Fig 4 needs, plus the finite-size simulation check (the rf.nc dataset).

    cfg keys (defaults: :data:`hptransfer.config.defaults.RF_RIDGE`): psi1, sigma_eps, psi2_curves, psi2_rates, lam,
    slope_fit_min_psi2, asymptotic_psi2, simulation{d, n_draws, psi2, lam, seed}. Other keys (kind, enabled, …) are
    ignored so a study block can be passed as is.
    """
    cfg = _merge_config(cfg)
    psi1, sigma_eps = float(cfg["psi1"]), float(cfg["sigma_eps"])
    psi2_finite = _union_grid(cfg["psi2_curves"], cfg["psi2_rates"])
    psi2 = np.append(psi2_finite, np.inf)
    lams = np.asarray(cfg["lam"], float)

    curves = excess_risk(lams, psi2, psi1, sigma_eps)
    gaps = transfer_gaps(psi2, psi1, sigma_eps)
    in_rates = _membership(psi2, cfg["psi2_rates"])
    tail = in_rates & (psi2 >= float(cfg["slope_fit_min_psi2"]))
    slopes = {name: fit_loglog_slope(psi2[tail], getattr(gaps, name)[tail]) for name in "abc"}
    far = np.asarray(cfg["asymptotic_psi2"], float)
    far_gaps = transfer_gaps(far, psi1, sigma_eps)
    asymptotic = {name: fit_loglog_slope(far, getattr(far_gaps, name)) for name in "abc"}

    ds = xr.Dataset(
        {
            "excess_risk": (("psi2", "lam"), curves, {"long_name": "asymptotic excess risk R(λ) − σ_ε²"}),
            "lambda_star": ("psi2", gaps.lambda_star, {"long_name": "optimal ridge λ*(ψ2)"}),
            "excess_risk_star": ("psi2", gaps.excess_risk_star, {"long_name": "min_λ R − σ_ε²"}),
            "a": ("psi2", gaps.a, {"long_name": "loss gap |R*(ψ2) − R*(∞)|"}),
            "b": ("psi2", gaps.b, {"long_name": "HP gap |λ*(ψ2) − λ*(∞)|"}),
            "c": ("psi2", gaps.c, {"long_name": "suboptimality gap R_∞(λ*(ψ2)) − R_∞(λ*(∞))"}),
            "in_curves": ("psi2", _membership(psi2, list(cfg["psi2_curves"]) + [np.inf])),
            "in_rates": ("psi2", in_rates),
        },
        coords={
            "psi2": ("psi2", psi2, {"long_name": "width ratio n/d (inf = infinite width)"}),
            "lam": ("lam", lams, {"long_name": "ridge penalty λ (penalty n·λ‖a‖²)"}),
        },
    )
    ds = ds.merge(_simulation_block(cfg))
    ds.attrs = {
        "study": "rf-ridge",
        "config": json.dumps(cfg, sort_keys=True),
        "constants": json.dumps(asdict(hermite_constants()), sort_keys=True),
        "lambda_star_inf": lambda_star_inf(psi1, sigma_eps),
        "sigma_eps": sigma_eps,
        "psi1": psi1,
        **{f"slope_{k}": v for k, v in slopes.items()},
        **{f"asymptotic_slope_{k}": v for k, v in asymptotic.items()},
        **{f"predicted_slope_{k}": v for k, v in PREDICTED_SLOPES.items()},
        "slope_fit_psi2": json.dumps(psi2[tail].tolist()),
        "conventions": "sigma=tanh/||tanh||, sigma_*=(ReLU-mean)/sd, W_ij~N(0,1/d), penalty n*lam*||a||^2; "
        "excess risk = R - sigma_eps^2",
    }
    return ds
