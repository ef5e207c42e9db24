"""What a figure's data show, in words, for its report caption: the statements a caption makes about
the run, each computed from the datasets the figure drew, so that a caption never asserts what the
run does not support (a claim that fails is replaced by what the data do show).

A drawer module may define ``findings(inputs, settings) -> list[str]`` beside ``draw``: plain-text
sentences (no markup; :mod:`hptransfer.report` escapes them) built from the helpers here. The figure
job writes them into ``results/figures/fits/<stem>.rst``, which the caption includes; a drawer's
findings live in its module (or here, which it imports), so editing them rewrites exactly the
captions of the figures drawn with them.

Thresholds a statement is decided by are named constants here, so a caption's words and its tests
agree on them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..analysis.formatting import format_percent as pct
from ..analysis.formatting import format_with_inf as fmt

# |φ_n^k − φ_nmax^k| ≤ this fraction of |φ_nmax^k|: the top-k profiles of width n and n_max agree
PROFILE_AGREEMENT = 0.1
# a log-log slope within ± this of 0: the size does not change with width (coordinate check)
FLAT_SLOPE = 0.25
# residual variation below this fraction of the top-κ curve's near the minimisers: "flat"
FLAT_RESIDUAL = 0.25


# ------------------------------------------------------------------------------------ numbers


def widths_text(widths) -> str:
    widths = [int(w) for w in widths]
    return ", ".join(map(str, widths)) if widths else "none"


def grid_step(nu) -> float:
    """The typical spacing of a grid in the analysis coordinate (its median step)."""
    nu = np.sort(np.asarray(nu, float)[np.isfinite(nu)])
    return float(np.median(np.diff(nu))) if nu.size > 1 else np.nan


def in_steps(delta: float, step: float) -> str:
    if not (np.isfinite(delta) and np.isfinite(step) and step > 0):
        return "n/a grid steps"
    n = abs(delta) / step
    return f"{n:.2g} grid step{'' if abs(n - 1) < 0.05 else 's'}" if n < 1 else f"{n:.1f} grid steps"


def _hp(transfer: xr.Dataset) -> str:
    return transfer.attrs.get("hp", "hp")


def _study(ds: xr.Dataset) -> str:
    return ds.attrs.get("study", "") or "this study"


def per_param(ds: xr.Dataset) -> list[tuple[str | None, xr.Dataset]]:
    """(scheme, its part) for each parametrization of a dataset with a ``param`` dim, else (None, ds)."""
    if "param" in ds.dims:
        return [(str(p), ds.sel(param=p)) for p in ds["param"].values]
    return [(None, ds)]


# --------------------------------------------------------------------- optima across widths


def movement(transfer: xr.Dataset) -> dict | None:
    """The optimum at the smallest and the largest width with an optimum: their widths, values,
    the move in grid steps and whether it is resolved (True: the intervals at the two widths do not
    overlap; False: they do; None: no intervals); None with fewer than two optima."""
    ok = np.isfinite(transfer["nu_star"].values)
    widths = transfer["width"].values[ok]
    if widths.size < 2:
        return None
    first, last = transfer.sel(width=widths[0]), transfer.sel(width=widths[-1])
    delta = float(last["nu_star"] - first["nu_star"])
    names = ("nu_star_lo", "nu_star_hi")
    bounds = [float(r[n]) for r in (first, last) for n in names] if all(n in transfer for n in names) else []
    resolved = None
    if bounds and np.all(np.isfinite(bounds)):
        lo0, hi0, lo1, hi1 = bounds
        resolved = bool(hi0 < lo1 or hi1 < lo0)
    return {
        "widths": (int(widths[0]), int(widths[-1])),
        "values": (float(first["hp_star"]), float(last["hp_star"])),
        "steps": in_steps(delta, grid_step(transfer["nu"].values) if "nu" in transfer else np.nan),
        "way": "larger" if delta > 0 else "smaller",
        "resolved": resolved,
        "edge": bool(first["at_edge"]) or bool(last["at_edge"]),
    }


def optimum_movement(transfer: xr.Dataset) -> str:
    """Where the optimum sits at the smallest and the largest width, by how many grid steps it moved,
    and whether the move is resolved: the intervals at the two widths do not overlap."""
    hp = _hp(transfer)
    m = movement(transfer)
    if m is None:
        return f"fewer than two widths have an optimum of {hp}: no movement can be read"
    (w0, w1), (v0, v1) = m["widths"], m["values"]
    text = f"optimal {hp}: {fmt(v0, '.4g')} at width {w0}, {fmt(v1, '.4g')} at width {w1} (a move of {m['steps']})"
    if m["resolved"] is None:
        return text + "; its intervals are missing, so the move is not resolved"
    level = f"{100 * float(transfer.attrs.get('interval_level', 0.9)):g}%"
    caveat = " (an edge optimum's interval only bounds it)" if m["edge"] else ""
    if m["resolved"]:
        return (
            text
            + f"; the {level} intervals at the two widths do not overlap: the optimum moved to {m['way']} {hp}{caveat}"
        )
    return text + f"; the {level} intervals at the two widths overlap: no move is resolved{caveat}"


def movement_short(transfer: xr.Dataset) -> str:
    """:func:`optimum_movement` in a few words, for the report's front page."""
    hp = _hp(transfer)
    m = movement(transfer)
    if m is None:
        return f"fewer than two optima of {hp}"
    (w0, w1), (v0, v1) = m["widths"], m["values"]
    verdict = {True: f"moved to {m['way']} {hp}", False: "no move resolved", None: "no intervals"}[m["resolved"]]
    return f"optimal {hp} {fmt(v0, '.3g')} (n = {w0}) → {fmt(v1, '.3g')} (n = {w1}): {verdict}"


def edge_optima(transfer: xr.Dataset) -> str:
    """Which widths have their optimum on a grid edge (a bound only, left out of the fits), and on
    which end of the grid."""
    hp = _hp(transfer)
    edge = np.asarray(transfer["at_edge"].values, bool)
    if not edge.any():
        return f"every width's optimum of {hp} lies inside the grid"
    grid = transfer["nu"].values if "nu" in transfer else None
    sides = []
    for w in transfer["width"].values[edge]:
        nu = float(transfer["nu_star"].sel(width=w))
        if grid is not None and np.isfinite(nu):
            side = "upper" if abs(nu - np.nanmax(grid)) < abs(nu - np.nanmin(grid)) else "lower"
            sides.append(f"{int(w)} ({side} end)")
        else:
            sides.append(str(int(w)))
    return (
        f"optimum at a grid edge, so only a bound and left out of the fits, at width {', '.join(sides)}: "
        "the grid does not bracket these optima"
    )


def transfer_cost(transfer: xr.Dataset) -> str:
    """The loss paid for using the reference width's optimum instead of each width's own."""
    ref = transfer.attrs.get("reference_width")
    cost = (transfer["loss_transferred"] - transfer["loss_star"]).values
    widths = transfer["width"].values
    keep = np.isfinite(cost) & (widths != (int(ref) if ref is not None else -1))
    if not keep.any():
        return f"the loss at the optimum transferred from width {ref} is unknown at every other width"
    i = int(np.argmax(np.where(keep, cost, -np.inf)))
    star = float(transfer["loss_star"].values[i])
    return (
        f"using the optimum of width {ref} at the other widths costs at most {fmt(cost[i])} in loss "
        f"(at width {int(widths[i])}, {pct(cost[i] / abs(star)) if star else 'n/a'} of its optimal loss)"
    )


def local_minima(transfer: xr.Dataset) -> list[int]:
    """Widths whose seed-mean loss has more than one strict local minimum on the grid (a bimodal
    curve: two basins)."""
    hp = _hp(transfer)
    out = []
    for w in transfer["width"].values:
        y = transfer["loss_mean"].sel(width=w).transpose(hp).values.astype(float)
        y = np.where(np.isfinite(y), y, np.inf)
        padded = np.concatenate([[np.inf], y, [np.inf]])
        minima = [i for i in range(1, padded.size - 1) if padded[i] < padded[i - 1] and padded[i] < padded[i + 1]]
        if len(minima) > 1:
            out.append(int(w))
    return out


def bimodality(transfer: xr.Dataset) -> str:
    many = local_minima(transfer)
    if not many:
        return "every width's seed-mean loss curve has a single local minimum on the grid"
    return "the seed-mean loss curve has more than one local minimum on the grid (two basins) at width " + widths_text(
        many
    )


def optimum_spread(transfer: xr.Dataset) -> float:
    """The range of nu*(n) over the widths, in grid steps (NaN with fewer than two optima)."""
    nu = transfer["nu_star"].values.astype(float)
    nu = nu[np.isfinite(nu)]
    step = grid_step(transfer["nu"].values) if "nu" in transfer else np.nan
    return float(np.ptp(nu) / step) if nu.size > 1 and np.isfinite(step) and step > 0 else np.nan


def lowest_loss(transfer: xr.Dataset) -> float:
    values = transfer["loss_star"].values.astype(float)
    return float(np.nanmin(values)) if np.isfinite(values).any() else np.nan


def grid_sensitivity(transfer: xr.Dataset) -> str:
    """How much the loss changes over the grid at the largest width: max − min of the seed means."""
    w = transfer["width"].values[-1]
    y = transfer["loss_mean"].sel(width=w).values.astype(float)
    y = y[np.isfinite(y)]
    if y.size < 2:
        return f"at width {int(w)} fewer than two grid points have a loss"
    diverged = int(transfer["n_diverged"].sel(width=w).values.astype(bool).sum()) if "n_diverged" in transfer else 0
    tail = f"; {diverged} grid point(s) with a diverged seed" if diverged else ""
    return (
        f"at width {int(w)} the seed-mean loss varies by {fmt(np.ptp(y))} over the grid "
        f"({pct(np.ptp(y) / abs(y.min())) if y.min() else 'n/a'} of its minimum){tail}"
    )


def sweep_findings(transfer: xr.Dataset, scheme: str | None = None) -> list[str]:
    """The statements of a sweep-and-optimum figure: optimum movement, edge optima, transfer cost."""
    head = f"scheme {scheme}: " if scheme else ""
    return [head + optimum_movement(transfer), head + edge_optima(transfer), head + transfer_cost(transfer)]


# ------------------------------------------------------------------ decomposition: top-κ curves


def _argmin(y) -> int | None:
    y = np.asarray(y, float)
    return int(np.nanargmin(y)) if np.isfinite(y).any() else None


def _grid(kappa: xr.Dataset) -> tuple[str, np.ndarray]:
    hp = kappa.attrs["hp"]
    return hp, kappa[hp].values.astype(float)


def minimiser_spread(kappa: xr.Dataset, name: str) -> tuple[list[tuple[int, float]], int | None]:
    """(width, grid value of the discrete minimiser) of ``name`` per width where it has one, and
    their spread in grid steps (None with fewer than one)."""
    hp, grid = _grid(kappa)
    found = []
    for w in kappa["width"].values:
        i = _argmin(kappa[name].sel(width=w).values)
        if i is not None:
            found.append((int(w), i))
    spread = (max(i for _, i in found) - min(i for _, i in found)) if found else None
    return [(w, float(grid[i])) for w, i in found], spread


def _minimisers_text(found: list[tuple[int, float]], hp: str) -> str:
    return ", ".join(f"{v:.4g} (n = {w})" for w, v in found)


def failed_widths(kappa: xr.Dataset) -> list[int]:
    """The widths where Algorithm 1 failed (kappa.nc's ``failed``): no top-κ curve, so no residual."""
    return [int(w) for w in kappa["width"].values if bool(kappa["failed"].sel(width=w))]


def topk_minimisers(kappa: xr.Dataset) -> list[str]:
    """Where the top-κ curves and the total curves have their (discrete) minima, width by width."""
    hp, _ = _grid(kappa)
    n_max = kappa.attrs.get("n_max")
    failed = failed_widths(kappa)
    out = []
    top, top_spread = minimiser_spread(kappa, "phi_n_kappa")
    if top:
        same = "the same grid point" if top_spread == 0 else f"{top_spread} grid steps"
        out.append(f"minimisers of the top-κ curves φ_n^κn over {hp}: {_minimisers_text(top, hp)}; they span {same}")
        nmax, _ = minimiser_spread(kappa, "phi_max_kappa")
        agree = [w for (w, v), (_, u) in zip(top, nmax) if v == u]
        out.append(
            f"φ_n^κn and the n_max = {n_max} run's φ_nmax^κn have their minimum at the same grid point at "
            f"{len(agree)} of {len(top)} widths"
        )
    total, total_spread = minimiser_spread(kappa, "phi_n")
    if total:
        same = "the same grid point" if total_spread == 0 else f"{total_spread} grid steps"
        out.append(f"minimisers of the total φ_n: {_minimisers_text(total, hp)}; they span {same}")
    if failed:
        out.append(f"Algorithm 1 failed (no top-κ curve) at width {widths_text(failed)}")
    return out


def residual_window(kappa: xr.Dataset, clip_steps: int = 2) -> tuple[int, int]:
    """Grid-index range within ``clip_steps`` of every top-κ curve's discrete minimiser (the x-range
    of the residual figures)."""
    g = kappa.sizes[kappa.attrs["hp"]]
    idx = []
    for name in ("phi_n_kappa", "phi_max_kappa"):
        for row in np.atleast_2d(kappa[name].values):
            if np.isfinite(row).any():
                idx.append(int(np.nanargmin(row)))
    if not idx:
        return 0, g - 1
    return max(0, min(idx) - clip_steps), min(g - 1, max(idx) + clip_steps)


def residual_effect(kappa: xr.Dataset, clip_steps: int = 2) -> list[str]:
    """Whether adding the residual moves the minimiser (total vs top-κ minimiser, in grid steps), and
    how much it varies near the minimisers against the top-κ curve (ratio of their ranges)."""
    failed = failed_widths(kappa)
    lo, hi = residual_window(kappa, clip_steps)
    moved, ratios = [], []
    for w in kappa["width"].values:
        if int(w) in failed:
            continue
        k = kappa.sel(width=w)
        top, total = _argmin(k["phi_n_kappa"].values), _argmin(k["phi_n"].values)
        if top is not None and total is not None:
            moved.append((int(w), abs(total - top)))
        resid, topk = k["residual_n"].values[lo : hi + 1], k["phi_n_kappa"].values[lo : hi + 1]
        r, t = resid[np.isfinite(resid)], topk[np.isfinite(topk)]
        if r.size > 1 and t.size > 1 and np.ptp(t) > 0:
            ratios.append((int(w), float(np.ptp(r) / np.ptp(t))))
    out = []
    if moved:
        shifted = [(w, s) for w, s in moved if s]
        if not shifted:
            out.append("adding the residual to φ_n^κn leaves the discrete minimiser where it is at every width")
        else:
            out.append(
                "adding the residual to φ_n^κn moves the discrete minimiser at width "
                + ", ".join(f"{w} (by {s} grid step{'s' if s > 1 else ''})" for w, s in shifted)
            )
    if ratios:
        worst = max(ratios, key=lambda p: p[1])
        flat = all(r <= FLAT_RESIDUAL for _, r in ratios)
        verdict = (
            f"flat: at most {pct(FLAT_RESIDUAL)} of it at every width"
            if flat
            else f"not flat everywhere: up to {pct(worst[1])} of it (width {worst[0]})"
        )
        out.append(
            "near the top-κ minimisers the residual φ_n^−κn varies by "
            + ", ".join(f"{pct(r)} (n = {w})" for w, r in ratios)
            + f" of the top-κ curve's variation there: {verdict}"
        )
    if failed:
        out.append(f"Algorithm 1 failed (no top-κ curve, so no residual) at width {widths_text(failed)}")
    return out


def kappa_ranges(kappa: xr.Dataset) -> list[str]:
    """κ̂(n) per width over the usable grid points, and where Algorithm 1 failed."""
    parts, failed = [], []
    for w in kappa["width"].values:
        k = kappa.sel(width=w)
        if bool(k["failed"]):
            failed.append(int(w))
            continue
        values = k["kappa"].values.astype(float)
        values = values[values >= 1]
        if values.size:
            lo, hi = int(values.min()), int(values.max())
            parts.append(f"{lo}" + (f"–{hi}" if hi != lo else "") + f" (n = {int(w)})")
    out = [f"κ̂(n) over the usable grid points of {_study(kappa)}: " + (", ".join(parts) if parts else "none")]
    if failed:
        out.append(f"Algorithm 1 failed at width {widths_text(failed)} of {_study(kappa)}")
    return out


def profile_agreement(phi: xr.DataArray, kappa: xr.Dataset, value: float, study: str = "") -> str:
    """At one swept value: up to which k each width's seed-mean top-k profile φ_n^k stays within
    :data:`PROFILE_AGREEMENT` of the n_max run's, beside its κ̂(n). ``phi``: φ^k at the analysis step
    (width, hp, seed, k)."""
    hp = kappa.attrs["hp"]
    n_max = int(kappa.attrs["n_max"])
    at = phi.sel({hp: value})
    mean = at.mean("seed", skipna=False) if "seed" in at.dims else at
    ref = mean.sel(width=n_max).values.astype(float)
    parts = []
    for w in kappa["width"].values:
        if int(w) == n_max:
            continue
        row = mean.sel(width=w).values.astype(float)[: int(w)]
        close = np.abs(row - ref[: row.size]) <= PROFILE_AGREEMENT * np.abs(ref[: row.size])
        close &= np.isfinite(row) & np.isfinite(ref[: row.size])
        upto = int(np.argmin(close)) if not close.all() else row.size
        kap = int(kappa["kappa"].sel(width=w).sel({hp: value}, method="nearest"))
        kap_text = f"κ̂ = {kap}" if kap >= 1 else "no κ̂"
        every = " (every k)" if upto == row.size else ""
        parts.append(
            f"n = {int(w)}: k ≤ {upto}{every} ({kap_text})" if upto else f"n = {int(w)}: not even at k = 1 ({kap_text})"
        )
    where = f"{study}, " if study else ""
    return (
        f"{where}{hp} = {value:.3g}: φ_n^k stays within {pct(PROFILE_AGREEMENT)} of the n_max = {n_max} "
        "profile for " + ("; ".join(parts) if parts else "no width below n_max")
    )


def topk_and_residual(run: xr.Dataset, k: int) -> list[str]:
    """At the last step of one run per width (``run``: the sweep at one swept value and seed, dims
    width, eval_step, topk): the top-k and the residual linearised loss change, how much the top-k
    part differs across widths and whether the residual's size grows with width."""
    top, resid, widths = [], [], []
    for w in run["width"].values:
        r = run.sel(width=w)
        phi = r["phi_topk"].sel(topk=k).values.astype(float)
        lin = r["loss_linearized"].values.astype(float)
        ok = np.isfinite(phi) & np.isfinite(lin)
        if not ok.any():
            continue
        last = np.flatnonzero(ok)[-1]
        total = lin[last] - lin[0]
        widths.append(int(w))
        top.append(phi[last])
        resid.append(total - phi[last])
    if not widths:
        return ["no width has a finite top-k curve"]
    top, resid = np.array(top), np.array(resid)
    out = [
        f"at the last step, top-{k} change "
        + ", ".join(f"{fmt(t)} (n = {w})" for w, t in zip(widths, top))
        + "; residual "
        + ", ".join(f"{fmt(r)} (n = {w})" for w, r in zip(widths, resid))
    ]
    if len(widths) > 1:
        scale = np.mean(np.abs(top))
        spread = np.ptp(top) / scale if scale else np.nan
        out.append(f"the top-{k} change differs across widths by {pct(spread)} of its mean size")
        size = np.abs(resid)
        grows = bool(np.all(np.diff(size) > 0))
        out.append(
            "the residual's size grows with width" if grows else "the residual's size does not grow steadily with width"
        )
    return out


# ----------------------------------------------------------------------------- random features


def gap_slopes(rf: xr.Dataset) -> tuple[str, dict[str, float]] | None:
    """(source, slope per gap a, b, c) of rf.nc: the slopes fitted on the tail of the rates list where
    all three are finite ("fitted"), else those of the deterministic equivalent at large ψ2
    ("large-ψ2", ``asymptotic_slope_*``); None where neither is finite."""
    for source, prefix in (("fitted", "slope"), ("large-ψ2", "asymptotic_slope")):
        slope = {g: float(rf.attrs.get(f"{prefix}_{g}", np.nan)) for g in "abc"}
        if all(np.isfinite(list(slope.values()))):
            return source, slope
    return None


def fast_ridge_transfer(slope: dict[str, float]) -> bool:
    """Theorem 3's fast transfer of the ridge penalty, read off the slopes: b_n decays faster than √a_n."""
    return slope["b"] < slope["a"] / 2


def rf_slopes(rf: xr.Dataset) -> list[str]:
    """The gaps' log-log slopes against Theorem 3's, and the two orderings Theorem 3 implies (c_n
    decays faster than a_n; b_n faster than √a_n), each stated as the data show it, from
    :func:`gap_slopes`."""
    predicted = {g: float(rf.attrs.get(f"predicted_slope_{g}", np.nan)) for g in "abc"}
    found = gap_slopes(rf)
    out = []
    if found is None or found[0] != "fitted":
        tail = rf.attrs.get("slope_fit_psi2", "[]")
        out.append(
            f"no slope fitted on the rates list: its tail (ψ2 ≥ slope_fit_min_psi2) holds {tail}, a slope needs two"
        )
    if found is None:
        return out
    source, slope = found
    where = (
        f"fitted over ψ2 = {rf.attrs.get('slope_fit_psi2', '[]')}"
        if source == "fitted"
        else ("of the deterministic equivalent at large ψ2 (asymptotic_slope_*)")
    )
    out.append(
        f"slopes against ψ2 {where}: "
        + ", ".join(f"{g}_n {fmt(slope[g])} (Theorem 3: {fmt(predicted[g], 'g')})" for g in "abc")
    )
    c_faster = slope["c"] < slope["a"]
    out.append(f"c_n decays {'faster' if c_faster else 'no faster'} than a_n ({fmt(slope['c'])} vs {fmt(slope['a'])})")
    fast = fast_ridge_transfer(slope)
    out.append(
        f"b_n decays {'faster' if fast else 'no faster'} than √a_n ({fmt(slope['b'])} vs {fmt(slope['a'] / 2)}): "
        f"{'fast' if fast else 'no fast'} transfer of the ridge penalty"
    )
    return out


# ----------------------------------------------------------------------------- comparisons


def comparison_at_largest(ds: xr.Dataset) -> list[str]:
    """Per scheme, at the largest width: transfer error with its interval, stability, edge optima."""
    w = int(ds["width"].values.max())
    out = []
    for p in ds["param"].values:
        r = ds.sel(param=p, width=w)
        te = float(r["transfer_error"])
        err = (
            f"transfer error {fmt(te)} [{fmt(r['transfer_error_lo'])}, {fmt(r['transfer_error_hi'])}]"
            if not np.isposinf(te)
            else "transferred value diverges"
        )
        edges = [int(x) for x in ds["width"].values if bool(ds["at_edge"].sel(param=p, width=x))]
        edge = f"; optimum at a grid edge at width {widths_text(edges)}" if edges else ""
        out.append(
            f"scheme {p} at width {w}: {err}; runs not diverged {fmt(r['stability_grid'], '.2f')} over the grid, "
            f"{fmt(r['stability_transferred'], '.2f')} at the transferred value{edge}"
        )
    return out


def stability_trend(ds: xr.Dataset) -> list[str]:
    """Per scheme: the fraction of runs not diverged over the grid at the smallest and largest width."""
    w0, w1 = int(ds["width"].values.min()), int(ds["width"].values.max())
    return [
        f"scheme {p}: runs not diverged over the grid {fmt(ds['stability_grid'].sel(param=p, width=w0), '.2f')} at "
        f"width {w0}, {fmt(ds['stability_grid'].sel(param=p, width=w1), '.2f')} at width {w1}"
        for p in ds["param"].values
    ]


# ------------------------------------------------------------------------------ coordinate check


def slope_ranges(
    ds: xr.Dataset, steps: list[int] | None = None, groups: dict[str, list[str]] | None = None
) -> list[str]:
    """Per parametrization: the range of the log-log slopes against width of each quantity over the
    steps drawn and the layer groups drawn (``groups``: group → its layers, whose slopes are averaged
    as the figure's legend does; None: every layer alone), and whether they all lie within
    :data:`FLAT_SLOPE` of 0."""
    out = []
    for p in ds["parametrization"].values:
        parts = []
        for name, label in (("activation_slope", "activation"), ("change_slope", "change since init")):
            if name not in ds:
                continue
            s = ds[name].sel(parametrization=p)
            if steps:
                s = s.sel(step=[t for t in steps if t in s["step"].values])
            if groups:
                s = xr.concat([s.sel(layer=layers).mean("layer") for layers in groups.values()], dim="group")
            values = s.values[np.isfinite(s.values)]
            if not values.size:
                continue
            flat = np.abs(values).max() <= FLAT_SLOPE
            parts.append(
                f"{label} slopes {fmt(values.min(), '+.2f')} to {fmt(values.max(), '+.2f')} "
                + (f"(all within ±{FLAT_SLOPE:g}: width-independent)" if flat else "(not all near 0: width-dependent)")
            )
        if parts:
            out.append(f"{p}: " + "; ".join(parts))
    return out


# ------------------------------------------------------------------------------- sample-wise


def overlap_level(sw: xr.Dataset, lr: float) -> str:
    """The mean overlap of the hardest and of the easiest examples between different widths, against
    the overlap random sets of that size would have (the set's fraction of the validation set)."""
    hp = sw.attrs.get("hp", "lr")
    fraction = float(sw.attrs["overlap_size"]) / float(sw.attrs["n_samples"])
    parts = []
    for name, label in (("overlap_hard", "hardest"), ("overlap_easy", "easiest")):
        v = sw[name].sel({hp: lr}).values.astype(float)
        off = v[~np.eye(v.shape[0], dtype=bool)] if v.ndim == 2 and v.shape[0] == v.shape[1] else v.ravel()
        off = off[np.isfinite(off)]
        if not off.size:
            continue
        mean = float(off.mean())
        where = "above" if mean > fraction else "not above"
        parts.append(f"{label} {fmt(mean, '.2f')} ({where} chance)")
    if not parts:
        return "no overlap between different widths could be measured"
    return (
        f"mean overlap between different widths at {hp} = {lr:g}: " + ", ".join(parts) + f"; random sets of that size "
        f"would overlap by about {fmt(fraction, '.2f')}"
    )


__all__ = [
    "FLAT_RESIDUAL",
    "FLAT_SLOPE",
    "PROFILE_AGREEMENT",
    "bimodality",
    "comparison_at_largest",
    "edge_optima",
    "fast_ridge_transfer",
    "gap_slopes",
    "grid_sensitivity",
    "grid_step",
    "kappa_ranges",
    "local_minima",
    "lowest_loss",
    "minimiser_spread",
    "movement",
    "movement_short",
    "optimum_movement",
    "optimum_spread",
    "overlap_level",
    "per_param",
    "profile_agreement",
    "residual_effect",
    "residual_window",
    "rf_slopes",
    "slope_ranges",
    "stability_trend",
    "topk_and_residual",
    "sweep_findings",
    "topk_minimisers",
    "transfer_cost",
    "widths_text",
]
