"""analyze_transfer / render_summary on synthetic sweeps (tests/sweeps.py) with planted optima and
rates."""

import json

import numpy as np
import pytest
import xarray as xr
from sweeps import make_sweep

from hptransfer.analysis import analyze_transfer, hp_value, render_summary

WIDTHS = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
NU = np.arange(-10.0, -4.4, 0.5)  # lr = 2^nu, sqrt(2) spacing


def loss_sweep(alpha=1.0, beta=0.8, sigma=1e-4, seeds=6, A=20.0, B=3.0, nu_inf=-7.2, L_inf=3.0, widths=WIDTHS, seed=0):
    """final_loss_ema = (nu - nu_inf - B n^-beta)^2 + A n^-alpha + L_inf + noise."""

    def law(n, lr):
        return (np.log2(lr) - nu_inf - B * n**-beta) ** 2 + A * n**-alpha + L_inf

    return make_sweep(law, widths=widths, grid=2.0**NU, seeds=seeds, noise=sigma, rng_seed=seed)


FAST_CFG = {"bootstrap": {"n": 200}}

DOCUMENTED = [
    "nu_star",
    "hp_star",
    "loss_star",
    "nu_star_lo",
    "nu_star_hi",
    "hp_star_lo",
    "hp_star_hi",
    "loss_star_lo",
    "loss_star_hi",
    "at_edge",
    "loss_transferred",
    "nu_transferred",
    "fit_opt_L_inf",
    "fit_opt_A",
    "fit_opt_alpha",
    "fit_opt_alpha_se",
    "fit_transfer_alpha",
    "fit_transfer_alpha_se",
    "lr_law_B",
    "lr_law_beta",
    "lr_law_D",
    "lr_law_beta_se",
    "a_n",
    "b_n",
    "c_n",
    "alpha",
    "alpha_lo",
    "alpha_hi",
    "beta",
    "beta_lo",
    "beta_hi",
    "verdict",
    "thm2_direct_exponent",
    "thm2_transfer_exponent",
    "thm2_better",
]


def test_transfer_dataset_has_documented_variables_with_attrs_and_round_trips(tmp_path):
    out = analyze_transfer(loss_sweep(), FAST_CFG)
    for name in DOCUMENTED:
        assert name in out, name
    for name, var in out.variables.items():
        assert "long_name" in var.attrs and "units" in var.attrs, name
    assert out.attrs["infinity"] == "n_max" and out.attrs["reference_width"] == 64
    assert json.loads(out.attrs["bootstrap"]) == {"level": 0.9, "n": 200, "seed": 0}
    assert "cubic spline" in out.attrs["interpolant"]
    path = tmp_path / "transfer.nc"
    out.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back = back.load()
    xr.testing.assert_allclose(
        back.drop_vars(["verdict", "verdict_explanation", "thm2_better", "fit_notes"]),
        out.drop_vars(["verdict", "verdict_explanation", "thm2_better", "fit_notes"]),
    )
    assert str(back["verdict"].values) == str(out["verdict"].values)
    assert back["at_edge"].dtype == bool


def test_planted_optima_rates_and_fast_verdict():
    out = analyze_transfer(loss_sweep(alpha=1.0, beta=0.8), FAST_CFG)
    n = np.asarray(WIDTHS, dtype=float)
    planted = -7.2 + 3.0 * n**-0.8
    np.testing.assert_allclose(out["nu_star"], planted, atol=2e-3)
    np.testing.assert_allclose(out["hp_star"], hp_value("lr", planted), rtol=2e-3)
    np.testing.assert_allclose(out["loss_star"], 20 * n**-1.0 + 3.0, atol=1e-4)
    assert np.all(out["nu_star_lo"] <= out["nu_star"])
    assert np.all(out["nu_star"] <= out["nu_star_hi"])
    assert float(out["alpha"]) == pytest.approx(1.0, abs=0.05)
    assert float(out["beta"]) == pytest.approx(0.8, abs=0.1)
    assert str(out["verdict"].values) == "fast"
    assert str(out["thm2_better"].values) == "transfer"
    assert float(out["lr_law_beta"]) == pytest.approx(0.8, abs=0.1)
    assert float(out["lr_law_D"]) == pytest.approx(-7.2, abs=0.01)
    assert float(out["fit_opt_alpha"]) == pytest.approx(1.0, abs=0.02)
    assert float(out["fit_opt_L_inf"]) == pytest.approx(3.0, abs=1e-3)


@pytest.mark.parametrize("infinity", ["n_max", "fit"])
def test_planted_weak_transfer_is_called_weak(infinity):
    out = analyze_transfer(loss_sweep(alpha=1.0, beta=0.5), {**FAST_CFG, "infinity": infinity})
    assert float(out["beta"]) == pytest.approx(0.5, abs=0.03)
    assert float(out["margin_lo"]) <= 0 <= float(out["margin_hi"])
    assert str(out["verdict"].values) == "weak"
    assert out.attrs["infinity"] == infinity


def test_transferred_loss_follows_the_reference_optimum():
    out = analyze_transfer(loss_sweep(sigma=0.0), {**FAST_CFG, "reference_width": 128})
    nu_ref = -7.2 + 3.0 * 128**-0.8
    assert float(out["nu_transferred"]) == pytest.approx(nu_ref, abs=1e-9)
    n = np.asarray(WIDTHS, dtype=float)
    expected = (nu_ref + 7.2 - 3.0 * n**-0.8) ** 2 + 20 * n**-1.0 + 3.0
    np.testing.assert_allclose(out["loss_transferred"], expected, atol=1e-9)
    assert float(out["loss_transferred"].sel(width=128)) == pytest.approx(float(out["loss_star"].sel(width=128)))
    # transferring costs loss (c_n-like) at every other width
    assert np.all((out["loss_transferred"] >= out["loss_star"] - 1e-12).values)


def test_edge_optimum_is_flagged_and_excluded_from_fits():
    sweep = loss_sweep(B=12.0, beta=0.5)  # nu*(64) = -5.7 ... far right for small widths
    sweep = sweep.isel(lr=slice(0, 9))  # grid ends at -6.0: small widths' optima fall off it
    out = analyze_transfer(sweep, FAST_CFG)
    edge = out["at_edge"].values
    assert edge[0] and not edge[-1]
    assert not out["used_in_fit"].values[edge].any()
    assert np.all(np.isnan(out["b_n"].values[edge]))
    assert float(out["nu_star"][0]) == pytest.approx(NU[8])


def test_diverged_runs_count_as_infinite_loss():
    sweep = loss_sweep()
    loss = sweep["final_loss_ema"].values
    loss[:, -3:, :] = np.nan  # the three largest learning rates diverge at every width
    loss[2, 5, 0] = np.nan  # one seed diverges at width 256 at its best lr (nu = -7.5)
    out = analyze_transfer(sweep, FAST_CFG)
    assert int(out["grid_index"].sel(width=256)) != 5
    assert int(out["n_diverged"].sel(width=256, lr=2.0**-7.5)) == 1
    assert np.isnan(out["loss_mean"].sel(width=256, lr=2.0**-7.5))
    assert np.all(np.isfinite(out["nu_star"]))
    assert np.all(out["nu_star"] < NU[-3])


def test_param_dimension_is_analysed_separately_and_stacked():
    fast, weak = loss_sweep(beta=0.8), loss_sweep(beta=0.5)
    sweep = xr.concat([fast, weak], dim="param").assign_coords(param=["mup", "sp"])
    out = analyze_transfer(sweep, FAST_CFG)
    assert out["nu_star"].dims == ("param", "width")
    assert out["verdict"].values.tolist() == ["fast", "weak"]
    solo = analyze_transfer(weak, FAST_CFG)
    np.testing.assert_allclose(out["nu_star"].sel(param="sp"), solo["nu_star"])


def test_bad_config_is_rejected_with_the_key_named():
    with pytest.raises(ValueError, match="infinity"):
        analyze_transfer(loss_sweep(), {"infinity": "largest"})
    with pytest.raises(ValueError, match="reference_width"):
        analyze_transfer(loss_sweep(), {"reference_width": 100})
    with pytest.raises(ValueError, match="level"):
        analyze_transfer(loss_sweep(), {"bootstrap": {"level": 1.5}})


def test_beta_sweep_uses_the_effective_window_coordinate():
    beta2 = np.array([0.9, 0.95, 0.975, 0.9875, 0.99375, 0.996875])  # windows 10 .. 320

    def law(n, beta):  # optimum at the window 2^6.1 at both widths, lower loss at 128
        return (-np.log2(1 - beta) - 6.1) ** 2 + np.where(n == 64, 1.0, 0.9)

    sweep = make_sweep(law, widths=(64, 128), grid=beta2, seeds=3, hp="beta2")
    out = analyze_transfer(sweep, FAST_CFG)
    np.testing.assert_allclose(out["nu_star"], 6.1, atol=1e-9)
    np.testing.assert_allclose(out["hp_star"], 1 - 2.0**-6.1, atol=1e-12)
    assert str(out["verdict"].values) == "inconclusive"  # two widths cannot give rates
    # nor can Theorem 2's comparison be made, and the summary says why instead of printing "F^-n/a"
    text = render_summary(out, None)
    assert "- Theorem 2: not evaluated (its error exponents need both alpha and beta)" in text
    assert "n/a" not in text.split("### Rates and verdict")[1]


def test_summary_reports_optima_rates_verdict_and_kappa():
    from hptransfer.analysis import analyze_kappa

    transfer = analyze_transfer(loss_sweep(), FAST_CFG)
    nu = np.arange(8) * 0.5
    phi = np.stack([np.cumsum(-np.ones((8, 16)) * (1 + 0.1 * (nu[:, None] - 1.5) ** 2), axis=1) for _ in range(2)])
    phi[0, :, 8:] = np.nan
    kappa_sweep = make_sweep(
        widths=(8, 16), grid=2.0**nu, seeds=1, variables={"phi_k": (("width", "lr", "seed", "k"), phi[:, :, None, :])}
    )
    kappa = analyze_kappa(kappa_sweep, {})
    text = render_summary(transfer, kappa)
    assert "| 64 |" in text and "| 8192 |" in text
    assert "verdict: fast" in text and "alpha =" in text and "beta =" in text
    assert "by transfer: transfer from the point estimates, decided (90% interval of beta - alpha/2 [" in text
    assert "kappa-hat" in text and "| 8 |" in text
    assert render_summary(transfer, None).count("kappa-hat") == 0


def test_theorem2_line_counts_margins_as_zero_where_the_verdict_does():
    from hptransfer.analysis.rates import MARGIN_ATOL
    from hptransfer.analysis.summary import theorem2_significance

    def line(lo, hi):
        return theorem2_significance(xr.Dataset({"margin_lo": lo, "margin_hi": hi}), "90%")

    assert line(0.5 * MARGIN_ATOL, 0.4).startswith("undecided")  # the verdict calls it "not above 0" too
    assert line(2 * MARGIN_ATOL, 0.4).startswith("decided")
    assert line(-0.4, -2 * MARGIN_ATOL).startswith("decided")
    assert line(-0.4, -0.5 * MARGIN_ATOL).startswith("undecided")
