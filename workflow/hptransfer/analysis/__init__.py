"""Transfer analysis: optima per width, scaling fits, rates, verdict, Algorithm 1.

Pure numpy/scipy/xarray (no torch), so it runs in the light analysis environment.
"""

from .coords import coordinate_name, hp_coordinate, hp_value, map_over_param
from .fits import fit_lr_law, fit_power, fit_scaling
from .kappa import (
    DEFAULT_TAUS,
    KappaResult,
    analyze_kappa,
    conv_err,
    j_proxy,
    kappa_config,
    lipschitz,
    minimize_proxy,
    run_algorithm1,
    second_derivative,
    select_kappa,
    tau_pairs,
)
from .optimum import (
    Interpolant,
    Optimum,
    bootstrap_optimum,
    find_optimum,
    fit_interpolant,
    loss_at,
    seed_mean,
)
from .rates import Verdict, convergent_quantities, estimate_rates, theorem2, verdict
from .summary import render_summary
from .transfer import analyze_transfer, resolve_config

__all__ = [
    "DEFAULT_TAUS",
    "Interpolant",
    "KappaResult",
    "Optimum",
    "Verdict",
    "analyze_kappa",
    "analyze_transfer",
    "bootstrap_optimum",
    "conv_err",
    "convergent_quantities",
    "coordinate_name",
    "estimate_rates",
    "find_optimum",
    "fit_interpolant",
    "fit_lr_law",
    "fit_power",
    "fit_scaling",
    "hp_coordinate",
    "hp_value",
    "j_proxy",
    "kappa_config",
    "lipschitz",
    "loss_at",
    "map_over_param",
    "minimize_proxy",
    "render_summary",
    "resolve_config",
    "run_algorithm1",
    "second_derivative",
    "seed_mean",
    "select_kappa",
    "tau_pairs",
    "theorem2",
    "verdict",
]
