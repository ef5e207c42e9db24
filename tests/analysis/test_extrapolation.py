"""The law kept for extrapolation (fits.fit_offset_power) and the two ways the advice extrapolates
(analysis/extrapolation.py): planted laws recovered exactly, intervals that follow the noise, the
fitted-range term that wakes up only for a law that bends, and the drift band's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from hptransfer.analysis.extrapolation import Extrapolation, drift_per_doubling, extrapolate_law
from hptransfer.analysis.fits import fit_lr_law, fit_offset_power

WIDTHS = 2.0 ** np.arange(5, 11)  # 32 … 1024


def law(n, D=-7.0, B=4.0, beta=0.5):
    return D - B * np.asarray(n, dtype=float) ** -beta


def test_an_exact_law_is_recovered_and_read_anywhere_without_error():
    fit = fit_offset_power(WIDTHS, law(WIDTHS))
    assert fit.identified and not fit.held and fit.reason == ""
    assert fit.p == pytest.approx(0.5, abs=1e-6)
    assert fit.c == pytest.approx(-7.0, abs=1e-6)
    far = np.array([4096.0, 65536.0, np.inf])
    np.testing.assert_allclose(fit.value(far), law(far), atol=1e-6)
    # the amplitude in units of n0: B n0^-beta
    assert -fit.a == pytest.approx(4.0 * fit.n0**-0.5, rel=1e-6)


def test_the_free_fit_is_the_one_transfer_nc_reports():
    rng = np.random.default_rng(0)
    y = law(WIDTHS) + 0.02 * rng.standard_normal(WIDTHS.size)
    mine, theirs = fit_offset_power(WIDTHS, y), fit_lr_law(WIDTHS, y)
    assert mine.p == theirs["beta"] and mine.c == theirs["D"]
    assert np.sqrt(mine.cov[2, 2]) == pytest.approx(theirs["beta_se"], rel=1e-12)


def test_an_exponent_below_the_floor_is_held_there_and_loses_its_variance():
    y = law(WIDTHS, beta=0.2)
    fit = fit_offset_power(WIDTHS, y, min_exponent=0.5)
    assert fit.held and fit.identified and fit.p == 0.5
    assert fit.p_free == pytest.approx(0.2, abs=1e-4)
    assert fit.cov[2, 2] == 0 and fit.cov[0, 0] > 0
    # a floor below the free exponent changes nothing
    assert not fit_offset_power(WIDTHS, y, min_exponent=0.1).held


def test_too_few_widths_give_a_reason_not_a_law():
    fit = fit_offset_power(WIDTHS[:3], law(WIDTHS[:3]))
    assert not fit.identified and "no degrees of freedom" in fit.reason
    assert not fit_offset_power(WIDTHS[:2], law(WIDTHS[:2])).identified


def test_interval_of_a_noisy_law_scales_with_the_noise_and_holds_the_truth():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(WIDTHS.size)
    target = np.array([4096.0])
    halves = []
    for scale in (0.01, 0.04):
        est = extrapolate_law(WIDTHS, law(WIDTHS) + scale * noise).estimate(target)
        assert est.lo[0] <= law(target)[0] <= est.hi[0]
        halves.append((est.hi - est.lo)[0] / 2)
    assert halves[1] / halves[0] == pytest.approx(4.0, rel=0.15)


def test_differences_carry_the_covariance_of_both_ends():
    """A drift read between two widths is one linear functional of the parameters: its variance is
    not the sum of the two values' variances (they are strongly correlated)."""
    rng = np.random.default_rng(2)
    ext = extrapolate_law(WIDTHS, law(WIDTHS) + 0.02 * rng.standard_normal(WIDTHS.size))
    both = ext.estimate(np.array([4096.0]), 1024.0)
    one, other = ext.estimate(np.array([4096.0])), ext.estimate(np.array([1024.0]))
    assert both.value[0] == pytest.approx(one.value[0] - other.value[0])
    assert (both.hi - both.lo)[0] < (one.hi - one.lo)[0]


def test_the_fitted_range_term_is_zero_for_a_true_law_and_large_for_a_bending_one():
    target = np.array([65536.0])
    assert extrapolate_law(WIDTHS, law(WIDTHS)).systematic_variance(target)[0] == pytest.approx(0.0, abs=1e-12)
    # two power laws: the local exponent falls with width, as in a pre-asymptotic regime
    bent = law(WIDTHS, B=2.0, beta=0.3) + law(WIDTHS, D=0.0, B=40.0, beta=1.0)
    ext = extrapolate_law(WIDTHS, bent)
    assert ext.law.identified and ext.window.identified
    shift = (ext.law.value(target) - ext.window.value(target))[0]
    assert abs(shift) > 0.01
    # the shift is far beyond the fits' noise, so nearly all of it counts
    assert ext.systematic_variance(target)[0] > 0.8 * shift**2
    without = Extrapolation(ext.law, None, ext.level).estimate(target)
    assert (ext.estimate(target).hi - without.hi)[0] > 0.5 * abs(shift)


def test_drift_slope_and_band_follow_the_line_through_the_optima():
    widths = np.array([64.0, 128.0, 256.0, 512.0])
    nu = -6.0 + 0.3 * np.log2(widths) + np.array([0.02, -0.03, 0.01, 0.0])
    drift = drift_per_doubling(widths, nu, level=0.9)
    slope, intercept = np.polyfit(np.log2(widths), nu, 1)
    assert drift.slope == pytest.approx(slope)
    assert drift.slope_lo < slope < drift.slope_hi and drift.scatter > 0
    lo, hi = drift.band(-3.4, -3.2, np.array([0.0, 2.0]))
    np.testing.assert_allclose(lo, [-3.4, -3.4 + 2 * min(0.0, drift.slope_lo)])
    np.testing.assert_allclose(hi, [-3.2, -3.2 + 2 * max(0.0, drift.slope_hi)])


def test_drift_of_two_widths_needs_seed_errors():
    widths, nu = np.array([64.0, 128.0]), np.array([-6.0, -5.8])
    assert drift_per_doubling(widths, nu).reason
    assert drift_per_doubling(widths, nu, nu_se=np.array([0.05, 0.0])).reason  # a degenerate seed interval
    drift = drift_per_doubling(widths, nu, nu_se=np.array([0.05, 0.05]))
    assert drift.reason == "" and drift.slope == pytest.approx(0.2)
    # normal quantile on the propagated error: 1.645 * sqrt(2) * 0.05 per doubling
    assert drift.slope_hi - drift.slope == pytest.approx(1.6449 * np.sqrt(2) * 0.05, rel=1e-3)
