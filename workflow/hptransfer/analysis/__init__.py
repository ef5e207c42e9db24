"""Transfer analysis: optima per width, scaling fits, rates, verdict, Algorithm 1, and the
comparison of parametrization schemes.

Pure numpy/scipy/xarray (no torch), so it runs in the light analysis environment.
"""

from .advice import advise
from .comparison import compare_schemes
from .comparison_dataset import analyze_comparison
from .comparison_summary import comparison_table, render_comparison_summary
from .coords import coordinate_name, hp_coordinate, hp_value, map_over_param
from .fits import fit_lr_law, fit_power, fit_scaling
from .kappa import (
    DEFAULT_TAUS,
    KappaResult,
    ProxyObjective,
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
    Optima,
    Optimum,
    bootstrap_optimum,
    find_optima,
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
    "Optima",
    "Optimum",
    "ProxyObjective",
    "Verdict",
    "advise",
    "analyze_comparison",
    "analyze_kappa",
    "analyze_transfer",
    "bootstrap_optimum",
    "compare_schemes",
    "comparison_table",
    "conv_err",
    "convergent_quantities",
    "coordinate_name",
    "estimate_rates",
    "find_optima",
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
    "render_comparison_summary",
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
