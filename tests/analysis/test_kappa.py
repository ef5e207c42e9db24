"""Algorithms 1 and 2 (paper.md §4.5) on hand-checkable cases, and kappa.nc from a sweep."""

import itertools
import json

import numpy as np
import pytest
import xarray as xr
from sweeps import make_sweep

from hptransfer.analysis import (
    DEFAULT_TAUS,
    ProxyObjective,
    analyze_kappa,
    conv_err,
    j_proxy,
    lipschitz,
    minimize_proxy,
    run_algorithm1,
    second_derivative,
    select_kappa,
    tau_pairs,
)

# --- discrete helpers --------------------------------------------------------------------------


def test_three_point_second_derivative_is_exact_for_a_parabola_on_an_uneven_grid():
    nu = np.array([0.0, 0.3, 1.0, 1.2, 2.5])
    np.testing.assert_allclose(second_derivative(nu, 1.5 * nu**2 - nu + 4), 3.0)


def test_conv_err_counts_concave_interior_points():
    nu = np.arange(6.0)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])  # interior: concave, convex, concave, convex
    assert conv_err(nu, y) == pytest.approx(0.5)
    assert conv_err(nu, nu**2) == 0.0
    assert conv_err(nu, 2.0 * nu + 1.0) == 0.0  # zero curvature is not a violation (strict <)


def test_lipschitz_is_largest_absolute_secant_slope():
    assert lipschitz([0.0, 1.0, 1.5, 3.5], [0.0, 2.0, 0.5, 1.5]) == pytest.approx(3.0)


def test_j_proxy_by_hand():
    nu = np.array([0.0, 1.0, 2.0])
    # width n = 2: columns are phi^1, phi^2 (= total)
    phi_n = np.array([[-1.0, -2.0], [-3.0, -4.0], [-1.0, -1.5]])
    phi_max = np.array([[-1.5, -2.0, -2.5], [-3.0, -5.0, -5.5], [-1.0, -1.0, -2.0]])
    kappa = np.array([1, 2, 1])
    # top-kappa: n -> (-1, -4, -1); n_max -> (-1.5, -5, -1); mean |gap| = (0.5 + 1 + 0) / 3 = 0.5
    # residual n:    (-2 - -1, -4 - -4, -1.5 - -1) = (-1, 0, -0.5)   -> Lip = 1
    # residual n_max: (-2.5 - -1.5, -5.5 - -5, -2 - -1) = (-1, -0.5, -1) -> Lip = 0.5
    assert j_proxy(phi_n, phi_max, nu, kappa, 0.1, 2.0) == pytest.approx(0.5 + 0.1 * 1 + 2.0 * 0.5)


# --- Algorithm 2 -------------------------------------------------------------------------------


def _brute_force(phi_n, phi_max, nu, tau1, tau2):
    n = phi_n.shape[1]
    best = min(
        itertools.product(range(1, n + 1), repeat=nu.size),
        key=lambda k: j_proxy(phi_n, phi_max, nu, np.array(k), tau1, tau2),
    )
    return np.array(best), j_proxy(phi_n, phi_max, nu, np.array(best), tau1, tau2)


def test_algorithm2_matches_brute_force_when_the_objective_is_separable():
    # with negligible tau the objective is a sum over grid points, so coordinate descent is exact
    rng = np.random.default_rng(0)
    nu = np.array([0.0, 0.5, 1.0])
    for _ in range(5):
        phi_n, phi_max = rng.standard_normal((3, 4)), rng.standard_normal((3, 6))
        kappa = minimize_proxy(phi_n, phi_max, nu, 1e-9, 1e-9)
        best, best_j = _brute_force(phi_n, phi_max, nu, 1e-9, 1e-9)
        np.testing.assert_array_equal(kappa, best)


def test_algorithm2_finds_the_hand_checkable_optimum():
    # g = 3, n = 3: the gap term is zero only on the diagonal kappa = (3, 1, 2); every other
    # choice costs at least 1/3. Residual slopes are made tiny so that the Lip terms cannot win.
    nu = np.array([0.0, 1.0, 2.0])
    phi_max = np.zeros((3, 5))
    phi_n = np.ones((3, 3))
    phi_n[0, 2] = phi_n[1, 0] = phi_n[2, 1] = 0.0
    kappa = minimize_proxy(phi_n, phi_max, nu, 1e-3, 1e-3)
    np.testing.assert_array_equal(kappa, [3, 1, 2])
    best, _ = _brute_force(phi_n, phi_max, nu, 1e-3, 1e-3)
    np.testing.assert_array_equal(best, [3, 1, 2])


def test_algorithm2_starts_at_half_width_and_keeps_ties():
    # a flat objective (identical curves, zero residual slopes): nothing strictly improves, so
    # the initial kappa_i = n/2 is returned unchanged
    nu = np.array([0.0, 0.5, 1.0, 1.5])
    phi = np.tile(np.linspace(-1, 0, 10)[None, :] * 0 - 1.0, (4, 1))
    np.testing.assert_array_equal(minimize_proxy(phi, phi, nu, 1.0, 1.0), [5, 5, 5, 5])
    np.testing.assert_array_equal(minimize_proxy(phi[:, :7], phi, nu, 1.0, 1.0), [3, 3, 3, 3])


def test_algorithm2_result_is_coordinatewise_optimal_and_beats_the_start():
    rng = np.random.default_rng(1)
    nu = np.array([0.0, 0.4, 1.1, 1.5])
    for tau1, tau2 in [(0.5, 0.5), (2.0, 0.1), (5.0, 5.0)]:
        phi_n, phi_max = rng.standard_normal((4, 5)), rng.standard_normal((4, 7))
        kappa = minimize_proxy(phi_n, phi_max, nu, tau1, tau2)
        assert np.all((kappa >= 1) & (kappa <= 5))
        j_star = j_proxy(phi_n, phi_max, nu, kappa, tau1, tau2)
        for i, k in itertools.product(range(4), range(1, 6)):
            trial = kappa.copy()
            trial[i] = k
            assert j_proxy(phi_n, phi_max, nu, trial, tau1, tau2) >= j_star - 1e-12
        assert j_star <= j_proxy(phi_n, phi_max, nu, np.full(4, 2), tau1, tau2) + 1e-12
        assert _brute_force(phi_n, phi_max, nu, tau1, tau2)[1] <= j_star + 1e-12


def test_vectorised_coordinate_scores_equal_the_definition():
    rng = np.random.default_rng(4)
    for _ in range(30):
        g, n = int(rng.integers(3, 7)), int(rng.integers(1, 9))
        nu = np.cumsum(rng.uniform(0.1, 1.0, g))  # uneven grid
        phi_n, phi_max = rng.standard_normal((g, n)), rng.standard_normal((g, n + 3))
        kappa, (tau1, tau2) = rng.integers(1, n + 1, g), rng.uniform(0, 3, 2)
        proxy = ProxyObjective(phi_n, phi_max, nu)
        for i in range(g):
            expected = [
                j_proxy(phi_n, phi_max, nu, np.where(np.arange(g) == i, k, kappa), tau1, tau2) for k in range(1, n + 1)
            ]
            np.testing.assert_allclose(proxy.scores(kappa, i, tau1, tau2), expected, rtol=1e-12)


def test_algorithm2_is_fast_at_width_2048():
    import time

    rng = np.random.default_rng(2)
    nu = np.arange(8) * 0.5
    phi_max = np.cumsum(-np.abs(rng.standard_normal((8, 4096))) / 100, axis=1)
    phi_n = phi_max[:, :2048] * 1.01
    start = time.perf_counter()
    kappa = minimize_proxy(phi_n, phi_max, nu, 0.1, 0.1)
    assert time.perf_counter() - start < 2.0
    assert kappa.dtype.kind == "i" and np.all((kappa >= 1) & (kappa <= 2048))


# --- Algorithm 1 -------------------------------------------------------------------------------


def test_tau_pairs_are_sorted_by_sum_then_tau1():
    assert tau_pairs((1.0, 2.0)) == [(1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (2.0, 2.0)]
    pairs = tau_pairs()
    assert len(pairs) == len(DEFAULT_TAUS) ** 2 and pairs[0] == (1e-3, 1e-3)
    keys = [(a + b, a) for a, b in pairs]
    assert keys == sorted(keys)


def test_algorithm1_fails_when_no_tau_passes():
    # every top-k curve is a zigzag: 2 of 4 interior points are concave, above eps_cvx = 1/4
    nu = np.arange(6) * 0.5
    zigzag = np.array([0.0, -1.0, 0.0, -1.0, 0.0, -1.0])
    phi_n = np.tile(zigzag[:, None], (1, 8))
    phi_max = np.tile(zigzag[:, None], (1, 16))
    assert select_kappa(phi_n, phi_max, nu) is None
    result = run_algorithm1(phi_n, phi_max, nu)
    assert result.kappa is None and np.isnan(result.tau1) and result.n_tried == 144


def _decomposed(n, nu, centre_shift=1.0):
    """Synthetic phi^k: fast directions prefer large nu (monotone), slow ones are a bowl.

    Small kappa gives a monotone top-kappa curve whose argmin is at the grid edge, so Algorithm 1
    must pick kappa (and tau) large enough to capture the bowl.
    """
    k = np.arange(1, n + 1)
    fast = (1 - np.exp(-k / 3.0)) / (1 - np.exp(-n / 3.0))
    slow = (1 - np.exp(-k / (0.3 * n))) / (1 - np.exp(-1 / 0.3))
    centre = 1.6 + centre_shift * n**-0.5
    return (-0.8 * nu)[:, None] * fast[None, :] + ((nu - centre) ** 2 - 1 + 5 / n)[:, None] * slow


def test_algorithm1_returns_the_first_accepted_pair_in_order():
    nu = np.arange(8) * 0.5
    phi_max, phi_n = _decomposed(256, nu), _decomposed(64, nu)
    result = run_algorithm1(phi_n, phi_max, nu)
    assert result.kappa is not None
    eps_cvx, eps_amin = 1 / 6, 0.5
    assert result.conv_err <= eps_cvx and result.delta <= eps_amin
    # replay the search by hand: no earlier pair is accepted, and the accepted one reproduces
    for t1, t2 in tau_pairs():
        kappa = minimize_proxy(phi_n, phi_max, nu, t1, t2)
        top_n, top_max = phi_n[np.arange(8), kappa - 1], phi_max[np.arange(8), kappa - 1]
        e_cvx = max(conv_err(nu, top_n), conv_err(nu, top_max))
        delta = max(
            abs(nu[np.argmin(top_n)] - nu[np.argmin(phi_n[:, -1])]),
            abs(nu[np.argmin(top_max)] - nu[np.argmin(phi_max[:, -1])]),
        )
        accepted = e_cvx <= eps_cvx and delta <= eps_amin + 1e-12
        if (t1, t2) == (result.tau1, result.tau2):
            assert accepted
            np.testing.assert_array_equal(kappa, result.kappa)
            assert result.j_proxy == pytest.approx(j_proxy(phi_n, phi_max, nu, kappa, t1, t2))
            break
        assert not accepted
    # the smallest pair gives the trivial monotone top-kappa, which must have been rejected
    assert (result.tau1, result.tau2) != (1e-3, 1e-3)


def test_algorithm1_tolerances_are_configurable():
    nu = np.arange(8) * 0.5
    phi_max, phi_n = _decomposed(256, nu), _decomposed(64, nu)
    assert select_kappa(phi_n, phi_max, nu, eps_cvx=-1.0) is None
    loose = run_algorithm1(phi_n, phi_max, nu, taus=(1e-3,), eps_cvx=1.0, eps_amin=10.0)
    assert loose.kappa is not None and (loose.tau1, loose.tau2) == (1e-3, 1e-3)


# --- analyze_kappa -----------------------------------------------------------------------------


def _phi_sweep(widths=(16, 32, 64, 128), seeds=3, zigzag_width=None, param=None):
    """A sweep carrying only phi_k (analysis steps 100 and 200, the last the _decomposed curves);
    ``param``: the same phi_k under each of these names."""
    nu = np.arange(8) * 0.5
    n_max = max(widths)
    rng = np.random.default_rng(0)
    phi = np.full((len(widths), nu.size, seeds, 2, n_max), np.nan)
    for w, n in enumerate(widths):
        clean = _decomposed(n, nu)
        if n == zigzag_width:
            clean = np.tile(np.array([0.0, -1, 0, -1, 0, -1, 0, -1])[:, None], (1, n))
        noise = 1e-4 * rng.standard_normal((nu.size, seeds, n))
        noise -= noise.mean(axis=1, keepdims=True)  # seed mean is exactly the clean array
        phi[w, :, :, 1, :n] = clean[:, None, :] + noise
        phi[w, :, :, 0, :n] = 0.5 * clean[:, None, :]  # an earlier analysis step
    dims = ("width", "lr", "seed", "analysis_step", "k")
    if param:
        phi, dims = np.stack([phi] * len(param)), ("param",) + dims
    return make_sweep(
        widths=widths,
        grid=2.0 ** (nu - 9),
        seeds=seeds,
        params=list(param) if param else None,
        variables={"phi_k": (dims, phi)},
        coords={"analysis_step": [100, 200]},
    )


def test_analyze_kappa_produces_documented_variables_and_round_trips(tmp_path):
    sweep = _phi_sweep(zigzag_width=32)
    out = analyze_kappa(sweep, {})
    for name in (
        "kappa",
        "failed",
        "tau1",
        "tau2",
        "conv_err",
        "delta",
        "j_proxy",
        "phi_n",
        "phi_n_kappa",
        "phi_max_kappa",
        "residual_n",
        "residual_max",
    ):
        assert name in out and out[name].attrs["long_name"] and "units" in out[name].attrs
    np.testing.assert_array_equal(out["width"], [16, 32, 64])  # n < n_max only
    assert out["kappa"].dims == ("width", "lr")
    # the zigzag width fails; the others succeed with kappa in [1, n]
    assert bool(out["failed"].sel(width=32)) and np.all(out["kappa"].sel(width=32) == -1)
    for n in (16, 64):
        row = out.sel(width=n)
        assert not bool(row["failed"])
        assert np.all((row["kappa"] >= 1) & (row["kappa"] <= n))
        np.testing.assert_allclose(row["phi_n_kappa"] + row["residual_n"], row["phi_n"])
        # the algorithm ran on the seed mean at the last analysis step
        np.testing.assert_allclose(row["phi_n"], _decomposed(n, np.arange(8) * 0.5)[:, -1], atol=1e-12)
        assert (
            row["kappa"].values.tolist()
            == select_kappa(
                _decomposed(n, np.arange(8) * 0.5), _decomposed(128, np.arange(8) * 0.5), np.arange(8) * 0.5
            ).tolist()
        )
    assert json.loads(out.attrs["taus"]) == list(DEFAULT_TAUS) and out.attrs["n_max"] == 128
    path = tmp_path / "kappa.nc"
    out.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), out)


def test_analyze_kappa_uses_the_named_analysis_step_and_stacks_params():
    sweep = _phi_sweep(widths=(16, 64), param=("mup", "sp"))
    # the study's analysis block as the config schema nests it (transfer keys are ignored)
    out = analyze_kappa(sweep, {"infinity": "fit", "kappa": {"analysis_step": 100}})
    assert out["kappa"].dims == ("param", "width", "lr")
    assert out.attrs["analysis_step"] == "100"
    np.testing.assert_allclose(
        out["phi_n"].sel(param="sp", width=16), 0.5 * _decomposed(16, np.arange(8) * 0.5)[:, -1], atol=1e-12
    )


def test_analyze_kappa_drops_grid_points_where_a_seed_diverged():
    sweep = _phi_sweep(widths=(16, 64))
    sweep["phi_k"][0, -1, 1] = np.nan  # width 16, largest lr, one seed diverged
    out = analyze_kappa(sweep, {})
    row = out.sel(width=16)
    assert int(row["n_usable"]) == 7 and int(row["kappa"][-1]) == -1
    assert np.isnan(row["phi_n"][-1]) and not bool(row["failed"])
    assert float(row["eps_cvx"]) == pytest.approx(1 / 5)  # tolerance on the usable grid
