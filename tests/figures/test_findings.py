"""What a caption says about the run (hptransfer.figures.findings and the drawers' ``findings``): each
statement is decided by the data, so it is tested on planted datasets where the claim holds and
where it fails, and the caption must say each time what the data show."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sweeps import make_sweep

from hptransfer.analysis import analyze_transfer
from hptransfer.figures import findings as F
from hptransfer.figures import layerwise_lr_sweeps, linearization, rf_ridge, topk_vs_step

BOOTSTRAP = {"bootstrap": {"n": 40, "level": 0.9, "seed": 0}}
WIDTHS = (16, 32, 64, 128)
GRID = 2.0 ** np.arange(-11.0, -4.9, 0.5)


def bowl(where):
    """A loss bowl in log2(lr) whose minimum sits at ``where(n)``."""
    return lambda n, lr: 3.0 + 0.2 * (np.log2(lr) - where(n)) ** 2


def transfer_of(law, grid=GRID, noise=1e-3, seeds=3):
    return analyze_transfer(make_sweep(law, widths=WIDTHS, grid=grid, seeds=seeds, noise=noise), BOOTSTRAP)


# ---------------------------------------------------------------------------- optimum movement


def test_a_moving_optimum_is_called_moved_and_a_fixed_one_not():
    moving = transfer_of(bowl(lambda n: -6.0 - 1.0 * np.log2(n / 16)))  # 3 octaves from 16 to 128
    text = F.optimum_movement(moving)
    assert "do not overlap: the optimum moved to smaller lr" in text
    assert "a move of 6.0 grid steps" in text  # 3 octaves on a half-octave grid

    fixed = transfer_of(bowl(lambda n: -8.0 + 0 * n))
    text = F.optimum_movement(fixed)
    assert "overlap: no move is resolved" in text and "moved" not in text


def test_edge_optima_are_named_with_their_end_of_the_grid():
    inside = transfer_of(bowl(lambda n: -8.0 + 0 * n))
    assert F.edge_optima(inside) == "every width's optimum of lr lies inside the grid"
    beyond = transfer_of(bowl(lambda n: -4.0 + 0 * n))  # above the grid's largest value
    text = F.edge_optima(beyond)
    assert "optimum at a grid edge" in text and "16 (upper end)" in text and "128 (upper end)" in text


def test_transfer_cost_grows_with_the_movement():
    moving = F.transfer_cost(transfer_of(bowl(lambda n: -6.0 - 1.0 * np.log2(n / 16))))
    fixed = F.transfer_cost(transfer_of(bowl(lambda n: -8.0 + 0 * n)))
    cost = [float(t.split("costs at most ")[1].split(" ")[0]) for t in (moving, fixed)]
    assert "at width 128" in moving and cost[0] > 1.0 > 100 * cost[1]


def test_two_basins_are_reported_only_where_the_curve_has_two_minima():
    def two_basins(n, lr):
        nu = np.log2(lr)
        second = np.where(n >= 64, 0.0, 5.0)  # a second, deeper basin at large widths
        return 3.0 + np.minimum(0.3 * (nu + 9.5) ** 2, 0.3 * (nu + 6.0) ** 2 + second - 0.1)

    t = transfer_of(two_basins)
    assert F.local_minima(t) == [64, 128]
    assert "two basins) at width 64, 128" in F.bimodality(t)
    assert F.bimodality(transfer_of(bowl(lambda n: -8.0 + 0 * n))).startswith("every width's seed-mean loss curve")


def test_layerwise_findings_compare_the_two_panels_both_ways():
    stable = transfer_of(bowl(lambda n: -8.0 + 0 * n))
    drifting = transfer_of(bowl(lambda n: -6.0 - 1.0 * np.log2(n / 16)))
    plain = drifting.assign_attrs(study="plain")
    lines = layerwise_lr_sweeps.findings({"plain_transfer": plain, "transfer": stable}, {})
    assert "optimum spread over the widths: (b) narrower than (a)" in lines
    lines = layerwise_lr_sweeps.findings({"plain_transfer": stable, "transfer": drifting}, {})
    assert "optimum spread over the widths: (b) wider than (a)" in lines


# ------------------------------------------------------------------------- linearisation gap


def lin_sweep(gap_at: dict[tuple[int, float], float], widths=(16, 32), grid=(0.004, 0.016, 0.064), seeds=2):
    """A sweep with EMA and linearised loss curves: the EMA loss falls from 5 to 4; the linearised
    one ends at 5 − (1 + g), g = 0.01 unless ``gap_at`` plants another (over-prediction)."""
    steps = np.arange(5)
    W, G, S = len(widths), len(grid), seeds
    ema = np.broadcast_to(np.linspace(5.0, 4.0, steps.size), (W, G, S, steps.size)).copy()
    gap = np.full((W, G, S), 0.01)
    for (w, v), g in gap_at.items():
        gap[widths.index(w), grid.index(v)] = g
    lin = 5.0 - (1.0 + gap[..., None]) * np.linspace(0.0, 1.0, steps.size)
    dims = ("width", "lr", "seed", "eval_step")
    return make_sweep(
        ema[..., -1],
        widths=widths,
        grid=grid,
        seeds=seeds,
        variables={
            "loss_val_ema": (dims, ema),
            "loss_val_iterate": (dims, ema + 0.05),
            "loss_linearized": (dims, lin),
            "linearization_gap": (dims[:-1], gap),
        },
        coords={"eval_step": steps},
    )


def test_the_linearisation_gap_is_reported_where_it_exceeds_5_percent_and_only_there():
    sweep = lin_sweep({(16, 0.064): 0.23})
    lines = linearization.findings({"sweep": sweep}, {"lr": 0.064, "width": 16})
    text = "\n".join(lines)
    assert (
        "the run drawn (width 16, lr = 0.064, seed 0): the linearised loss over-predicts the EMA loss change by 23%"
        in text
    )
    assert "largest seed mean 23% at width 16, lr 0.064" in text
    assert "seed mean above 5%: width 16 at lr 0.064 (23%)" in text
    assert "over-predicts the EMA loss change in all 12 runs" in text

    small = "\n".join(linearization.findings({"sweep": lin_sweep({})}, {}))
    assert "at or below 5% at every width and lr" in small and "above 5%" not in small
    assert "tracks" not in small + text  # no qualitative claim the numbers do not decide


def test_an_under_predicting_linearisation_is_called_so():
    sweep = lin_sweep({(32, 0.016): -0.3})
    sweep["linearization_gap"] = np.abs(sweep["linearization_gap"])
    text = "\n".join(linearization.findings({"sweep": sweep}, {"lr": 0.016, "width": 32}))
    assert "under-predicts the EMA loss change by 30%" in text
    assert "over-predicts the EMA loss change in 10 runs and under-predicts it in 2" in text


# --------------------------------------------------------------------------- top-k vs step


def topk_runs(residual_growth: float) -> xr.Dataset:
    """One run per width: top-4 change −1 at every width, residual −0.1 · (1 + growth · i)."""
    steps = np.arange(4)
    widths = (16, 32, 64)
    frac = np.linspace(0, 1, steps.size)
    top = np.array([[-1.0 * frac for _ in widths]])[0]
    resid = np.array([-0.1 * (1 + residual_growth * i) * frac for i in range(len(widths))])
    lin = 5.0 + top + resid
    return xr.Dataset(
        {
            "phi_topk": (("width", "eval_step", "topk"), top[..., None]),
            "loss_linearized": (("width", "eval_step"), lin),
        },
        coords={"width": list(widths), "eval_step": steps, "topk": [4]},
    )


@pytest.mark.parametrize("growth, claim", [(1.0, "the residual's size grows with width"), (-0.3, "does not grow")])
def test_the_residual_is_said_to_grow_only_where_it_does(growth, claim):
    lines = F.topk_and_residual(topk_runs(growth), 4)
    assert any(claim in line for line in lines)
    assert "the top-4 change differs across widths by 0% of its mean size" in lines


def test_fig01_findings_name_the_run_drawn():
    runs = topk_runs(1.0).expand_dims(lr=[0.01], seed=[0]).transpose("width", "lr", "seed", ...)
    sweep = runs.assign(final_loss_ema=runs["loss_linearized"].isel(eval_step=-1)).assign_attrs(hp="lr")
    assert topk_vs_step.findings({"sweep": sweep}, {})[0] == "drawn: lr = 0.01, k = 4, seed 0"


# ------------------------------------------------------------------- decomposition: residuals


def kappa_ds(residual_slope: float) -> xr.Dataset:
    """kappa.nc-like: top-κ bowl with its minimum at grid index 3, the residual a line of the given
    slope per grid step (steep enough moves the total's minimum)."""
    grid = 2.0 ** np.arange(-10.0, -3.0)
    idx = np.arange(grid.size)
    top = -2.0 + 0.1 * (idx - 3) ** 2
    resid = -0.5 + residual_slope * idx
    widths = [16, 32]
    rows = lambda a: np.tile(a, (len(widths), 1))  # noqa: E731
    return xr.Dataset(
        {
            "phi_n_kappa": (("width", "lr"), rows(top)),
            "phi_max_kappa": (("width", "lr"), rows(top)),
            "residual_n": (("width", "lr"), rows(resid)),
            "phi_n": (("width", "lr"), rows(top + resid)),
            "kappa": (("width", "lr"), np.full((2, grid.size), 5)),
            "failed": (("width",), [False, False]),
        },
        coords={"width": widths, "lr": grid},
        attrs={"hp": "lr", "n_max": 64, "study": "toy"},
    )


def test_a_flat_residual_is_called_flat_and_a_steep_one_is_not():
    flat = F.residual_effect(kappa_ds(0.005))
    assert "leaves the discrete minimiser where it is at every width" in flat[0]
    assert flat[1].endswith("flat: at most 25% of it at every width")
    steep = F.residual_effect(kappa_ds(-0.35))
    assert "moves the discrete minimiser at width 16 (by 2 grid steps), 32 (by 2 grid steps)" in steep[0]
    assert "not flat everywhere" in steep[1]


def test_topk_minimisers_agree_or_not():
    ds = kappa_ds(0.0)
    lines = F.topk_minimisers(ds)
    assert "they span the same grid point" in lines[0]
    assert "at the same grid point at 2 of 2 widths" in lines[1]
    moved = ds.copy(deep=True)
    moved["phi_n_kappa"][1] = np.roll(moved["phi_n_kappa"].values[1], 2)
    lines = F.topk_minimisers(moved)
    assert "they span 2 grid steps" in lines[0] and "at 1 of 2 widths" in lines[1]


def test_profile_agreement_says_up_to_which_k():
    k = np.arange(1, 65)
    ref = -np.cumsum(k**-1.0)
    close = ref * np.where(k <= 8, 1.0, 1.5)  # follows n_max up to k = 8, then departs
    phi = xr.DataArray(
        np.stack([close, ref])[:, None, None, :],
        dims=("width", "lr", "seed", "k"),
        coords={"width": [16, 64], "lr": [0.01], "seed": [0], "k": k},
    )
    kappa = xr.Dataset(
        {"kappa": (("width", "lr"), [[8]])}, coords={"width": [16], "lr": [0.01]}, attrs={"hp": "lr", "n_max": 64}
    )
    assert "n = 16: k ≤ 8 (κ̂ = 8)" in F.profile_agreement(phi, kappa, 0.01)
    phi2 = phi.copy()
    phi2[0] = ref * 2
    assert "n = 16: not even at k = 1" in F.profile_agreement(phi2, kappa, 0.01)


# ---------------------------------------------------------------------- random features, others


def rf_attrs(a, b, c) -> xr.Dataset:
    attrs = {f"slope_{g}": s for g, s in zip("abc", (a, b, c))}
    attrs |= {f"predicted_slope_{g}": p for g, p in zip("abc", (-1.0, -1.0, -2.0))}
    attrs |= {f"asymptotic_slope_{g}": p for g, p in zip("abc", (-1.0, -1.0, -2.0))}
    return xr.Dataset(attrs=attrs | {"slope_fit_psi2": "[16.0, 32.0]"})


def test_rf_orderings_follow_the_slopes():
    fast = rf_ridge.findings({"rf": rf_attrs(-1.0, -0.9, -1.9)}, {})
    assert "c_n decays faster than a_n" in fast[1] and "fast transfer of the ridge penalty" in fast[2]
    slow = rf_ridge.findings({"rf": rf_attrs(-1.0, -0.3, -0.8)}, {})
    assert "c_n decays no faster than a_n" in slow[1] and "no fast transfer" in slow[2]
    unfitted = rf_ridge.findings({"rf": rf_attrs(np.nan, np.nan, np.nan)}, {})
    assert "no slope fitted" in unfitted[0] and "asymptotic_slope" in unfitted[1]


def test_coordinate_check_slopes_are_called_flat_only_when_they_are():
    slopes = np.zeros((2, 2, 3))
    slopes[1] = 1.1  # sp: the updates grow with width
    ds = xr.Dataset(
        {"change_slope": (("parametrization", "step", "layer"), slopes)},
        coords={"parametrization": ["mup", "sp"], "step": [1, 2], "layer": ["emb", "block0.attn", "logits"]},
    )
    mup, sp = F.slope_ranges(ds)
    assert mup.startswith("mup:") and "width-independent" in mup
    assert sp.startswith("sp:") and "not all near 0" in sp


def test_overlap_is_compared_with_chance():
    v = np.array([[[1.0, 0.5], [0.5, 1.0]]])
    sw = xr.Dataset(
        {"overlap_hard": (("lr", "width_a", "width_b"), v), "overlap_easy": (("lr", "width_a", "width_b"), v / 10)},
        coords={"lr": [0.1]},
        attrs={"overlap_size": 10, "n_samples": 100, "hp": "lr"},
    )
    text = F.overlap_level(sw, 0.1)
    assert "hardest 0.50 (above chance)" in text and "easiest 0.05 (not above chance)" in text
