"""How well the EMA-linearised loss reproduces the EMA loss, per run, from sweep.nc.

The trajectory decomposition splits the *linearised* loss change L(w̄_0) + Σ δφ; it explains the loss
the sweeps measure only as far as that tracks the EMA loss. run.nc's ``linearization_gap`` is
|linearised − EMA final loss| / |EMA loss change|; its signed counterpart here,
(linearised change / EMA change) − 1 at each run's last EMA point, says in which direction: above 0
the linearisation over-predicts the EMA loss change, below 0 it under-predicts it.

Shared by summary.md (:func:`gap_markdown`) and the captions of the figures that draw the
linearised loss (Fig 7, Fig 13): :func:`gap_summary` and :func:`gap_lines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .formatting import format_percent as _pct

__all__ = [
    "GAP_TOLERANCE",
    "GapSummary",
    "describe_run_gap",
    "gap_at",
    "gap_lines",
    "gap_markdown",
    "gap_summary",
    "linearization_rule",
    "signed_gap",
]

# a relative gap above this (5%) is reported by place: the decomposition is then a rough account
GAP_TOLERANCE = 0.05


def linearization_rule(sweep: xr.Dataset) -> str:
    """The decomposition's rule the study ran with (``decomposition.linearization``; absent: left)."""
    try:
        block = json.loads(sweep.attrs.get("config", "{}"))
    except (TypeError, ValueError):
        return "left"
    return str((block.get("decomposition") or {}).get("linearization") or "left")


def _last_finite(da: xr.DataArray, dim: str = "eval_step") -> xr.DataArray:
    """Each run's value at its last finite point along ``dim`` (shorter runs are NaN-padded)."""
    da = da.transpose(..., dim)
    values = da.values
    finite = np.isfinite(values)
    last = np.where(finite.any(-1), values.shape[-1] - 1 - np.argmax(finite[..., ::-1], axis=-1), 0)
    out = np.take_along_axis(values, last[..., None], axis=-1)[..., 0]
    out = np.where(finite.any(-1), out, np.nan)
    return xr.DataArray(out, dims=da.dims[:-1], coords={d: da[d] for d in da.dims[:-1] if d in da.coords})


def signed_gap(sweep: xr.Dataset) -> xr.DataArray | None:
    """(linearised loss change / EMA loss change) − 1 at each run's last EMA point, NaN for diverged
    runs; None where the sweep has no linearised loss."""
    if "loss_linearized" not in sweep or "loss_val_ema" not in sweep:
        return None
    ema = sweep["loss_val_ema"]
    start = ema.isel(eval_step=0)
    ema_end, lin_end = _last_finite(ema), _last_finite(sweep["loss_linearized"])
    change = ema_end - start
    ratio = ((lin_end - start) / change.where(change != 0)) - 1.0
    if "diverged" in sweep:
        ratio = ratio.where(~sweep["diverged"].astype(bool))
    return ratio


def _gap(sweep: xr.Dataset) -> xr.DataArray | None:
    """|gap| per run: run.nc's ``linearization_gap`` where the sweep has it, else |:func:`signed_gap`|."""
    if "linearization_gap" in sweep:
        gap = sweep["linearization_gap"].astype(float)
        if "diverged" in sweep:
            gap = gap.where(~sweep["diverged"].astype(bool))
        return gap
    signed = signed_gap(sweep)
    return None if signed is None else np.abs(signed)


@dataclass(frozen=True)
class GapSummary:
    """The linearisation gap of one sweep (one parametrization) over its runs."""

    hp: str
    table: xr.DataArray  # (width, hp): seed mean of |gap| (runs that did not diverge)
    lo: float  # smallest and largest |gap| of a single run
    hi: float
    worst: tuple[int, float, float]  # (width, hp value, seed-mean |gap|) where the seed mean is largest
    above: list[tuple[int, float, float]]  # (width, hp value, seed mean) above the tolerance
    near: tuple[int, float, float] | None  # largest seed mean within one grid step of a width's optimum
    over: int  # runs whose linearised change over-predicts the EMA change (signed gap > 0)
    under: int
    n_runs: int
    rule: str
    tolerance: float = GAP_TOLERANCE


def gap_summary(sweep: xr.Dataset, tolerance: float = GAP_TOLERANCE) -> GapSummary | None:
    """The gap of every run of ``sweep`` (one parametrization: select ``param`` first), summarised;
    None where the sweep has no linearised loss or no finite gap."""
    gap = _gap(sweep)
    if gap is None:
        return None
    hp = sweep.attrs["hp"]
    gap = gap.transpose("width", hp, ...)
    if not np.isfinite(gap.values).any():
        return None
    table = gap.mean("seed", skipna=True) if "seed" in gap.dims else gap
    values = table.values
    i, j = np.unravel_index(np.nanargmax(np.where(np.isfinite(values), values, -np.inf)), values.shape)
    widths, grid = table["width"].values, table[hp].values
    above = [
        (int(widths[a]), float(grid[b]), float(values[a, b]))
        for a in range(values.shape[0])
        for b in range(values.shape[1])
        if np.isfinite(values[a, b]) and values[a, b] > tolerance
    ]
    signed = signed_gap(sweep)
    s = signed.values[np.isfinite(signed.values)] if signed is not None else np.array([])
    finite = gap.values[np.isfinite(gap.values)]
    return GapSummary(
        hp=hp,
        table=table,
        lo=float(finite.min()),
        hi=float(finite.max()),
        worst=(int(widths[i]), float(grid[j]), float(values[i, j])),
        above=above,
        near=_near_optimum(sweep, table),
        over=int((s > 0).sum()),
        under=int((s < 0).sum()),
        n_runs=int(finite.size),
        rule=linearization_rule(sweep),
        tolerance=tolerance,
    )


def _near_optimum(sweep: xr.Dataset, table: xr.DataArray) -> tuple[int, float, float] | None:
    """(width, hp value, seed-mean |gap|) where the gap is largest among each width's discrete optimum
    of the sweep's metric and its grid neighbours (the runs the fits lean on); None without a metric."""
    metric = sweep.attrs.get("metric")
    if metric not in sweep:
        return None
    hp = sweep.attrs["hp"]
    loss = sweep[metric].where(~sweep["diverged"].astype(bool)) if "diverged" in sweep else sweep[metric]
    loss = loss.mean("seed", skipna=False) if "seed" in loss.dims else loss
    loss = loss.transpose("width", hp).values
    gaps = table.transpose("width", hp).values
    widths, grid = table["width"].values, table[hp].values
    best = None
    for a in range(loss.shape[0]):
        if not np.isfinite(loss[a]).any():
            continue
        b0 = int(np.nanargmin(np.where(np.isfinite(loss[a]), loss[a], np.inf)))
        for b in range(max(b0 - 1, 0), min(b0 + 2, grid.size)):
            if np.isfinite(gaps[a, b]) and (best is None or gaps[a, b] > best[2]):
                best = (int(widths[a]), float(grid[b]), float(gaps[a, b]))
    return best


def _places(above: list[tuple[int, float, float]], hp: str) -> str:
    by_width: dict[int, list[str]] = {}
    for width, value, gap in above:
        by_width.setdefault(width, []).append(f"{value:g} ({_pct(gap)})")
    return "; ".join(f"width {w} at {hp} {', '.join(v)}" for w, v in by_width.items())


def gap_lines(s: GapSummary) -> list[str]:
    """Bullets (markdown, and reStructuredText once escaped) on the gap: its range over runs, where it
    is largest, where its seed mean exceeds the tolerance, and its direction."""
    lines = [
        f"- linearisation gap |linearised - EMA final loss| / |EMA loss change| over the {s.n_runs} runs "
        f"({s.rule} rule): {_pct(s.lo)} to {_pct(s.hi)}; largest seed mean {_pct(s.worst[2])} at width "
        f"{s.worst[0]}, {s.hp} {s.worst[1]:g}",
    ]
    if s.near is not None:
        within = "within" if s.near[2] <= s.tolerance else "above"
        lines.append(
            f"- near the optimum (each width's best {s.hp} on the grid and its neighbours): largest seed mean "
            f"{_pct(s.near[2])} at width {s.near[0]}, {s.hp} {s.near[1]:g}, {within} the {_pct(s.tolerance)} tolerance"
        )
    if s.above:
        lines.append(f"- seed mean above {_pct(s.tolerance)}: {_places(s.above, s.hp)}")
    else:
        lines.append(f"- seed mean at or below {_pct(s.tolerance)} at every width and {s.hp}")
    if s.over or s.under:
        if s.under == 0:
            direction = f"over-predicts the EMA loss change in all {s.over} runs"
        elif s.over == 0:
            direction = f"under-predicts the EMA loss change in all {s.under} runs"
        else:
            direction = f"over-predicts the EMA loss change in {s.over} runs and under-predicts it in {s.under}"
        lines.append(f"- the linearised loss {direction}")
    return lines


def gap_markdown(sweep: xr.Dataset) -> list[str]:
    """summary.md's section on the gap: a table width × swept value of the seed-mean gap and the
    bullets of :func:`gap_lines`; [] where the sweep has no linearised loss."""
    s = gap_summary(sweep)
    if s is None:
        return []
    grid = s.table[s.hp].values
    lines = [
        "The decomposition splits the EMA-linearised loss, so it explains the measured loss only as far "
        "as the two agree. Seed mean of |linearised - EMA final loss| / |EMA loss change| per run:",
        "",
        f"| width | {' | '.join(f'{s.hp} {v:g}' for v in grid)} |",
        "|---:|" + "---:|" * grid.size,
    ]
    for w in s.table["width"].values:
        row = s.table.sel(width=w).values
        lines.append(f"| {int(w)} | " + " | ".join(_pct(x) for x in row) + " |")
    return lines + [""] + gap_lines(s)


def gap_at(sweep: xr.Dataset, width: int, value: float, seed) -> tuple[float, float]:
    """(|gap|, signed gap) of one run (NaN where unknown)."""
    hp = sweep.attrs["hp"]
    where = {"width": width, hp: value, "seed": seed}
    gap = _gap(sweep)
    signed = signed_gap(sweep)
    g = float(gap.sel(where)) if gap is not None else np.nan
    sg = float(signed.sel(where)) if signed is not None else np.nan
    return g, sg


def describe_run_gap(gap: float, signed: float) -> str:
    """One run's gap in words: its size and direction."""
    if not np.isfinite(gap):
        return "no linearisation gap (the run diverged or its EMA loss did not change)"
    if np.isfinite(signed) and signed != 0:
        way = "over-predicts" if signed > 0 else "under-predicts"
        return f"the linearised loss {way} the EMA loss change by {_pct(abs(signed))}"
    return f"the linearised and the EMA loss change differ by {_pct(gap)}"
