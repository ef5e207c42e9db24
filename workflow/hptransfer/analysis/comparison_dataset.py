"""comparison.nc: the :class:`~hptransfer.analysis.comparison.Comparison` of a study's schemes as a
self-describing dataset (dims ``param`` x ``width``; every variable has long_name and units, and
the metric definitions are in the attrs).

Packing only: the numbers come from :func:`~hptransfer.analysis.comparison.compare_schemes`; the
one conversion done here is from the analysis coordinate nu back to hp values.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..io import describe, in_sweep_units, metric_units
from .comparison import Comparison, ExponentFit, compare_schemes
from .coords import coordinate_name, hp_value
from .transfer import INTERPOLANT

__all__ = ["DEFINITIONS", "analyze_comparison", "comparison_dataset"]

DEFINITIONS = {
    "transfer_error": (
        "phi_n(nu*(n_ref)) - phi_n(nu*(n)): loss at width n read from its interpolant at the "
        "hyperparameter tuned at the reference width n_ref, minus width n's own optimal loss from "
        "the same interpolant (seed mean, diverged runs counted as +inf; +inf: the transferred value "
        "diverges at width n; NaN: it falls between a finite and a diverged grid point)"
    ),
    "transfer_error_interval": (
        "parametric bootstrap: replicate studies whose seed means are redrawn with the pooled seed "
        "noise near each optimum, each recomputing the reference optimum, the reading at the "
        "transferred value and width n's optimum; replicates whose reading is undefined (NaN) are "
        "left out"
    ),
    "stability_grid": "fraction of runs (grid points x seeds) at width n that did not diverge",
    "stability_transferred": (
        "fraction of seeds at width n that did not diverge at the grid point nearest (in nu) to the "
        "transferred value nu*(n_ref)"
    ),
    "diverged": "a run counts as diverged if its diverged flag is set or its metric is not finite",
    "lr_exponent": (
        "x in nu*(n) = c - x log2(n) (for lr: eta*(n) ~ n^-x), least squares over the widths whose "
        "optimum is finite and not at a grid edge; se from the residuals, Student-t interval, and a "
        "percentile interval over the same replicate studies"
    ),
    "lr_exponent_effective": (
        "the same fit for the hidden-layer learning rate the scheme applies at the optimum (swept "
        "base LR x (n/base_width)^-e_hidden x (depth/base_depth)^-depth_lr): comparable with the "
        "source's eta* ~ w^-0.85; equal to lr_exponent for SP"
    ),
    "transfer_error_diff": (
        "difference candidate - baseline of the transfer errors at each width (negative: the "
        "candidate transfers better), percentile interval over the same replicate studies (the "
        "schemes' noise drawn independently)"
    ),
    "decision": (
        "a width decides for a scheme when the interval of the difference excludes 0 and no "
        "edge optimum is involved (either scheme at width n or at the reference width)"
    ),
}

_PW, _P, _W = ("param", "width"), ("param",), ("width",)


def _var(dims, values, long_name: str, units: str):
    """One dataset variable as (dims, data, attrs): every variable carries long_name and units."""
    return (dims, np.asarray(values), {"long_name": long_name, "units": units})


def _fit_variables(prefix: str, fits: list[ExponentFit], what: str, pct: str) -> dict:
    """The per-scheme exponent fits of ``what`` ~ n^-x as variables ``<prefix>[_se, _lo, ...]``."""
    return {
        prefix: _var(_P, [f.exponent for f in fits], f"exponent x of {what} ~ n^-x", "1"),
        f"{prefix}_se": _var(_P, [f.se for f in fits], f"standard error of x ({what})", "1"),
        f"{prefix}_lo": _var(_P, [f.lo for f in fits], f"lower {pct} Student-t bound of x ({what})", "1"),
        f"{prefix}_hi": _var(_P, [f.hi for f in fits], f"upper {pct} Student-t bound of x ({what})", "1"),
        f"{prefix}_intercept": _var(
            _P, [f.intercept for f in fits], f"intercept c of log2({what}) = c - x log2 n", "log2"
        ),
        f"{prefix}_n_points": _var(_P, [f.n_points for f in fits], "widths used by the fit", "1"),
    }


def _optimum_variables(r: Comparison, bound: str) -> dict:
    """Each scheme's own optimum per width, in nu and in hp units, with its interval."""
    x, est = r.inputs, r.transfer
    hp, nu_units = x.hp, coordinate_name(x.hp)
    factors = r.exponents.lr_factors
    effective = hp_value(hp, est.nu_star) * factors if factors is not None else np.full(est.nu_star.shape, np.nan)
    return {
        "nu_star": _var(_PW, est.nu_star, "optimal hp coordinate nu*(n) (spline minimiser)", nu_units),
        "nu_star_lo": _var(_PW, est.nu_star_lo, f"lower {bound} nu*(n)", nu_units),
        "nu_star_hi": _var(_PW, est.nu_star_hi, f"upper {bound} nu*(n)", nu_units),
        "hp_star": _var(_PW, hp_value(hp, est.nu_star), f"optimal {hp}", hp),
        "hp_star_lo": _var(_PW, hp_value(hp, est.nu_star_lo), f"lower {bound} optimal {hp}", hp),
        "hp_star_hi": _var(_PW, hp_value(hp, est.nu_star_hi), f"upper {bound} optimal {hp}", hp),
        "hp_star_effective": _var(
            _PW, effective, "hidden-layer LR the scheme applies at the optimum (NaN: not an LR sweep or no table)", hp
        ),
        "loss_star": _var(_PW, est.loss_star, "optimal loss phi*_n (spline minimum)", "loss"),
        "at_edge": _var(
            _PW, est.at_edge, "discrete optimum not bracketed (a grid end, or a neighbour over a grid step away)", "1"
        ),
        "used_in_lr_fit": _var(_PW, r.exponents.used, "width used by the exponent fits", "1"),
    }


def _transfer_variables(r: Comparison, bound: str) -> dict:
    """The transferred value, the loss there, the transfer error and the stability."""
    x, est, stab = r.inputs, r.transfer, r.stability
    hp, ref_width, nu_units = x.hp, x.reference_width, coordinate_name(x.hp)
    near = stab.nearest_grid_index
    nearest_grid_value = np.where(near >= 0, x.grid[np.clip(near, 0, None)], np.nan)
    return {
        "nu_transferred": _var(_P, est.nu_transferred, f"transferred hp coordinate nu*({ref_width})", nu_units),
        "hp_transferred": _var(_P, hp_value(hp, est.nu_transferred), f"transferred {hp} ({hp}*({ref_width}))", hp),
        "hp_transferred_grid": _var(
            _P,
            nearest_grid_value,
            "grid value nearest to the transferred one (where stability_transferred is measured)",
            hp,
        ),
        "loss_transferred": _var(
            _PW, est.loss_transferred, f"loss at the transferred nu*({ref_width}) (spline; +inf diverged)", "loss"
        ),
        "transfer_error": _var(_PW, est.transfer_error, DEFINITIONS["transfer_error"], "loss"),
        "transfer_error_lo": _var(_PW, r.transfer_error_lo, f"lower {bound} the transfer error", "loss"),
        "transfer_error_hi": _var(_PW, r.transfer_error_hi, f"upper {bound} the transfer error", "loss"),
        "transferred_near_divergence": _var(
            _PW,
            est.near_divergence,
            "the transferred value lies "
            "at, or in a grid interval next to, a grid point where "
            "some seed diverged (transfer error +inf or NaN)",
            "1",
        ),
        "stability_grid": _var(_PW, stab.over_grid, DEFINITIONS["stability_grid"], "1"),
        "stability_transferred": _var(_PW, stab.at_transferred, DEFINITIONS["stability_transferred"], "1"),
    }


def _exponent_variables(r: Comparison, pct: str) -> dict:
    exps, hp = r.exponents, r.inputs.hp
    return {
        **_fit_variables("lr_exponent", exps.swept, f"optimal {hp}", pct),
        "lr_exponent_boot_lo": _var(_P, exps.bootstrap_lo, f"lower {pct} bootstrap bound of x", "1"),
        "lr_exponent_boot_hi": _var(_P, exps.bootstrap_hi, f"upper {pct} bootstrap bound of x", "1"),
        **_fit_variables("lr_exponent_effective", exps.effective, "hidden-layer LR at the optimum", pct),
    }


def _contrast_variables(r: Comparison, pct: str) -> dict:
    c = r.contrast
    cand, base = c.candidate, c.baseline
    return {
        "transfer_error_diff": _var(_W, c.difference, f"transfer error {cand} - {base}", "loss"),
        "transfer_error_diff_lo": _var(_W, c.difference_lo, f"lower {pct} bootstrap bound of the difference", "loss"),
        "transfer_error_diff_hi": _var(_W, c.difference_hi, f"upper {pct} bootstrap bound of the difference", "loss"),
        "decision": _var(_W, np.array(c.decisions, dtype=object), DEFINITIONS["decision"], ""),
        "verdict": _var(
            (),
            c.verdict,
            f"{cand} vs {base}: {cand} better | {base} better | ... at "
            "some widths | mixed | cannot separate | not applicable",
            "",
        ),
        "verdict_explanation": _var(
            (), c.explanation, "the verdict with the per-width intervals of the difference", ""
        ),
    }


def _coordinates(r: Comparison) -> dict:
    x = r.inputs
    coords = {
        "param": _var("param", np.array(x.params, dtype=object), "parametrization (scheme)", ""),
        "width": _var("width", x.widths, "width n", "1"),
    }
    if "depth" in x.sweep.coords:
        coords["depth"] = _var("width", x.sweep["depth"].values.astype(np.int64), "depth at width n", "1")
    return coords


def _attributes(r: Comparison) -> dict:
    x = r.inputs
    return dict(
        study=x.sweep.attrs.get("study", ""),
        hp=x.hp,
        metric=x.metric,
        coordinate=coordinate_name(x.hp),
        reference_width=int(x.reference_width),
        interval_level=x.level,
        n_seeds=int(x.n_seeds),
        bootstrap=json.dumps(x.bootstrap, sort_keys=True),
        interpolant=INTERPOLANT,
        contrast=json.dumps(list(x.contrast)),
        depth_rule=x.depth_rule,
        depth_model=x.depth_text,
        definitions=json.dumps(DEFINITIONS, sort_keys=True),
        **{f"definition_{k}": v for k, v in DEFINITIONS.items()},
        edge_policy="widths with an edge optimum are excluded from the exponent fits and cannot decide the contrast",
    )


def comparison_dataset(r: Comparison) -> xr.Dataset:
    """The comparison as comparison.nc (the variable order is the file's)."""
    pct = f"{100 * r.inputs.level:g}%"
    bound = f"{pct} bootstrap bound of"
    variables = {
        **_optimum_variables(r, bound),
        **_transfer_variables(r, bound),
        **_exponent_variables(r, pct),
        **_contrast_variables(r, pct),
    }
    ds = xr.Dataset(variables, coords=_coordinates(r))
    ds.attrs.update(_attributes(r))
    return describe(ds)


def analyze_comparison(sweep: xr.Dataset, cfg: dict | None = None) -> xr.Dataset:
    """comparison.nc from the sweep of a comparison study: :func:`compare_schemes`, packed.

    ``cfg``: the study's analysis block (``reference_width``, ``bootstrap`` {n, level, seed}, as
    for :func:`~hptransfer.analysis.analyze_transfer`), plus optionally ``tables`` {param: table}
    (the parametrization tables, for the effective hidden-layer LR exponent) and ``contrast``
    [candidate, baseline] (default adaptive, mup).
    """
    return in_sweep_units(comparison_dataset(compare_schemes(sweep, cfg)), metric_units(sweep), sweep.attrs["hp"])
