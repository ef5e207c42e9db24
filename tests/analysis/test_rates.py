"""Power-law fits, a_n/b_n/c_n, the fast/weak verdict and Theorem 2, on planted answers."""

import numpy as np
import pytest

from hptransfer.analysis import (
    convergent_quantities,
    estimate_rates,
    fit_interpolant,
    fit_lr_law,
    fit_power,
    fit_scaling,
    theorem2,
    verdict,
)

WIDTHS = np.array([64, 128, 256, 512, 1024, 2048, 4096, 8192], dtype=float)
NU = np.arange(-10.0, -4.4, 0.5)


# --- fits --------------------------------------------------------------------------------------


def test_fit_scaling_recovers_paper_transformer_fit():
    n = np.array([128, 256, 512, 1024, 2048], dtype=float)  # 5 widths as in the paper
    fit = fit_scaling(n, 3.137 + 13.16 * n**-0.52)
    assert fit["L_inf"] == pytest.approx(3.137, abs=1e-8)
    assert fit["A"] == pytest.approx(13.16, rel=1e-7)
    assert fit["alpha"] == pytest.approx(0.52, abs=1e-8)
    assert fit["r2"] == pytest.approx(1.0) and fit["reason"] == ""


def test_fit_scaling_error_bars_are_honest_under_noise():
    # sphere-indicator fit of the paper, 14 widths, noise 1% of the smallest gap
    rng = np.random.default_rng(0)
    n = 2.0 ** np.arange(4, 18)
    truth = 0.108 + 6.37 * n**-0.742
    hits, trials = 0, 200
    for _ in range(trials):
        fit = fit_scaling(n, truth + 2e-4 * rng.standard_normal(n.size))
        hits += abs(fit["alpha"] - 0.742) <= 1.96 * fit["alpha_se"]
    assert 0.85 <= hits / trials <= 0.99  # ~95% nominal


@pytest.mark.parametrize("B", [7.80, -2.0])
def test_fit_lr_law_recovers_paper_law_with_either_sign(B):
    n = 2.0 ** np.arange(4, 18)
    fit = fit_lr_law(n, -B * n**-0.388 - 6.78)
    assert fit["B"] == pytest.approx(B, rel=1e-6)
    assert fit["beta"] == pytest.approx(0.388, abs=1e-6)
    assert fit["D"] == pytest.approx(-6.78, abs=1e-6)


def test_fit_power_log_log_and_reference_correction():
    n = WIDTHS[:-1]
    y = 2.0 * (n**-0.7 - 8192.0**-0.7)  # gaps measured against n_max = 8192
    naive = fit_power(n, y)
    corrected = fit_power(n, y, reference=8192.0)
    assert corrected["alpha"] == pytest.approx(0.7, abs=1e-6)
    assert corrected["A"] == pytest.approx(2.0, rel=1e-5)
    assert naive["alpha"] > 0.75  # ignoring the reference biases alpha upwards
    pure = fit_power(n, 2.0 * n**-0.7)
    assert pure["alpha"] == pytest.approx(0.7, abs=1e-10) and pure["dof"] == n.size - 2


def test_fits_return_nan_and_reason_instead_of_raising():
    few = fit_scaling([64, 128], [1.0, 0.9])
    assert np.isnan(few["alpha"]) and "too few" in few["reason"]
    exact = fit_lr_law([64, 128, 256], [-8.0, -7.5, -7.3])
    assert np.isfinite(exact["beta"]) and np.isnan(exact["beta_se"]) and exact["dof"] == 0
    assert "no degrees of freedom" in exact["reason"]
    one = fit_power([64, 128, 256], [0.1, 0.0, np.nan])  # only one usable positive point
    assert np.isnan(one["alpha"]) and "dropped" in one["reason"] and "too few" in one["reason"]


def test_gaps_that_grow_with_width_put_the_exponent_on_its_bound_and_say_so():
    # b_n of a study whose optimum wanders (Dion, proportional rank, workstation scale): the gap to
    # n_max is larger at 64 than at 32, so no decaying power law fits
    fit = fit_power([32.0, 64.0], [0.053, 0.31], reference=128.0)
    assert not fit["identified"] and fit["alpha"] < 1e-3
    assert "exponent at its bound" in fit["reason"] and "no degrees of freedom" in fit["reason"]
    assert "bound" not in fit_power([32.0, 64.0], [0.31, 0.053], reference=128.0)["reason"]


def test_loss_straight_in_log_width_is_flagged_as_unidentified():
    # the default sphere study's shape: the optimal loss falls by the same amount per doubling, with
    # no sign of levelling off; the best "power law" is the p -> 0 limit with a runaway asymptote
    widths = np.array([64.0, 128, 256, 512])
    fit = fit_scaling(widths, 0.605 - 0.031 * np.log2(widths / 64) - 1e-4 * (np.log2(widths / 64) - 1.5) ** 2)
    assert fit["alpha"] < 1e-3
    assert "not identified" in fit["reason"]
    clean = fit_scaling(WIDTHS, 3.0 + 20.0 * WIDTHS**-0.5)
    assert clean["reason"] == ""


def test_a_step_that_any_exponent_fits_is_flagged_as_unidentified():
    # the hard-example subset of the workstation digits study (the width-64 optimum at the grid edge
    # is left out): one drop from width 32, then noise; curve_fit returns p ≈ 8 ± 1e4
    widths = np.array([32.0, 128, 256, 512, 1024])
    fit = fit_scaling(widths, [0.2395, 0.1762, 0.1646, 0.1797, 0.1866])
    assert not fit["identified"] and fit["alpha_se"] > fit["alpha"]
    assert "do not constrain it" in fit["reason"] and "not identified" in fit["reason"]
    noisy = fit_scaling(WIDTHS, 3.0 + 20.0 * WIDTHS**-0.5 * (1 + 0.02 * np.cos(np.arange(WIDTHS.size))))
    assert noisy["identified"] and noisy["reason"] == ""


# --- a_n, b_n, c_n and rates -------------------------------------------------------------------


def _planted(alpha, beta, A=20.0, B=3.0, nu_inf=-7.2, L_inf=3.0, widths=WIDTHS):
    """phi_n(nu) = (nu - nu_inf - B n^-beta)^2 + A n^-alpha + L_inf on the grid, per width."""
    n = widths[:, None]
    curves = (NU[None, :] - nu_inf - B * n**-beta) ** 2 + A * n**-alpha + L_inf
    return curves, nu_inf + B * widths**-beta, A * widths**-alpha + L_inf


def test_convergent_quantities_match_definitions():
    nu_star = np.array([-7.0, -7.1, -7.15])
    loss_star = np.array([3.3, 3.1, 3.05])

    def phi_inf(nu):  # curvature 2: c_n = b_n^2 exactly (Proposition 1)
        return (np.asarray(nu) + 7.2) ** 2 + 3.0

    a, b, c = convergent_quantities(nu_star, loss_star, phi_inf, -7.2, 3.0)
    np.testing.assert_allclose(a, [0.3, 0.1, 0.05])
    np.testing.assert_allclose(b, [0.2, 0.1, 0.05])
    np.testing.assert_allclose(c, b**2)


@pytest.mark.parametrize("infinity", ["n_max", "fit"])
@pytest.mark.parametrize(
    "alpha, beta, label", [(1.0, 0.8, "fast"), (1.0, 0.5, "weak"), (0.742, 0.371, "weak"), (0.6, 0.9, "fast")]
)
def test_planted_rates_and_verdict(infinity, alpha, beta, label):
    curves, nu_star, loss_star = _planted(alpha, beta)
    phi_largest = fit_interpolant(NU, curves[-1])
    out = estimate_rates(WIDTHS, nu_star, loss_star, phi_largest, infinity=infinity)
    assert out["alpha"] == pytest.approx(alpha, abs=1e-5)
    assert out["beta"] == pytest.approx(beta, abs=1e-5)
    assert out["verdict"].label == label
    if infinity == "n_max":
        assert np.isnan(out["a_n"][-1]) and out["nu_inf"] == pytest.approx(nu_star[-1])
    else:
        assert out["nu_inf"] == pytest.approx(-7.2, abs=1e-6)
        assert out["loss_inf"] == pytest.approx(3.0, abs=1e-6)
        # the largest width's curve re-centred on the fitted limit: c_n = b_n^2 for this family
        np.testing.assert_allclose(out["c_n"], out["b_n"] ** 2, rtol=1e-6, atol=1e-12)


def test_rates_with_too_few_widths_are_inconclusive():
    curves, nu_star, loss_star = _planted(1.0, 0.8, widths=WIDTHS[:3])
    out = estimate_rates(WIDTHS[:3], nu_star, loss_star, fit_interpolant(NU, curves[-1]))
    assert out["verdict"].label == "inconclusive"


def test_estimate_rates_rejects_unknown_infinity():
    with pytest.raises(ValueError, match="infinity"):
        estimate_rates(WIDTHS, WIDTHS, WIDTHS, lambda nu: nu, infinity="max")


# --- verdict -----------------------------------------------------------------------------------


def test_verdict_fast_weak_inconclusive():
    assert verdict(1.0, 0.8, 0.02, 0.05, dof=5).label == "fast"
    weak = verdict(1.0, 0.52, 0.02, 0.03, dof=5)
    assert weak.label == "weak" and weak.margin_lo < 0 < weak.margin_hi
    assert verdict(1.0, 0.2, 0.01, 0.01, dof=5).label == "weak"  # below the agnostic rate
    wide = verdict(1.0, 0.6, 0.2, 0.4, dof=3)
    assert wide.label == "inconclusive" and "too wide" in wide.explanation
    assert verdict(1.0, np.nan, 0.1, 0.1).label == "inconclusive"
    assert verdict(1.0, 0.8, np.nan, 0.1).label == "inconclusive"
    assert verdict(1.0, 0.8, 0.01, 0.01, dof=0).label == "inconclusive"


def test_verdict_interval_uses_student_t_and_level():
    v90 = verdict(1.0, 0.6, 0.0, 0.05, level=0.9, dof=4)
    v50 = verdict(1.0, 0.6, 0.0, 0.05, level=0.5, dof=4)
    assert v90.margin == pytest.approx(0.1)
    assert v90.margin_hi - v90.margin == pytest.approx(2.131847 * 0.05, rel=1e-5)
    assert v90.margin_lo < 0 and v90.label == "weak"  # contains 0, half-width 0.107 <= 0.25
    assert v50.margin_lo > 0 and v50.label == "fast"


# --- Theorem 2 ---------------------------------------------------------------------------------


def test_theorem2_exponents_of_paper_section_1_6():
    out = theorem2(0.742, 0.388, r=2, h=1)
    assert out["direct_error_exponent"] == pytest.approx(2 * 0.742 / (0.742 + 4))
    assert out["transfer_error_exponent"] == pytest.approx(min(0.742 / 2, 2 * 0.388 / (0.388 + 2)))
    assert out["better"] == "transfer"  # 0.388 > 0.371
    out = theorem2(1.0, 5.0, r=2, h=1)
    assert out["transfer_error_exponent"] == pytest.approx(0.5)  # capped by alpha / r


@pytest.mark.parametrize("alpha, r, h", [(0.742, 2, 1), (1.0, 2, 1), (0.3, 3, 2), (2.5, 2, 4)])
def test_theorem2_crossover_exactly_at_beta_equal_alpha_over_two(alpha, r, h):
    at = theorem2(alpha, alpha / 2, r=r, h=h)
    assert at["better"] == "tie" and not at["transfer_is_better"]
    assert at["transfer_error_exponent"] == pytest.approx(at["direct_error_exponent"], rel=1e-14)
    assert theorem2(alpha, alpha / 2 * (1 + 1e-6), r=r, h=h)["better"] == "transfer"
    assert theorem2(alpha, alpha / 2 * (1 - 1e-6), r=r, h=h)["better"] == "direct"


def test_theorem2_budget_widths():
    F = 1e18
    out = theorem2(1.0, 0.8, r=2, h=1, budget=F)
    assert out["target_width"] == pytest.approx(F**0.5)
    assert out["proxy_width"] == pytest.approx(F ** (1 / 2.8))
    assert out["direct_width"] == pytest.approx(F ** (2 / 5))
    assert out["proxy_width"] < out["target_width"]
    assert out["transfer_error"] < out["direct_error"]


def test_theorem2_without_rates_is_undetermined():
    out = theorem2(np.nan, 0.4)
    assert out["better"] == "undetermined" and not out["transfer_is_better"]
