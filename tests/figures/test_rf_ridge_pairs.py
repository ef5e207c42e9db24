"""Fig 4 (figures/rf_ridge.py) draws for any activation/target pair, and names a pair that is not the
paper's in panel (a)'s title."""

from __future__ import annotations

import io

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hptransfer.figures.catalogue import CATALOGUE
from hptransfer.figures.rf_ridge import draw
from hptransfer.figures.style import figure_style
from hptransfer.synthetic.rf import rf_study

SMALL = {
    "psi2_curves": [4.0, 8.0, 16.0],
    "psi2_rates": [4.0, 8.0, 16.0, 32.0],
    "lam": [round(0.02 + 0.04 * i, 4) for i in range(25)],
    "slope_fit_min_psi2": 8.0,
    "asymptotic_psi2": [1024.0, 2048.0],
    "simulation": {"d": 20, "n_draws": 2, "psi2": [4.0], "lam": [0.1, 0.4], "seed": 0},
}
DEFAULTS = next(spec for spec in CATALOGUE if spec.figure_id == "fig04").defaults


@pytest.mark.parametrize(
    "pair",
    [
        {"activation": "erf", "target": "tanh"},
        {"activation": "relu", "target": "relu"},  # λ*(4) ≈ 10 λ*(∞): stars far apart
        {"activation": "linear", "target": "linear"},  # the degenerate pair μ2² = μ2*² = 0
        {},  # the paper's pair
    ],
)
def test_fig04_draws_for_any_pair(pair):
    with threadpool_limits(1):
        rf = rf_study({**SMALL, **pair})
    with figure_style():
        fig = draw({"rf": rf}, dict(DEFAULTS))
        fig.savefig(io.BytesIO(), format="png")
    risk = fig.get_axes()[0]
    named = f"{pair['activation']} features, {pair['target']} target" if pair else None
    assert (named in risk.get_title()) if named else ("features" not in risk.get_title())
    low, high = risk.get_ylim()
    shown = rf["excess_risk"].values[rf["in_curves"].values]
    assert low <= np.nanmin(shown) and np.nanmax(shown) <= high  # every curve inside the axes
