"""sweep.nc -> transfer.nc: optima per width, transfer losses, scaling fits, rates and verdict.

Pipeline for one parametrization (paper.md §1, §5 intro, §7):

1. seed means of the metric per (width, hp), diverged runs counted as +inf
   (:func:`~hptransfer.analysis.optimum.seed_mean`);
2. per width, the optimum nu*(n) of the cubic-spline interpolant in nu with a parametric bootstrap
   interval (seed means redrawn with the pooled seed noise), and an edge flag (:mod:`~hptransfer.analysis.optimum`);
3. the transferred loss: each width's interpolant read at the reference width's optimum
   (default the smallest width, as the paper's nu*(128));
4. scaling fits L(n) = L_inf + A n^-alpha along nu*(n) and along the transferred nu, and the LR law
   nu*(n) = -B n^-beta + D (:mod:`~hptransfer.analysis.fits`);
5. a_n, b_n, c_n, alpha, beta with intervals and the fast/weak verdict, and the Theorem 2
   exponents (:mod:`~hptransfer.analysis.rates`).

Widths whose optimum is at the grid edge (or undefined) are not used for the fits along nu*(n) nor
for the rates, since their nu*(n) is only a bound (``used_in_fit`` records this).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import xarray as xr
from scipy import stats

from ..config import defaults
from ..io import describe, in_sweep_units, metric_units
from .coords import coordinate_name, hp_coordinate, hp_value, map_over_param
from .fits import fit_lr_law, fit_scaling
from .optimum import INTERVAL_METHOD, bootstrap_optimum, find_optimum, fit_interpolant, seed_mean
from .rates import INFINITY_CHOICES, estimate_rates, theorem2

__all__ = ["DEFAULTS", "analyze_transfer", "resolve_config"]

log = logging.getLogger(__name__)

DEFAULTS = defaults.TRANSFER_ANALYSIS
INTERPOLANT = (
    "not-a-knot cubic spline in nu through the finite seed means; optimum = its "
    "minimiser on the bracket of the discrete argmin; diverged (NaN) runs count as +inf"
)


def resolve_config(cfg: dict | None) -> dict:
    """cfg merged over :data:`DEFAULTS` (one level deep for the nested blocks), validated."""
    cfg = dict(cfg or {})
    out = {key: (dict(value) if isinstance(value, dict) else value) for key, value in DEFAULTS.items()}
    for key, value in cfg.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key].update(value)
        else:
            out[key] = value
    if out["infinity"] not in INFINITY_CHOICES:
        raise ValueError(f"infinity must be one of {INFINITY_CHOICES}, got {out['infinity']!r}")
    level = out["bootstrap"]["level"]
    if not 0 < level < 1:
        raise ValueError(f"bootstrap.level must lie in (0, 1), got {level}")
    return out


def _var(dims, values, long_name: str, units: str):
    """One dataset variable as (dims, data, attrs): every variable carries long_name and units."""
    return (dims, np.asarray(values), {"long_name": long_name, "units": units})


def _optima_per_width(widths, nu, losses: np.ndarray, boot: dict) -> dict:
    """Optimum and bootstrap interval for every width; ``losses`` is (width, hp, seed)."""
    optima, intervals = [], []
    for w, width in enumerate(widths):
        optima.append(find_optimum(nu, seed_mean(losses[w], axis=-1)))
        if losses.shape[-1] >= 2:
            # one generator per width, seeded by (seed, width): results do not depend on which
            # other widths are in the sweep
            rng = np.random.default_rng([int(boot["seed"]), int(width)])
            intervals.append(bootstrap_optimum(nu, losses[w], int(boot["n"]), rng, float(boot["level"])))
        else:
            intervals.append((np.nan,) * 4)  # one seed: resampling seeds says nothing
    ci = np.array(intervals, dtype=np.float64).reshape(len(widths), 4)
    return dict(
        nu_star=np.array([o.nu_star for o in optima]),
        loss_star=np.array([o.loss_star for o in optima]),
        at_edge=np.array([o.at_edge for o in optima], dtype=bool),
        index=np.array([o.index for o in optima], dtype=np.int64),
        nu_lo=ci[:, 0],
        nu_hi=ci[:, 1],
        loss_lo=ci[:, 2],
        loss_hi=ci[:, 3],
    )


def _reference_optimum(widths, nu_star, reference_width) -> tuple[int, float]:
    ref = int(widths.min() if reference_width is None else reference_width)
    if ref not in widths:
        raise ValueError(f"reference_width {ref} is not a width of the sweep {list(widths)}")
    return ref, float(nu_star[np.flatnonzero(widths == ref)[0]])


def _rates(widths, opt: dict, reliable, interpolants, cfg: dict, level: float) -> dict:
    """estimate_rates on the reliable widths, with bootstrap standard errors of the optima."""
    if reliable.any():
        phi_largest = interpolants[int(np.flatnonzero(reliable)[np.argmax(widths[reliable])])]
    else:

        def phi_largest(q):  # no reliable width: nothing to read
            return np.full(np.shape(q), np.nan)

    # standard error from the percentile interval (half-width over the normal quantile): lets the
    # rates account for the noise of the n_max optimum that every gap shares
    z = float(stats.norm.ppf((1 + level) / 2))
    nu_se = (opt["nu_hi"] - opt["nu_lo"]) / (2 * z)
    loss_se = (opt["loss_hi"] - opt["loss_lo"]) / (2 * z)
    return estimate_rates(
        widths[reliable],
        opt["nu_star"][reliable],
        opt["loss_star"][reliable],
        phi_largest,
        cfg["infinity"],
        level,
        nu_se[reliable],
        loss_se[reliable],
    )


def _optimum_vars(hp, metric, means, losses, opt, level) -> dict:
    W, H, nu_units, pct = ("width",), ("width", hp), coordinate_name(hp), f"{100 * level:g}%"
    boot = f"{pct} bootstrap bound of"
    with np.errstate(invalid="ignore"):
        loss_mean = np.where(np.isfinite(means), means, np.nan)
    return {
        "loss_mean": _var(H, loss_mean, f"seed mean of {metric} (NaN if any seed diverged)", "loss"),
        "n_diverged": _var(H, (~np.isfinite(losses)).sum(axis=-1), "number of diverged seeds", "1"),
        "nu_star": _var(W, opt["nu_star"], "optimal hp coordinate nu*(n) (spline minimiser)", nu_units),
        "hp_star": _var(W, hp_value(hp, opt["nu_star"]), f"optimal {hp}", hp),
        "loss_star": _var(W, opt["loss_star"], "optimal loss phi*_n (spline minimum)", "loss"),
        "nu_star_lo": _var(W, opt["nu_lo"], f"lower {boot} nu*(n)", nu_units),
        "nu_star_hi": _var(W, opt["nu_hi"], f"upper {boot} nu*(n)", nu_units),
        "hp_star_lo": _var(W, hp_value(hp, opt["nu_lo"]), f"lower {boot} optimal {hp}", hp),
        "hp_star_hi": _var(W, hp_value(hp, opt["nu_hi"]), f"upper {boot} optimal {hp}", hp),
        "loss_star_lo": _var(W, opt["loss_lo"], f"lower {boot} phi*_n", "loss"),
        "loss_star_hi": _var(W, opt["loss_hi"], f"upper {boot} phi*_n", "loss"),
        "at_edge": _var(
            W, opt["at_edge"], "discrete optimum not bracketed (a grid end, or a neighbour over a grid step away)", "1"
        ),
        "next_to_diverged": _var(
            W,
            _next_to_diverged(means, opt["index"]),
            "discrete optimum next to a diverged grid point (nu* searched on its finite side)",
            "1",
        ),
        "grid_index": _var(W, opt["index"], "grid index of the discrete argmin (-1: all diverged)", "1"),
    }


def _transfer_vars(hp, ref_width, nu_ref, loss_transferred) -> dict:
    return {
        "loss_transferred": _var(
            ("width",), loss_transferred, f"loss at the transferred nu*({ref_width}) (spline)", "loss"
        ),
        "nu_transferred": _var((), nu_ref, f"transferred hp coordinate nu*({ref_width})", coordinate_name(hp)),
        "hp_transferred": _var((), hp_value(hp, nu_ref), f"transferred {hp}", hp),
    }


def _fit_vars(prefix: str, fit: dict, params: dict[str, tuple[str, str]]) -> dict:
    """0-d variables for one fit: each parameter with its standard error, R^2 and point count."""
    out = {}
    for name, (long_name, units) in params.items():
        out[f"{prefix}_{name}"] = _var((), fit[name], long_name, units)
        out[f"{prefix}_{name}_se"] = _var((), fit[f"{name}_se"], f"standard error of {long_name}", units)
    out[f"{prefix}_r2"] = _var((), fit["r2"], f"R^2 of the {prefix} fit", "1")
    out[f"{prefix}_n_points"] = _var((), fit["n_points"], f"widths used by the {prefix} fit", "1")
    out[f"{prefix}_identified"] = _var(
        (),
        fit["identified"],
        f"the {prefix} fit converged with its exponent off the bounds (else its parameters mean little)",
        "1",
    )
    return out


def _scaling_vars(hp, ref_width, fit_opt, fit_tr, lr_law) -> dict:
    nu_units, law = coordinate_name(hp), "nu*(n) = -B n^-beta + D"
    out = _fit_vars(
        "fit_opt",
        fit_opt,
        {
            "L_inf": ("L_inf along nu*(n)", "loss"),
            "A": ("A along nu*(n)", "loss"),
            "alpha": ("exponent along nu*(n)", "1"),
        },
    )
    out.update(
        _fit_vars(
            "fit_transfer",
            fit_tr,
            {
                "L_inf": (f"L_inf along nu*({ref_width})", "loss"),
                "A": (f"A along nu*({ref_width})", "loss"),
                "alpha": (f"exponent along nu*({ref_width})", "1"),
            },
        )
    )
    out.update(
        _fit_vars(
            "lr_law",
            lr_law,
            {
                "B": (f"B of {law}", nu_units),
                "beta": (f"beta of {law}", "1"),
                "D": (f"D = nu*(inf) of {law}", nu_units),
            },
        )
    )
    return out


def _rate_vars(hp, rates, reliable, infinity, level) -> dict:
    W, nu_units, pct = ("width",), coordinate_name(hp), f"{100 * level:g}%"

    def per_width(values):  # rates exist for reliable widths only
        full = np.full(reliable.size, np.nan)
        full[reliable] = values
        return full

    out = {
        "used_in_fit": _var(W, reliable, "width used for the fits along nu*(n) and the rates", "1"),
        "a_n": _var(W, per_width(rates["a_n"]), "loss gap a_n = |phi*_n - phi*_inf|", "loss"),
        "b_n": _var(W, per_width(rates["b_n"]), "hp gap b_n = |nu*(n) - nu*(inf)|", nu_units),
        "c_n": _var(W, per_width(rates["c_n"]), "transfer gap c_n = |phi_inf(nu*(n)) - phi*_inf|", "loss"),
        "nu_inf": _var((), rates["nu_inf"], f"nu*(inf) stand-in ({infinity})", nu_units),
        "loss_inf": _var((), rates["loss_inf"], f"phi*_inf stand-in ({infinity})", "loss"),
    }
    for name, what in (("alpha", "loss rate alpha (a_n ~ n^-alpha)"), ("beta", "hp rate beta (b_n ~ n^-beta)")):
        out[name] = _var((), rates[name], what, "1")
        out[f"{name}_se"] = _var((), rates[f"{name}_se"], f"standard error of {name}", "1")
        out[f"{name}_lo"] = _var((), rates[f"{name}_lo"], f"lower {pct} bound of {name} (t)", "1")
        out[f"{name}_hi"] = _var((), rates[f"{name}_hi"], f"upper {pct} bound of {name} (t)", "1")
    v = rates["verdict"]
    out.update(
        {
            "verdict": _var((), v.label, "transfer verdict: fast | weak | inconclusive", ""),
            "verdict_explanation": _var((), v.explanation, "why the verdict", ""),
            "margin": _var((), v.margin, "beta - alpha/2", "1"),
            "margin_lo": _var((), v.margin_lo, f"lower {pct} bound of beta - alpha/2", "1"),
            "margin_hi": _var((), v.margin_hi, f"upper {pct} bound of beta - alpha/2", "1"),
        }
    )
    return out


def _theorem2_vars(thm: dict) -> dict:
    return {
        "thm2_direct_exponent": _var(
            (), thm["direct_error_exponent"], "Theorem 2: direct-tuning error ~ F^-x, x = 2 alpha/(h alpha + 2r)", "1"
        ),
        "thm2_transfer_exponent": _var(
            (),
            thm["transfer_error_exponent"],
            "Theorem 2: transfer error ~ F^-x, x = min(alpha/r, 2 beta/(h beta + r))",
            "1",
        ),
        "thm2_better": _var(
            (), thm["better"], "Theorem 2: better strategy (transfer | direct | tie | undetermined)", ""
        ),
    }


def _fit_notes(fits: dict[str, dict]) -> dict:
    notes = "; ".join(f"{name}: {fit['reason']}" for name, fit in fits.items() if fit["reason"])
    return {"fit_notes": _var((), notes, "reasons for missing or degenerate fits", "")}


def _analyze_transfer_single(sweep: xr.Dataset, cfg: dict) -> xr.Dataset:
    hp = sweep.attrs["hp"]
    metric = sweep.attrs.get("metric", "final_loss_ema")
    da = sweep[metric].sortby(hp).sortby("width").transpose("width", hp, "seed")
    widths = da["width"].values.astype(np.int64)
    grid = da[hp].values.astype(np.float64)
    nu = hp_coordinate(hp, grid)
    losses = da.values.astype(np.float64)
    level = float(cfg["bootstrap"]["level"])

    means = seed_mean(losses, axis=-1)  # (width, hp), +inf where any seed diverged
    interpolants = [fit_interpolant(nu, m) for m in means]
    opt = _optima_per_width(widths, nu, losses, cfg["bootstrap"])
    ref_width, nu_ref = _reference_optimum(widths, opt["nu_star"], cfg["reference_width"])
    loss_transferred = np.array([f(nu_ref) for f in interpolants], dtype=np.float64)

    # an edge optimum is only a bound on nu*(n): keep it out of the fits along nu*(n)
    reliable = np.isfinite(opt["nu_star"]) & np.isfinite(opt["loss_star"]) & ~opt["at_edge"]
    fit_opt = fit_scaling(widths[reliable], opt["loss_star"][reliable])
    fit_tr = fit_scaling(widths, loss_transferred)
    lr_law = fit_lr_law(widths[reliable], opt["nu_star"][reliable])
    rates = _rates(widths, opt, reliable, interpolants, cfg, level)
    thm = theorem2(rates["alpha"], rates["beta"], **cfg["theorem2"])

    nu_fine = np.linspace(nu.min(), nu.max(), int(cfg["curve_points"]))
    variables = {
        **_optimum_vars(hp, metric, means, losses, opt, level),
        **_transfer_vars(hp, ref_width, nu_ref, loss_transferred),
        **_scaling_vars(hp, ref_width, fit_opt, fit_tr, lr_law),
        **_rate_vars(hp, rates, reliable, cfg["infinity"], level),
        **_theorem2_vars(thm),
        **_fit_notes(
            {
                "fit_opt": fit_opt,
                "fit_transfer": fit_tr,
                "lr_law": lr_law,
                "alpha": {"reason": rates["alpha_reason"]},
                "beta": {"reason": rates["beta_reason"]},
            }
        ),
        "loss_curve": _var(
            ("width", "nu_fine"), [f(nu_fine) for f in interpolants], "spline interpolant of the seed-mean loss", "loss"
        ),
    }
    nu_units = coordinate_name(hp)
    coords = {
        "width": _var("width", widths, "width n", "1"),
        hp: _var(hp, grid, f"swept hyperparameter {hp}", hp),
        "nu": _var(hp, nu, "hp coordinate", nu_units),
        "nu_fine": _var("nu_fine", nu_fine, "fine hp coordinate for loss_curve", nu_units),
    }
    ds = xr.Dataset(variables, coords=coords)
    _log_edges(widths, opt["at_edge"], hp)
    ds.attrs.update(
        study=sweep.attrs.get("study", ""),
        hp=hp,
        metric=metric,
        coordinate=nu_units,
        analysis_step=sweep.attrs.get("analysis_step", "last"),
        interpolant=INTERPOLANT,
        bootstrap=json.dumps(cfg["bootstrap"], sort_keys=True),
        bootstrap_method=INTERVAL_METHOD,
        interval_level=level,
        infinity=cfg["infinity"],
        reference_width=ref_width,
        rate_fits=(
            "infinity=n_max: a_n, b_n fitted as A (n^-x - n_max^-x) in log space, the "
            "n_max optimum's bootstrap error propagated by refitting; "
            "infinity=fit: alpha from L(n) = L_inf + A n^-alpha, beta from "
            "nu*(n) = -B n^-beta + D; intervals: Student t on the fit standard errors"
        ),
        edge_policy="widths with an edge optimum are excluded from fits along nu*(n) and rates",
        theorem2=json.dumps(cfg["theorem2"], sort_keys=True),
    )
    return ds


def _next_to_diverged(means: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Whether a grid neighbour of each width's discrete optimum diverged (seed mean +inf)."""
    g = means.shape[1]
    out = np.zeros(index.size, dtype=bool)
    for w, i in enumerate(index):
        neighbours = [j for j in (i - 1, i + 1) if i >= 0 and 0 <= j < g]
        out[w] = any(not np.isfinite(means[w, j]) for j in neighbours)
    return out


def _log_edges(widths, at_edge, hp: str) -> None:
    edges = [int(w) for w, e in zip(widths, at_edge) if e]
    if edges:
        log.warning("%s optimum at the grid edge for widths %s: excluded from fits", hp, edges)


def analyze_transfer(sweep: xr.Dataset, cfg: dict | None = None) -> xr.Dataset:
    """transfer.nc from a sweep dataset (see the module docstring; per param if present).

    cfg keys (all optional): ``reference_width`` (default smallest), ``infinity`` ("n_max" |
    "fit"), ``bootstrap`` {n: 1000, level: 0.9, seed: 0}, ``theorem2`` {r: 2, h: 1},
    ``curve_points`` (201).
    """
    resolved = resolve_config(cfg)
    ds = describe(map_over_param(sweep, lambda part: _analyze_transfer_single(part, resolved)))
    return in_sweep_units(ds, metric_units(sweep), sweep.attrs["hp"])
