"""Random-features ridge regression (paper.md §2): solver, reference table, rates, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hptransfer.synthetic import rf

# paper.md §2.5 reference table: ψ2 → (λ*, excess R*, a, b, c).
REFERENCE = {
    4: (0.3792, 0.3903, 3.17e-2, 3.13e-2, 6.40e-5),
    5.66: (0.3851, 0.3800, 2.15e-2, 3.72e-2, 8.97e-5),
    8: (0.3850, 0.3734, 1.48e-2, 3.72e-2, 8.96e-5),
    16: (0.3768, 0.3658, 7.22e-3, 2.89e-2, 5.46e-5),
    32: (0.3665, 0.3622, 3.58e-3, 1.87e-2, 2.29e-5),
    64: (0.3587, 0.3604, 1.79e-3, 1.08e-2, 7.73e-6),
    128: (0.3537, 0.3595, 8.94e-4, 5.86e-3, 2.28e-6),
    181: (0.3521, 0.3592, 6.32e-4, 4.25e-3, 1.20e-6),
}


@pytest.fixture(autouse=True)
def one_blas_thread():
    # The machine is shared; multithreaded BLAS is slower than one thread under load.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def gaps():
    return rf.transfer_gaps(list(REFERENCE))


def test_normalisation_constants_match_section_2_5():
    c = rf.hermite_constants()
    assert c.tanh_norm == pytest.approx(0.6279287, abs=1e-7)
    assert c.mu1 == pytest.approx(0.9646087, abs=1e-7)
    assert c.mu1**2 == pytest.approx(0.930470, abs=1e-6)
    assert c.relu_sd == pytest.approx(0.5838194, abs=1e-7)
    assert c.mu1_star == pytest.approx(0.8564293, abs=1e-7)
    assert c.mu2sq_star == pytest.approx(0.266529, abs=1e-6)
    # The normalised activations really have zero mean and unit norm (independent quadrature).
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / math.sqrt(2 * math.pi)
    assert np.sum(w * rf.sigma(z) ** 2) == pytest.approx(1.0, abs=1e-10)
    assert np.sum(w * rf.sigma(z)) == pytest.approx(0.0, abs=1e-12)


def test_infinite_width_optimum_matches_table():
    assert rf.lambda_star_inf() == pytest.approx(0.3479, abs=5e-5)
    assert float(rf.risk_inf(rf.lambda_star_inf())) - 0.25**2 == pytest.approx(0.3586, abs=5e-5)
    # λ*(∞) is a stationary point of the closed-form R_∞.
    lam, h = rf.lambda_star_inf(), 1e-4
    slope = (rf.risk_inf(lam + h) - rf.risk_inf(lam - h)) / (2 * h)
    assert abs(slope) < 1e-7


@pytest.mark.parametrize("psi2", list(REFERENCE))
def test_reference_table_row(gaps, psi2):
    i = list(REFERENCE).index(psi2)
    lam_ref, excess_ref, a_ref, b_ref, c_ref = REFERENCE[psi2]
    # λ* and R* are tabulated to 4 decimals; a, b, c to 3 significant digits.
    assert gaps.lambda_star[i] == pytest.approx(lam_ref, abs=5.1e-5)
    assert gaps.excess_risk_star[i] == pytest.approx(excess_ref, abs=5.1e-5)
    for got, ref in zip((gaps.a[i], gaps.b[i], gaps.c[i]), (a_ref, b_ref, c_ref)):
        assert got == pytest.approx(ref, rel=6e-3)


def test_solver_at_huge_width_agrees_with_closed_form():
    lams = np.array([0.05, 0.2, rf.lambda_star_inf(), 0.7, 2.0])
    finite = rf.risk(lams, [1e9])[0]
    np.testing.assert_allclose(finite, rf.risk_inf(lams), rtol=1e-8)
    at_inf = rf.risk(lams, [np.inf])[0]
    np.testing.assert_allclose(at_inf, rf.risk_inf(lams), rtol=1e-12)


def _relative_residuals(sol):
    """(E1), (E2) divided by the size of their largest term, so small λ (large m) is not favoured."""
    c = rf.hermite_constants()
    e1, e2 = rf.residuals(sol)
    m1, m2, z = sol.m1, sol.m2, sol.lam[None, :]
    scale1 = np.abs(c.mu1**2 * m1 * m2) * (1 + np.abs(z * m1)) + (m1 + m2) ** 2
    scale2 = sol.psi2[:, None] * (c.mu1**2 * m1 * m2 + m1 + m2) + np.abs(c.mu1**2 * m1 * m2 * (z * m1 - 1))
    return np.abs(e1) / scale1, np.abs(e2) / scale2


def test_solutions_satisfy_equations_and_are_positive():
    # Includes the interpolation threshold ψ2 = ψ1 = 4 at tiny λ, and widths below it.
    psi2 = [0.25, 1.0, 3.9, 4.0, 4.1, 16.0, 1e4]
    sol = rf.solve_m([1e-4, 1e-2, 0.3, 1.0, 10.0], psi2)
    assert np.all(sol.m1 > 0) and np.all(sol.m2 > 0)
    r1, r2 = _relative_residuals(sol)
    assert r1.max() < 1e-12 and r2.max() < 1e-12
    # The implicit λ-derivatives agree with central differences of the solution.
    h = 1e-6
    up, down = rf.solve_m([0.3 + h], [3.9, 16.0]), rf.solve_m([0.3 - h], [3.9, 16.0])
    mid = rf.solve_m([0.3], [3.9, 16.0])
    np.testing.assert_allclose(mid.dm1, (up.m1 - down.m1) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(mid.dm2, (up.m2 - down.m2) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("psi2,lam", [(4.0, 0.01), (2.0, 0.3), (16.0, 0.05), (1.0, 1.0)])
def test_positive_root_is_unique_and_is_the_one_found(psi2, lam):
    """Independent check: eliminate m2 from (E2) (it is linear in m2) and scan (E1) for sign changes."""
    c = rf.hermite_constants()
    psi1, mu1sq, mu2sq = 4.0, c.mu1**2, c.mu2sq
    m1 = np.geomspace(1e-6, 1e4, 400001)
    coef = (psi2 / psi1) * (mu1sq * m1 + 1 / psi1) + mu1sq * m1 * (lam * m1 - 1)
    m2 = (psi2 / psi1**2) * m1 / coef
    e1 = (m1 - m2) * (mu2sq * m1 + mu1sq * m2) / psi1 + mu1sq * m1 * m2 * (lam * m1 - 1)
    valid = (m2 > 0)[:-1] & (m2 > 0)[1:] & (np.sign(coef[:-1]) == np.sign(coef[1:]))
    roots = m1[:-1][valid & (np.sign(e1[:-1]) != np.sign(e1[1:]))]
    assert roots.size == 1
    sol = rf.solve_m([lam], [psi2])
    assert sol.m1[0, 0] == pytest.approx(roots[0], rel=1e-4)


def test_asymptotic_slopes_follow_theorem_3():
    psi2 = np.geomspace(1024, 16384, 5)
    far = rf.transfer_gaps(psi2)
    assert rf.fit_loglog_slope(psi2, far.a) == pytest.approx(-1.0, abs=0.01)
    assert rf.fit_loglog_slope(psi2, far.b) == pytest.approx(-1.0, abs=0.01)
    assert rf.fit_loglog_slope(psi2, far.c) == pytest.approx(-2.0, abs=0.02)
    # Fast transfer: c = o(a), i.e. c/a → 0.
    assert far.c[-1] / far.a[-1] < 0.2 * far.c[0] / far.a[0]


def test_population_moments_match_monte_carlo_risk():
    rng = np.random.default_rng(3)
    d, n = 20, 30
    beta = rng.standard_normal(d)
    beta /= np.linalg.norm(beta)
    W = rng.standard_normal((d, n)) / math.sqrt(d)
    a = rng.standard_normal(n) / n
    U, v = rf.population_moments(W, beta)
    exact = 1.0 - 2 * a @ v + a @ U @ a
    X = rng.standard_normal((400_000, d))
    err = (rf.sigma_star(X @ beta) - rf.sigma(X @ W) @ a) ** 2
    assert exact == pytest.approx(err.mean(), abs=4 * err.std() / math.sqrt(err.size))


def test_simulation_agrees_with_theory_and_rejects_wrong_penalty():
    """Finite-size ridge with penalty n·λ‖a‖² tracks the deterministic equivalent.

    Tolerance: 4 standard errors plus a finite-size allowance. §2.5 measured a gap of ≈0.0006 in
    the minimal risk at d = 200 (ψ2 = 4 and 16); it shrinks like 1/d, so at d = 100 we allow
    2 × 0.0006 × (200/d) = 0.0024.
    """
    d, psi2, n_draws = 100, 8.0, 16
    lams = np.array([0.05, 0.2, 0.8])
    sim = rf.simulate_rf(d, 4.0, psi2, lams, n_draws, seed=7, sigma_eps=0.25)
    theory = rf.risk(lams, [psi2])[0]
    allowance = 2 * 0.0006 * (200 / d)
    assert np.all(sim.risk_se.values < 0.01)
    assert np.all(np.abs(sim.risk_mean.values - theory) < 4 * sim.risk_se.values + allowance)

    # The shape of the curve, from differences within each draw (common random numbers cancel most
    # of the draw-to-draw spread), pins the λ convention.
    paired = sim.risk.values - sim.risk.values[:, [1]]
    mean, se = paired.mean(axis=0), paired.std(axis=0, ddof=1) / math.sqrt(n_draws)
    tolerance = (4 * se + allowance)[[0, 2]]
    assert np.all(np.abs(mean - (theory - theory[1]))[[0, 2]] < tolerance)
    # The literal penalty N·λ‖a‖² is the theory at λ' = λ·ψ1/ψ2: rejected.
    wrong = rf.risk(lams * 4.0 / psi2, [psi2])[0]
    assert np.all(np.abs(mean - (wrong - wrong[1]))[[0, 2]] > 2 * tolerance)


def test_rf_study_dataset_layout():
    cfg = {
        "psi2_curves": [4.0, 8.0, 64.0],
        "psi2_rates": [4.0, 8.0, 32.0, 64.0],
        "lam": [0.1, 0.35, 1.0],
        "slope_fit_min_psi2": 8.0,
        "simulation": {"d": 30, "n_draws": 3, "psi2": [2.0], "lam": [0.2, 0.4], "seed": 1},
    }
    ds = rf.rf_study(cfg)
    assert ds.psi2.values.tolist() == [4.0, 8.0, 32.0, 64.0, math.inf]
    assert ds.lam.values.tolist() == [0.1, 0.35, 1.0]
    for name in ("lambda_star", "excess_risk_star", "a", "b", "c"):
        assert ds[name].dims == ("psi2",)
    assert ds.excess_risk.dims == ("psi2", "lam")
    assert np.isnan(ds.a.values[-1]) and np.isnan(ds.b.values[-1]) and np.isnan(ds.c.values[-1])
    assert ds.lambda_star.values[-1] == pytest.approx(rf.lambda_star_inf())
    assert ds.in_rates.values.tolist() == [True, True, True, True, False]
    assert ds.in_curves.values.tolist() == [True, True, False, True, True]
    # The curves' minimum over the λ grid can't beat the exact optimum.
    assert np.all(ds.excess_risk.min("lam").values >= ds.excess_risk_star.values - 1e-12)
    assert ds.attrs["slope_a"] == pytest.approx(-1.0, abs=0.1)
    assert ds.attrs["asymptotic_slope_c"] == pytest.approx(-2.0, abs=0.02)
    assert ds.sim_risk.dims == ("sim_psi2", "sim_draw", "sim_lam")
    assert np.all(np.isfinite(ds.sim_theory_risk.values))
