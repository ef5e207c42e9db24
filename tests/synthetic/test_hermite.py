"""Hermite coefficients of the normalised activations (synthetic/hermite.py), each checked against an
independent computation: adaptive quadrature split at the origin (ReLU's kink), known
closed forms, and Mehler sums against a direct two-dimensional integral."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.special import eval_hermitenorm

from hptransfer.synthetic import hermite

LIMIT = 14.0  # φ(14) ≈ 1e-43: the Gaussian tails beyond are below any tolerance here


def gauss(f) -> float:
    """E f(z), z ~ N(0, 1), by adaptive quadrature on two pieces split at 0 (ReLU's kink)."""
    density = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    opts = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 400}
    # quad warns of roundoff on integrals that are exactly 0 (linear's c_k, k ≠ 1) or cancel heavily
    # (He_20); the tolerances asserted by each test are the check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return sum(integrate.quad(lambda z: f(z) * density(z), a, b, **opts)[0] for a, b in ((-LIMIT, 0), (0, LIMIT)))


def raw(name):
    return lambda z: float(hermite.RAW[name](np.float64(z)))


@pytest.mark.parametrize("name", hermite.NAMES)
def test_normalisation_and_mu1_match_quadrature(name):
    f = hermite.normalised(name)
    assert f.mean == pytest.approx(gauss(raw(name)), abs=1e-12)
    assert f.sd**2 == pytest.approx(gauss(lambda z: raw(name)(z) ** 2) - f.mean**2, abs=1e-12)
    # μ1 = E[σ'(z)] = E[z σ(z)] (Stein): computed here without σ'.
    assert f.mu1 == pytest.approx(gauss(lambda z: z * float(f(np.float64(z)))), abs=1e-12)
    # μ2² is the variance left after the linear part: E(σ − μ1 z)².
    assert f.mu2sq == pytest.approx(gauss(lambda z: (float(f(np.float64(z))) - f.mu1 * z) ** 2), abs=1e-12)


def test_closed_forms():
    erf, gelu, relu, linear = (hermite.normalised(n) for n in ("erf", "gelu", "relu", "linear"))
    assert erf.sd**2 == pytest.approx(1 / 3, abs=1e-15) and erf.mu1**2 == pytest.approx(3 / math.pi, abs=1e-15)
    assert gelu.mean == pytest.approx(1 / (2 * math.sqrt(math.pi)), abs=1e-15)
    assert relu.mu1 == pytest.approx(0.8564293, abs=1e-7)  # paper.md §2.5
    assert hermite.normalised("tanh").mu1 == pytest.approx(0.9646087, abs=1e-7)
    assert (linear.mean, linear.sd, linear.mu1, linear.mu2sq) == (0.0, 1.0, 1.0, 0.0)


@pytest.mark.parametrize("name", hermite.NAMES)
def test_hermite_coefficients_at_several_scales_match_quadrature(name):
    f = hermite.normalised(name)
    scales = np.array([0.8, 1.0, 1.25])
    order = 10
    coeff = hermite.hermite_coefficients(f, scales, order)
    for i, s in enumerate(scales):
        for k in range(order + 1):
            expected = gauss(lambda z: float(f(np.float64(s * z))) * eval_hermitenorm(k, z)) / math.sqrt(
                math.factorial(k)
            )
            assert coeff[i, k] == pytest.approx(expected, abs=1e-10), (s, k)
    if f.odd:
        assert np.all(coeff[:, 0::2] == 0.0)


def test_relu_high_orders_follow_the_closed_form():
    # E[ReLU(z) He_k(z)] = φ(0) He_{k−2}(0) for k ≥ 2: odd orders vanish, even ones alternate in sign.
    c = hermite.hermite_coefficients(hermite.normalised("relu"), np.ones(1), 41)[0]
    assert np.all(c[3::2] == 0.0)
    assert np.all(np.sign(c[2::2]) == [(-1) ** j for j in range(20)])
    # and match quadrature at a high order, where Gauss–Hermite would struggle with the kink
    expected = gauss(lambda z: float(hermite.normalised("relu")(np.float64(z))) * eval_hermitenorm(20, z))
    assert c[20] == pytest.approx(expected / math.sqrt(math.factorial(20)), rel=1e-8)


@pytest.mark.parametrize("name", hermite.NAMES)
def test_second_moment_matches_quadrature(name):
    f = hermite.normalised(name)
    scales = np.array([0.7, 1.0, 1.4])
    got = hermite.second_moment(f, scales)
    expected = [gauss(lambda z: float(f(np.float64(s * z))) ** 2) for s in scales]
    np.testing.assert_allclose(got, expected, atol=1e-11)
    assert got[1] == pytest.approx(1.0, abs=1e-12)  # unit norm at scale 1


def test_erf_second_moment_closed_form():
    # E erf(az) erf(bz) = (2/π) arcsin(2ab/√((1+2a²)(1+2b²))); here a = b = s/√2.
    scales = np.array([0.5, 1.0, 2.0])
    expected = 2 / math.pi * np.arcsin(scales**2 / (1 + scales**2)) * 3.0
    np.testing.assert_allclose(hermite.second_moment(hermite.normalised("erf"), scales), expected, atol=1e-13)


def correlated_expectation(f, s1: float, s2: float, rho: float) -> float:
    """E[σ(s1 u) σ(s2 v)] for standard Gaussians with correlation ρ, by nested quadrature (v = ρu + √(1−ρ²) w)."""
    c = math.sqrt(1 - rho * rho)
    g = lambda x: float(f(np.float64(x)))  # noqa: E731
    phi = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa: E731
    opts = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 200}

    def inner(u):
        kink = -rho * u / c  # where s2 v = 0
        pieces = ((-LIMIT, kink), (kink, LIMIT))
        return sum(integrate.quad(lambda w: g(s2 * (rho * u + c * w)) * phi(w), a, b, **opts)[0] for a, b in pieces)

    return sum(integrate.quad(lambda u: g(s1 * u) * inner(u) * phi(u), a, b, **opts)[0] for a, b in ((-10, 0), (0, 10)))


@pytest.mark.parametrize("name", hermite.NAMES)
def test_mehler_series_matches_a_direct_double_integral(name):
    """All orders at once: Σ_k c_k(s1) c_k(s2) ρ^k against a 2-D integral at a large |ρ|."""
    f = hermite.normalised(name)
    coeff = hermite.hermite_coefficients(f, np.array([0.9, 1.2]), 41)
    for rho in (0.6, -0.5):
        series = float(np.sum(coeff[0] * coeff[1] * rho ** np.arange(42)))
        assert series == pytest.approx(correlated_expectation(f, 0.9, 1.2, rho), abs=1e-11), rho


def test_ill_posed_pairs():
    # tanh features, linear target: λ*(∞) = μ1² σ_ε² − μ2², positive only for σ_ε > 0.2734.
    assert "λ*(∞)" in hermite.ill_posed("tanh", "linear", 0.25)
    assert hermite.ill_posed("tanh", "linear", 0.28) is None
    # The paper's pair is well posed even without noise (studies/rf_ridge.py relies on it).
    tanh, relu = hermite.normalised("tanh"), hermite.normalised("relu")
    assert hermite.infinite_width_optimum(tanh, relu, 0.0) == pytest.approx(0.2686, abs=1e-4)
    # σ = σ_*: λ*(∞) = σ_ε² exactly.
    for name in hermite.NAMES:
        f = hermite.normalised(name)
        assert hermite.infinite_width_optimum(f, f, 0.25) == pytest.approx(0.0625, abs=1e-15)
    with pytest.raises(ValueError, match="unknown function 'sine'"):
        hermite.normalised("sine")
