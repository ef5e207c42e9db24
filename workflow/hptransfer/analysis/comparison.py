"""Comparison of parametrization schemes on one sweep: transfer error, stability and the
optimal-LR exponent per scheme, and an honest adaptive-vs-µP verdict
(shared/spec/adaptive-transfer.md).

This module computes; :mod:`~hptransfer.analysis.comparison_dataset` packs the result into
comparison.nc and :mod:`~hptransfer.analysis.comparison_summary` renders comparison.md/.csv.

Metrics (per scheme ``param`` and width n):

* **transfer error** at width n: ``phi_n(nu*(n_ref)) - phi_n(nu*(n))``, the loss at the
  hyperparameter tuned at the reference width (default the smallest, as :func:`analyze_transfer`)
  minus the loss at width n's own optimum. Both readings come from the one interpolant of the
  transfer analysis (:mod:`~hptransfer.analysis.optimum`: seed means with diverged runs as +inf,
  not-a-knot cubic spline in nu, optimum on the bracket of the discrete argmin). It is 0 at the
  reference width, +inf where the transferred value falls where some seed diverged at width n, and
  NaN where it falls between a finite and a diverged grid point (the loss is not known there).
  Interval: the parametric bootstrap of the transfer analysis (:func:`~hptransfer.analysis.optimum.
  replicate_means`: seed means redrawn with the pooled seed noise near each optimum, valid with
  two or three seeds); each replicate study re-runs the reference optimum, the reading at the
  transferred value and width n's own optimum.
* **stability over the grid**: fraction of runs (grid points x seeds) at width n that did not
  diverge (``diverged`` flag or a non-finite metric).
* **stability at the transferred value**: fraction of seeds at width n that did not diverge at
  the grid point nearest (in nu) to the transferred value nu*(n_ref).
* **optimal-hp exponent** x: least squares fit of ``nu*(n) = c - x log2 n`` (for the learning rate
  ``log2 eta*(n) = c - x log2 n``, i.e. eta* ~ n^-x) over the widths whose optimum is finite and
  not at a grid edge; standard error from the residuals, Student-t interval, and a percentile
  interval over the same replicate studies. The swept learning rate is the base-width
  LR of the scheme, so x measures what the scheme's own scaling leaves over (0: perfect transfer).
  The *effective* exponent fits the same law to the hidden-layer LR the scheme actually applies
  (swept LR times the table's width and depth factors): that is the exponent the source's
  "eta* ~ w^-0.85" refers to, and it equals x for SP.
* **difference** (candidate - baseline, default adaptive - mup) of the transfer errors per width with
  a percentile interval over the replicate studies, the schemes' noise drawn independently
  (runs of the same seed id share data order and so may correlate; ignoring that can only widen
  the interval). A width decides for a scheme only when the interval excludes 0 and neither
  scheme (nor the reference width) has an edge optimum.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy import stats

from .coords import hp_coordinate
from .formatting import format_with_inf
from .optimum import bootstrap_optimum, find_optima, find_optimum, fit_interpolant, replicate_means, seed_mean
from .transfer import resolve_config

__all__ = [
    "CONTRAST",
    "Comparison",
    "ComparisonInputs",
    "Contrast",
    "ExponentFit",
    "Exponents",
    "Replicates",
    "Stability",
    "TransferEstimates",
    "compare_schemes",
    "comparison_inputs",
    "depth_model",
    "ols_exponent",
    "percentile_interval",
]

log = logging.getLogger(__name__)

CONTRAST = ("adaptive", "mup")  # (candidate, baseline) of the paired verdict

_BIG = 1e300  # stands in for +-inf inside percentile interpolation


# ------------------------------------------------------------------------------- typed results


@dataclass(frozen=True)
class ComparisonInputs:
    """The sweep as arrays, and the settings every step of the comparison shares.

    ``losses`` and ``diverged`` are (param, width, grid, seed), sorted by width and grid value;
    ``losses`` is NaN where a run diverged.
    """

    sweep: xr.Dataset  # sorted by hp and width; its attrs and depth coordinate feed the dataset
    hp: str
    metric: str
    params: list[str]
    widths: np.ndarray  # int64
    grid: np.ndarray  # swept hp values
    nu: np.ndarray  # the grid in the analysis coordinate
    losses: np.ndarray
    diverged: np.ndarray
    reference_width: int
    bootstrap: dict  # {n, level, seed}
    level: float
    contrast: tuple[str, str]  # (candidate, baseline)
    tables: dict | None  # {param: parametrization table}, for the effective exponent
    depth_rule: str
    depth_text: str

    @property
    def reference_index(self) -> int:
        return int(np.flatnonzero(self.widths == self.reference_width)[0])

    @property
    def n_seeds(self) -> int:
        return self.losses.shape[-1]


@dataclass(frozen=True)
class TransferEstimates:
    """Point estimates per (param, width) from the seed means, in the analysis coordinate."""

    nu_star: np.ndarray  # optimum of each width
    nu_star_lo: np.ndarray  # its bootstrap interval (the one transfer.nc reports)
    nu_star_hi: np.ndarray
    loss_star: np.ndarray
    at_edge: np.ndarray  # discrete optimum not bracketed (optimum.unbracketed)
    nu_transferred: np.ndarray  # (param,): the reference width's optimum
    loss_transferred: np.ndarray  # loss read at nu_transferred
    transfer_error: np.ndarray  # loss_transferred - loss_star; 0 at the reference width
    near_divergence: np.ndarray  # nu_transferred touches a grid point where the mean is +inf


@dataclass(frozen=True)
class Stability:
    """How often runs diverge, over the whole grid and at the transferred value."""

    over_grid: np.ndarray  # (param, width): fraction of runs that did not diverge
    at_transferred: np.ndarray  # (param, width): fraction of seeds, at the nearest grid point
    nearest_grid_index: np.ndarray  # (param,): that grid point; -1 where nothing transferred


@dataclass(frozen=True)
class Replicates:
    """Estimates of the replicate studies (replicate, param, width) of the parametric bootstrap."""

    nu_star: np.ndarray
    transfer_error: np.ndarray  # 0 at the reference width, as the point estimate


class ExponentFit(NamedTuple):
    """Least squares fit of nu*(n) = intercept - exponent log2(n)."""

    exponent: float
    se: float  # from the residuals; NaN without a degree of freedom
    lo: float  # Student-t interval
    hi: float
    intercept: float
    n_points: int


@dataclass(frozen=True)
class Exponents:
    """Optimal-hp exponent x (nu* = c - x log2 n) per scheme, of the swept and the applied LR."""

    used: np.ndarray  # (param, width): widths whose optimum is finite and not at an edge
    lr_factors: np.ndarray | None  # (param, width): swept LR -> applied hidden-layer LR
    swept: list[ExponentFit]  # per param, of the swept hp
    effective: list[ExponentFit]  # per param, of the hidden-layer LR applied
    bootstrap_lo: np.ndarray  # (param,): percentile interval of the swept exponent
    bootstrap_hi: np.ndarray


@dataclass(frozen=True)
class Contrast:
    """The candidate - baseline comparison of transfer errors, per width."""

    candidate: str
    baseline: str
    difference: np.ndarray
    difference_lo: np.ndarray
    difference_hi: np.ndarray
    decisions: list[str]
    verdict: str
    explanation: str


@dataclass(frozen=True)
class Comparison:
    """Everything comparison.nc holds, before packing."""

    inputs: ComparisonInputs
    transfer: TransferEstimates
    transfer_error_lo: np.ndarray  # (param, width) bootstrap interval; NaN with one seed
    transfer_error_hi: np.ndarray
    stability: Stability
    exponents: Exponents
    contrast: Contrast


# ------------------------------------------------------------------------------- small helpers


def percentile_interval(x: np.ndarray, level: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` percentile interval along ``axis``, ignoring NaN, keeping +-inf.

    Why not plain np.nanpercentile: linear interpolation between two infinite order statistics
    gives NaN. Infinities are mapped to +-1e300, interpolated, and mapped back.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    y = np.where(np.isposinf(x), _BIG, np.where(np.isneginf(x), -_BIG, x))
    q = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    out = np.full((2,) + y.shape[1:], np.nan)
    has = np.any(~np.isnan(y), axis=0)
    if np.any(has):
        out[:, has] = np.nanpercentile(y[:, has], q, axis=0)
    out = np.where(out >= _BIG / 2, np.inf, np.where(out <= -_BIG / 2, -np.inf, out))
    return out[0], out[1]


def _difference(a, b) -> np.ndarray:
    """a - b with inf - inf = NaN (both diverged: no comparison) and no warnings."""
    with np.errstate(invalid="ignore"):
        return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)


def ols_exponent(widths, nu_star, level: float) -> ExponentFit:
    """Fit nu* = c - x log2(n) over the finite points: x, its se and Student-t interval, c."""
    n = np.asarray(widths, dtype=np.float64)
    y = np.asarray(nu_star, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(n) & (n > 0)
    n, y = n[keep], y[keep]
    nan = np.nan
    if np.unique(n).size < 2:
        return ExponentFit(nan, nan, nan, nan, nan, int(n.size))
    t = np.log2(n)
    t_mean = t.mean()
    sxx = float(np.sum((t - t_mean) ** 2))
    slope = float(np.sum((t - t_mean) * (y - y.mean())) / sxx)
    exponent, intercept = -slope, float(y.mean() - slope * t_mean)
    dof = n.size - 2
    if dof < 1:  # a line through two points: no error bar
        return ExponentFit(exponent, nan, nan, nan, intercept, int(n.size))
    resid = y - (intercept + slope * t)
    se = float(np.sqrt(np.sum(resid**2) / dof / sxx))
    half = float(stats.t.ppf((1 + level) / 2, dof)) * se
    return ExponentFit(exponent, se, exponent - half, exponent + half, intercept, int(n.size))


def _negative_slopes(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-slope of y against t along the last axis, NaN entries of y ignored (per row): the
    exponent of every bootstrap replicate at once."""
    ok = np.isfinite(y)
    cnt = ok.sum(-1)
    tt = np.where(ok, t, 0.0)
    yy = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = tt.sum(-1) / cnt
        y_mean = yy.sum(-1) / cnt
        dt = np.where(ok, t - t_mean[..., None], 0.0)
        sxx = np.sum(dt**2, -1)
        slope = np.sum(dt * (yy - y_mean[..., None]), -1) / sxx
    return np.where((cnt >= 2) & (sxx > 0), -slope, np.nan)


# ------------------------------------------------------------------------- the study's settings


def _study_config(sweep: xr.Dataset) -> dict:
    try:
        return json.loads(sweep.attrs.get("config", "{}") or "{}")
    except (TypeError, ValueError):
        return {}


def depth_model(sweep: xr.Dataset) -> tuple[str, str]:
    """(rule, description) of the study's depth rule, from the sweep's config and depth coord."""
    model = _study_config(sweep).get("model", {})
    rule = model.get("depth_rule", {}) or {}
    kind = rule.get("rule", "fixed")
    depths = [int(d) for d in sweep["depth"].values] if "depth" in sweep.coords else []
    widths = [int(w) for w in sweep["width"].values]
    listing = ", ".join(f"{d} at n={w}" for w, d in zip(widths, depths))
    if kind == "grow":
        text = (
            f"depth growing with width (depth = {model.get('depth')} (n/{model.get('base_width')})"
            f"^{rule.get('exponent')}, rounded{': ' + listing if listing else ''})"
        )
    else:
        fixed = depths[0] if depths else model.get("depth", "?")
        text = f"width only (depth fixed at {fixed})"
    return kind, text


def _effective_lr_factors(sweep: xr.Dataset, params, hp: str, tables: dict | None):
    """(param, width) factor turning the swept LR into the hidden-layer LR the scheme applies,
    or None where it cannot be known (not an LR sweep, or no table)."""
    if hp != "lr" or not tables:
        return None
    study = _study_config(sweep)
    model, opt = study.get("model", {}), study.get("optimizer", {})
    name = opt.get("name", "adam")
    family = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}.get(name, "muon")
    base_width = float(model.get("base_width", sweep["width"].values.min()))
    base_depth = float(model.get("base_depth") or model.get("depth") or 1)
    widths = sweep["width"].values.astype(np.float64)
    depths = sweep["depth"].values.astype(np.float64) if "depth" in sweep.coords else np.full(widths.shape, base_depth)
    out = np.full((len(params), widths.size), np.nan)
    for i, p in enumerate(params):
        table = tables.get(str(p))
        if table is None:
            continue  # NaN: this scheme's factors are unknown
        hidden = table.get("roles", {}).get("hidden", {})
        e_lr = float(hidden.get("lr", {}).get(family, 0.0))
        depth_lr = float(table.get("depth_lr", 0.0))
        out[i] = (widths / base_width) ** (-e_lr) * (depths / base_depth) ** (-depth_lr)
    return out


def comparison_inputs(sweep: xr.Dataset, cfg: dict | None = None) -> ComparisonInputs:
    """The sweep's arrays and the resolved settings (see :func:`compare_schemes` for ``cfg``)."""
    cfg = resolve_config(cfg)
    hp = sweep.attrs["hp"]
    metric = sweep.attrs.get("metric", "final_loss_ema")
    if "param" not in sweep.dims:
        raise ValueError("analyze_comparison needs a sweep with a 'param' dimension")
    sweep = sweep.sortby(hp).sortby("width")
    order = ("param", "width", hp, "seed")
    losses = sweep[metric].transpose(*order).values.astype(np.float64)
    diverged = ~np.isfinite(losses)  # a non-finite metric counts as diverged, flag or not
    if "diverged" in sweep:
        diverged |= sweep["diverged"].transpose(*order).values.astype(bool)
    widths = sweep["width"].values.astype(np.int64)
    grid = sweep[hp].values.astype(np.float64)
    nu = hp_coordinate(hp, grid)
    reference_width = int(widths.min() if cfg["reference_width"] is None else cfg["reference_width"])
    if reference_width not in widths:
        raise ValueError(f"reference_width {reference_width} is not a width of the sweep {list(widths)}")
    depth_rule, depth_text = depth_model(sweep)
    return ComparisonInputs(
        sweep=sweep,
        hp=hp,
        metric=metric,
        params=[str(p) for p in sweep["param"].values],
        widths=widths,
        grid=grid,
        nu=nu,
        losses=np.where(diverged, np.nan, losses),
        diverged=diverged,
        reference_width=reference_width,
        bootstrap=cfg["bootstrap"],
        level=float(cfg["bootstrap"]["level"]),
        contrast=tuple(cfg.get("contrast") or CONTRAST),
        tables=cfg.get("tables"),
        depth_rule=depth_rule,
        depth_text=depth_text,
    )


# ---------------------------------------------------------------------------- point estimates


def _zero_at_reference(transfer_error: np.ndarray, ref: int) -> None:
    """The transfer error is 0 by definition at the reference width (in place; keeps +inf/NaN,
    which say the reference optimum itself diverged or is unknown)."""
    at_ref = transfer_error[..., ref]
    transfer_error[..., ref] = np.where(np.isfinite(at_ref), 0.0, at_ref)


def _near_divergence(nu, means, nu_ref) -> np.ndarray:
    """(P, W): the transferred value sits at a grid point, or inside a grid interval with an end,
    where the seed-mean loss is infinite (the reading is then +inf or NaN)."""
    P, W, _ = means.shape
    out = np.zeros((P, W), dtype=bool)
    for p in range(P):
        if not np.isfinite(nu_ref[p]):
            continue
        ends = {int(np.searchsorted(nu, nu_ref[p], "right")) - 1, int(np.searchsorted(nu, nu_ref[p], "left"))}
        ends = [j for j in ends if 0 <= j < nu.size]
        out[p] = ~np.isfinite(means[p][:, ends]).all(axis=-1)
    return out


def _transfer_estimates(x: ComparisonInputs) -> TransferEstimates:
    """Optima (with the bootstrap interval of analyze_transfer), transferred losses, errors."""
    nu, losses, ref, boot = x.nu, x.losses, x.reference_index, x.bootstrap
    P, W, _, S = losses.shape
    means = seed_mean(losses, axis=-1)  # (P, W, G), +inf where any seed diverged
    nu_star, loss_star = np.full((P, W), np.nan), np.full((P, W), np.nan)
    at_edge = np.zeros((P, W), dtype=bool)
    interval = np.full((P, W, 4), np.nan)  # nu_lo, nu_hi, loss_lo, loss_hi
    for p in range(P):
        for w in range(W):
            opt = find_optimum(nu, means[p, w])
            nu_star[p, w], loss_star[p, w], at_edge[p, w] = opt.nu_star, opt.loss_star, opt.at_edge
            if S >= 2:  # same generator as analyze_transfer: the same interval as transfer.nc
                rng = np.random.default_rng([int(boot["seed"]), int(x.widths[w])])
                interval[p, w] = bootstrap_optimum(nu, losses[p, w].copy(), int(boot["n"]), rng, x.level)
    nu_ref = nu_star[:, ref]
    loss_tr = np.full((P, W), np.nan)
    for p in range(P):
        if np.isfinite(nu_ref[p]):
            for w in range(W):
                loss_tr[p, w] = fit_interpolant(nu, means[p, w])(nu_ref[p])
    transfer_error = _difference(loss_tr, loss_star)
    _zero_at_reference(transfer_error, ref)
    return TransferEstimates(
        nu_star=nu_star,
        nu_star_lo=interval[..., 0],
        nu_star_hi=interval[..., 1],
        loss_star=loss_star,
        at_edge=at_edge,
        nu_transferred=nu_ref,
        loss_transferred=loss_tr,
        transfer_error=transfer_error,
        near_divergence=_near_divergence(nu, means, nu_ref),
    )


def _stability(x: ComparisonInputs, nu_ref: np.ndarray) -> Stability:
    diverged, nu = x.diverged, x.nu
    P, W = diverged.shape[:2]
    near = np.full(P, -1, dtype=np.int64)
    at_transferred = np.full((P, W), np.nan)
    for p in range(P):
        if np.isfinite(nu_ref[p]):
            near[p] = int(np.argmin(np.abs(nu - nu_ref[p])))
            at_transferred[p] = 1.0 - diverged[p, :, near[p], :].mean(axis=-1)
    return Stability(over_grid=1.0 - diverged.mean(axis=(2, 3)), at_transferred=at_transferred, nearest_grid_index=near)


# --------------------------------------------------------------------------- seed replicates


def _replicate_estimates(nu, means: np.ndarray, ref_idx: int) -> tuple[np.ndarray, np.ndarray]:
    """(nu_star, transfer_error), each (U, P, W), of replicate studies given their seed means
    ``means`` (U, P, W, G): the reference optimum, the reading at it and each width's own optimum,
    all redone on the replicate."""
    U, P, W, G = means.shape
    nu_star, loss_star, _, _ = find_optima(nu, means.reshape(-1, G))
    nu_star, loss_star = nu_star.reshape(U, P, W), loss_star.reshape(U, P, W)
    nu_ref = nu_star[:, :, ref_idx]  # (U, P)
    loss_tr = np.full((U, P, W), np.nan)
    for u, p in zip(*np.nonzero(np.isfinite(nu_ref))):
        for w in range(W):
            loss_tr[u, p, w] = fit_interpolant(nu, means[u, p, w])(nu_ref[u, p])
    return nu_star, _difference(loss_tr, loss_star)


def _replicates(x: ComparisonInputs) -> Replicates | None:
    """Replicate studies of every scheme and width (one generator per scheme and width, so a
    result does not depend on what else is in the sweep); None with one seed."""
    if x.n_seeds < 2:
        return None
    n = int(x.bootstrap["n"])
    P, W = x.losses.shape[:2]
    means = np.empty((n, *x.losses.shape[:3]))
    for p, w in np.ndindex(P, W):
        rng = np.random.default_rng([int(x.bootstrap["seed"]), 0xC0, p, int(x.widths[w])])
        drawn = replicate_means(x.losses[p, w], n, rng)
        # no complete grid point to learn the noise from: the observed means, unperturbed
        means[:, p, w] = seed_mean(x.losses[p, w], axis=-1) if drawn is None else drawn
    nu_star, transfer_error = _replicate_estimates(x.nu, means, x.reference_index)
    _zero_at_reference(transfer_error, x.reference_index)
    return Replicates(nu_star=nu_star, transfer_error=transfer_error)


# ------------------------------------------------------------------------------- the exponents


def _exponents(x: ComparisonInputs, est: TransferEstimates, reps: Replicates | None) -> Exponents:
    """Optimal-hp exponent fits over the widths with a bracketed optimum: an edge optimum only
    bounds the true one, and would bias the slope."""
    P = len(x.params)
    used = np.isfinite(est.nu_star) & ~est.at_edge
    factors = _effective_lr_factors(x.sweep, x.params, x.hp, x.tables)
    # log2 of the applied hidden-layer LR at the optimum
    effective_nu = (est.nu_star + np.log2(factors)) if factors is not None else np.full(used.shape, np.nan)
    boot_lo, boot_hi = np.full(P, np.nan), np.full(P, np.nan)
    if reps is not None:
        y = np.where(used[None], reps.nu_star, np.nan)  # (B, P, W)
        boot_lo, boot_hi = percentile_interval(_negative_slopes(np.log2(x.widths.astype(np.float64)), y), x.level)
    return Exponents(
        used=used,
        lr_factors=factors,
        swept=[ols_exponent(x.widths[used[p]], est.nu_star[p, used[p]], x.level) for p in range(P)],
        effective=[ols_exponent(x.widths[used[p]], effective_nu[p, used[p]], x.level) for p in range(P)],
        bootstrap_lo=boot_lo,
        bootstrap_hi=boot_hi,
    )


# -------------------------------------------------------------------------- contrast, verdict


def _decide(diff, diff_lo, diff_hi, edge_involved, is_ref, names) -> list[str]:
    """Per width: the scheme whose transfer error is lower with the interval excluding 0, or why
    none is."""
    cand, base = names
    out = []
    for d, lo, hi, edge, ref in zip(diff, diff_lo, diff_hi, edge_involved, is_ref):
        if ref:
            out.append("reference")
        elif np.isnan(d) or np.isnan(lo) or np.isnan(hi):
            out.append("undetermined")
        elif edge:
            out.append("unreliable (edge optimum)")
        elif hi < 0:
            out.append(cand)
        elif lo > 0:
            out.append(base)
        else:
            out.append("cannot separate")
    return out


def _verdict(widths, decisions, diff, lo, hi, names, level, n_seed, depth_text) -> tuple[str, str]:
    """(label, explanation) over all widths; the explanation lists every interval of the difference, so a
    reader can check the label."""
    fmt = format_with_inf
    cand, base = names
    pct = f"{100 * level:g}%"
    compared = [i for i, d in enumerate(decisions) if d != "reference"]
    if not compared:
        return "cannot separate", (f"{cand} vs {base}: no width besides the reference width; cannot separate them.")
    wins = {
        cand: [int(widths[i]) for i in compared if decisions[i] == cand],
        base: [int(widths[i]) for i in compared if decisions[i] == base],
    }
    undecided = [int(widths[i]) for i in compared if decisions[i] not in (cand, base)]
    per_width = "; ".join(
        f"n={int(widths[i])}: {fmt(diff[i])} [{fmt(lo[i])}, {fmt(hi[i])}] ({decisions[i]})" for i in compared
    )
    if wins[cand] and wins[base]:
        label = "mixed"
        head = f"mixed: {cand} transfers better at n={wins[cand]}, {base} at n={wins[base]}"
    elif wins[cand] or wins[base]:
        winner = cand if wins[cand] else base
        label = f"{winner} better" if not undecided else f"{winner} better at some widths"
        head = f"{winner} has the lower transfer error at n={wins[winner]}" + (
            f"; cannot separate at n={undecided}" if undecided else " (every width measured)"
        )
    else:
        label = "cannot separate"
        head = (
            f"cannot separate {cand} from {base} at the widths measured: every {pct} interval "
            "of the difference contains 0 or involves an edge optimum"
        )
    seeds_note = f" Only {n_seed} seed: no interval." if n_seed < 2 else ""
    text = (
        f"{head}. Model: {depth_text}. Transfer error {cand} - {base} ({pct} parametric bootstrap "
        f"interval over {n_seed} seeds): {per_width}.{seeds_note}"
    )
    return label, text


def _contrast(x: ComparisonInputs, est: TransferEstimates, reps: Replicates | None) -> Contrast:
    """Paired candidate - baseline difference of transfer errors, decisions and the verdict."""
    cand, base = x.contrast
    W = x.widths.size
    nan = np.full(W, np.nan)
    if not (cand in x.params and base in x.params):
        return Contrast(
            cand,
            base,
            nan,
            nan.copy(),
            nan.copy(),
            ["not applicable"] * W,
            "not applicable",
            f"the contrast {cand} vs {base} needs both schemes; this study has {x.params}. Model: {x.depth_text}.",
        )
    ic, ib = x.params.index(cand), x.params.index(base)
    ref = x.reference_index
    diff = _difference(est.transfer_error[ic], est.transfer_error[ib])
    lo, hi = nan, nan.copy()
    if reps is not None:
        lo, hi = percentile_interval(_difference(reps.transfer_error[:, ic], reps.transfer_error[:, ib]), x.level)
    # an edge optimum at width n or at the reference width makes that width's error unreliable
    edge = est.at_edge[ic] | est.at_edge[ib] | est.at_edge[ic, ref] | est.at_edge[ib, ref]
    decisions = _decide(diff, lo, hi, edge, x.widths == x.reference_width, x.contrast)
    label, text = _verdict(x.widths, decisions, diff, lo, hi, x.contrast, x.level, x.n_seeds, x.depth_text)
    return Contrast(cand, base, diff, lo, hi, decisions, label, text)


# ------------------------------------------------------------------------------- entry point


def _log_edges(x: ComparisonInputs, at_edge: np.ndarray) -> None:
    for p, row in zip(x.params, at_edge):
        if row.any():
            log.warning(
                "%s: %s optimum at the grid edge for widths %s: widen the grid",
                p,
                x.hp,
                [int(w) for w in x.widths[row]],
            )


def compare_schemes(sweep: xr.Dataset, cfg: dict | None = None) -> Comparison:
    """The comparison of the schemes of a sweep with a ``param`` dimension (module docstring).

    ``cfg``: the study's analysis block (``reference_width``, ``bootstrap`` {n, level, seed}, as
    for :func:`~hptransfer.analysis.analyze_transfer`), plus optionally ``tables`` {param: table}
    (the parametrization tables, for the effective hidden-layer LR exponent) and ``contrast``
    [candidate, baseline] (default adaptive, mup).
    """
    x = comparison_inputs(sweep, cfg)
    est = _transfer_estimates(x)
    stability = _stability(x, est.nu_transferred)
    reps = _replicates(x)
    if reps is None:
        te_lo, te_hi = np.full(est.transfer_error.shape, np.nan), np.full(est.transfer_error.shape, np.nan)
    else:
        te_lo, te_hi = percentile_interval(reps.transfer_error, x.level)
    result = Comparison(
        inputs=x,
        transfer=est,
        transfer_error_lo=te_lo,
        transfer_error_hi=te_hi,
        stability=stability,
        exponents=_exponents(x, est, reps),
        contrast=_contrast(x, est, reps),
    )
    _log_edges(x, est.at_edge)
    return result
