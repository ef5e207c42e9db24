"""Gaussian (Hermite) coefficients of the normalised functions of random-features ridge (paper.md §2).

Each function f named below is used normalised, σ = (f − E f)/sd(f) under z ~ N(0, 1), so that
E σ = 0 and ‖σ‖_γ = 1 (Assumption 2). The deterministic equivalent needs μ1 = E[σ'(z)] = E[z σ(z)]
and μ2² = 1 − μ1² (the nonlinear part, μ* in other papers); the finite-size simulation needs the
Hermite series of σ(s·) at the norms s = ‖w_i‖ of the random weights, c_k(s) = E[σ(sz) He_k(z)]/√k!,
and the second moment E[σ(sz)²].

Methods: closed forms where they exist (the moments of ReLU, erf, GELU and linear; every c_k(s) of
ReLU and linear); adaptive quadrature for tanh's moments; Gauss–Hermite quadrature for c_k(s) of
the analytic tanh, erf and GELU, where it converges geometrically. ReLU's kink would make
Gauss–Hermite converge slowly (paper.md §2.5), which is why ReLU is closed form throughout.
``erf`` means erf(z/√2) = 2Φ(z) − 1 and ``gelu`` z Φ(z) (the exact GELU, not its tanh fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import integrate, special

NAMES = ("relu", "tanh", "erf", "gelu", "linear")
GAUSS_HERMITE_NODES = 200
SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu(z):
    return z * special.ndtr(z)


RAW: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "erf": lambda z: special.erf(z / SQRT2),
    "gelu": _gelu,
    "linear": lambda z: np.asarray(z, dtype=float),
}
ODD = frozenset({"tanh", "erf", "linear"})
# How rf.nc's ``conventions`` attribute writes each normalised function (tanh, ReLU: as it always has).
FORMULA = {
    "relu": "(ReLU-mean)/sd",
    "tanh": "tanh/||tanh||",
    "erf": "erf(z/sqrt2)/||erf(z/sqrt2)||",
    "gelu": "(GELU-mean)/sd",
    "linear": "z",
}


@dataclass(frozen=True)
class Normalised:
    """σ = (f − mean)/sd for the named f, with its first Hermite coefficient."""

    name: str
    mean: float  # E f(z)
    sd: float  # sd of f(z), the normaliser (‖f‖_γ for an odd f)
    mu1: float  # E[σ'(z)] = E[z σ(z)]

    @property
    def mu2sq(self) -> float:
        """1 − μ1²: the variance of σ's nonlinear part (0 for ``linear``)."""
        return 1.0 - self.mu1**2

    @property
    def odd(self) -> bool:
        return self.name in ODD

    def __call__(self, z) -> np.ndarray:
        # mean is exactly 0.0 for odd f, and x − 0.0 == x: the division alone, as before.
        return (RAW[self.name](z) - self.mean) / self.sd


def gaussian_expectation(f) -> float:
    """E f(z), z ~ N(0, 1), by adaptive quadrature (smooth integrands only)."""
    density = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)  # noqa: E731
    value, _ = integrate.quad(lambda z: f(z) * density(z), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)
    return value


def _tanh_moments() -> tuple[float, float, float]:
    # No closed form; tanh is analytic, so adaptive quadrature is accurate to ~1e-13.
    norm = math.sqrt(gaussian_expectation(lambda z: math.tanh(z) ** 2))
    return 0.0, norm, gaussian_expectation(lambda z: 1.0 - math.tanh(z) ** 2) / norm


def _relu_moments() -> tuple[float, float, float]:
    # E ReLU = 1/√(2π), E ReLU² = 1/2, E ReLU' = P(z > 0) = 1/2.
    sd = math.sqrt(0.5 - 1.0 / (2.0 * math.pi))
    return 1.0 / math.sqrt(2.0 * math.pi), sd, 0.5 / sd


def _erf_moments() -> tuple[float, float, float]:
    # E erf(z/√2)² = (2/π) arcsin(1/2) = 1/3; E[d/dz erf(z/√2)] = √(2/π) E e^{−z²/2} = 1/√π.
    sd = 1.0 / math.sqrt(3.0)
    return 0.0, sd, (1.0 / math.sqrt(math.pi)) / sd


def _gelu_moments() -> tuple[float, float, float]:
    # E zΦ = E φ = 1/(2√π); E z²Φ² = E Φ² + 2 E zΦφ = 1/3 + 1/(2π√3) (Stein twice);
    # E[Φ + zφ] = 1/2.
    mean = 1.0 / (2.0 * math.sqrt(math.pi))
    sd = math.sqrt(1.0 / 3.0 + 1.0 / (2.0 * math.pi * math.sqrt(3.0)) - mean**2)
    return mean, sd, 0.5 / sd


MOMENTS = {
    "relu": _relu_moments,
    "tanh": _tanh_moments,
    "erf": _erf_moments,
    "gelu": _gelu_moments,
    "linear": lambda: (0.0, 1.0, 1.0),
}


@lru_cache(maxsize=None)
def normalised(name: str) -> Normalised:
    if name not in RAW:
        raise ValueError(f"unknown function {name!r}; choose one of {', '.join(NAMES)}")
    return Normalised(name, *MOMENTS[name]())


# ------------------------------------------------------------------ Hermite series at a scale s


@lru_cache(maxsize=8)
def gauss_hermite(nodes: int = GAUSS_HERMITE_NODES):
    """Nodes and weights of E f(z), z ~ N(0, 1)."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / math.sqrt(2.0 * math.pi)


def _sqrt_factorials(order: int) -> np.ndarray:
    return np.sqrt([float(math.factorial(k)) for k in range(order + 1)])


def _relu_hermite(order: int) -> np.ndarray:
    """E[ReLU(z) He_k(z)], k = 0..order: 1/√(2π), 1/2, then φ(0) He_{k−2}(0) (integrate by parts
    twice: ReLU'' = δ)."""
    he0 = np.zeros(max(order - 1, 1))  # He_j(0), j = 0..order−2: 1, 0, −1, 0, 3, … (He_{j+1} = −j He_{j−1})
    he0[0] = 1.0
    for j in range(1, he0.size - 1):
        he0[j + 1] = -j * he0[j - 1]
    out = np.zeros(order + 1)
    out[0], out[1] = INV_SQRT_2PI, 0.5
    out[2:] = INV_SQRT_2PI * he0[: order - 1]
    return out


def _closed_form_coefficients(f: Normalised, scales: np.ndarray, order: int) -> np.ndarray:
    """c_k(s) for the positively homogeneous ReLU (ReLU(sz) = s ReLU(z)) and linear."""
    raw = _relu_hermite(order) if f.name == "relu" else np.eye(order + 1)[1]
    coeff = np.outer(scales, raw)
    coeff[:, 0] -= f.mean
    return coeff / f.sd / _sqrt_factorials(order)


def hermite_coefficients(f: Normalised, scales: np.ndarray, order: int) -> np.ndarray:
    """c_k(s) = E[σ(s z) He_k(z)]/√k! for k = 0..order, one row per scale s.

    The even coefficients of an odd σ are set to their exact value 0 (quadrature leaves ~1e-17).
    """
    scales = np.asarray(scales, dtype=float)
    if f.name in ("relu", "linear"):
        return _closed_form_coefficients(f, scales, order)
    z, w = gauss_hermite()
    values = f(np.outer(scales, z)) * w  # (len(scales), nodes)
    he = np.polynomial.hermite_e.hermevander(z, order)  # (nodes, order+1)
    coeff = values @ he / _sqrt_factorials(order)
    if f.odd:
        coeff[:, 0::2] = 0.0
    return coeff


def second_moment(f: Normalised, scales: np.ndarray) -> np.ndarray:
    """E[σ(s z)²] for each scale s (the Hermite series converges slowly here, so it is computed
    directly)."""
    scales = np.asarray(scales, dtype=float)
    if f.name == "relu":  # E(s ReLU − m)² = s²/2 − 2 s m² + m², m = E ReLU
        return (0.5 * scales**2 - 2.0 * scales * f.mean**2 + f.mean**2) / f.sd**2
    if f.name == "linear":
        return scales**2
    z, w = gauss_hermite()
    return (f(np.outer(scales, z)) ** 2) @ w


# --------------------------------------------------------------------------- infinite-width optimum


def infinite_width_optimum(activation: Normalised, target: Normalised, sigma_eps: float) -> float:
    """λ*(∞) = μ1²(σ_ε² + μ2*²)/μ1*² − μ2² (paper.md §2.3, independent of ψ1).

    Assumption 2 needs it positive. Here rather than in :mod:`.rf` so that the config check, run at
    every workflow parse, imports no xarray.
    """
    return activation.mu1**2 * (sigma_eps**2 + target.mu2sq) / target.mu1**2 - activation.mu2sq


def ill_posed(activation: str, target: str, sigma_eps: float) -> str | None:
    """Why the pair has no interior optimum λ*(∞) > 0 at this noise level, or None.

    With λ*(∞) ≤ 0 the best ridge is at (or beyond) λ = 0: there is no optimum to transfer. It
    happens when the features' nonlinear part μ2² outweighs the target's effective noise, e.g. tanh
    features for a linear target (λ*(∞) = μ1² σ_ε² − μ2², negative for σ_ε < 0.273).
    """
    value = infinite_width_optimum(normalised(activation), normalised(target), sigma_eps)
    if value > 0:
        return None
    return (
        f"target {target!r} with activation {activation!r} and sigma_eps {sigma_eps:g} has no positive optimal "
        f"ridge: λ*(∞) = μ1²(σ_ε² + μ2*²)/μ1*² − μ2² = {value:.4g} ≤ 0, so there is no optimum to transfer; "
        "raise sigma_eps or choose another pair"
    )
