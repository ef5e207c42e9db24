"""The transfer advice in words: the bullets of summary.md's advice section, of the advice figure's
report caption and of ``hptransfer advise``, all from advice.nc alone."""

from __future__ import annotations

from typing import Callable

import numpy as np
import xarray as xr

from .formatting import format_number as _num

__all__ = ["advice_lines", "transfer_cost_verdict"]

_SPEED = {
    "fast": "transfer is fast (the interval of beta - alpha/2 lies above 0): a proxy's value loses less and less "
    "at the target as the proxy grows (Theorem 2 favours tuning a proxy and transferring)",
    "weak": "transfer is not fast (weak: beta is at or below alpha/2): tuning a proxy buys no asymptotic gain over "
    "tuning at the target, and a value extrapolated far leans on the law holding beyond the widths measured",
    "inconclusive": "fast transfer is not established (inconclusive verdict: the interval of beta - alpha/2 holds 0 "
    "and is wide): a value extrapolated far leans on the law holding beyond the widths measured",
}
# a transfer cost below this fraction of the loss gap a_N is called negligible
NEGLIGIBLE = 0.1


def _scalar(ds: xr.Dataset, name: str):
    value = ds[name].values
    return value.item() if hasattr(value, "item") else value


def transfer_cost_verdict(cost: float, cost_lo: float, cost_hi: float, gap: float) -> str:
    """How the loss of using the proxy's value at N compares with the loss gap a_N still to come."""
    if not np.isfinite(gap) or gap <= 0:
        return "no loss gap a_N to compare with (the loss law L(n) = L_inf + A n^-alpha is not identified)"
    if np.isfinite(cost_hi) and cost_hi <= NEGLIGIBLE * gap:
        return f"negligible: at most {cost_hi / gap:.1%} of a_N"
    if np.isfinite(cost_lo) and cost_lo >= gap:
        return "larger than a_N itself: retune at the target width"
    ratio = f"{_times(cost / gap)} a_N, " if np.isfinite(cost) else ""
    return f"not negligible: {ratio}up to {_times(cost_hi / gap)} a_N"


def _times(ratio: float) -> str:
    """A ratio to a_N: "35% of" below 1, "58 times" above."""
    return f"{ratio:.0%} of" if ratio < 1 else f"{ratio:.2g} times"


def _interval(row, name: str, fmt: str = ".3g") -> str:
    return f"[{_num(row[f'{name}_lo'], fmt)}, {_num(row[f'{name}_hi'], fmt)}]"


def _value_line(row, hp: str, pct: str, ref: int, coordinate: str) -> str:
    drift = f"{_num(row['drift'], '+.3g')} " if np.isfinite(float(row["drift"])) else ""
    return (
        f"use {hp} = {_num(row['hp_advised'], '.4g')} ({pct} interval {_interval(row, 'hp_advised', '.4g')}; "
        f"moved by {drift}{_interval(row, 'drift', '+.3g')} in {coordinate} from the optimum at {ref})"
    )


def _cost_line(row, hp: str, ref: int) -> str:
    cost = f"an expected {_num(row['suboptimality'])} " if np.isfinite(float(row["suboptimality"])) else ""
    verdict = transfer_cost_verdict(
        float(row["suboptimality"]),
        float(row["suboptimality_lo"]),
        float(row["suboptimality_hi"]),
        float(row["loss_gap"]),
    )
    gap = f", next to a loss gap a_N = {_num(row['loss_gap'])} {_interval(row, 'loss_gap')}: "
    return (
        f"using the {hp} tuned at {ref} there costs {cost}{_interval(row, 'suboptimality')} in loss against "
        f"retuning{gap if np.isfinite(float(row['loss_gap'])) else '; '}{verdict}"
    )


def _flops_line(row, advice: xr.Dataset) -> str:
    """The compute of tuning at the target against tuning at each usable proxy and one run there."""
    if not np.isfinite(float(row["direct_flops"])):
        return "compute: no FLOP count for this study"
    usable = advice["proxy"].values[advice["proxy_usable"].values.astype(bool)]
    proxies = ", ".join(f"{int(p)}: {_num(row['transfer_flops'].sel(proxy=p), '.3g')}" for p in usable)
    return (
        f"compute: tuning directly there takes {_num(row['direct_flops'], '.3g')} FLOPs, tuning at a proxy and "
        f"one run there {proxies}"
    )


def _budget_line(row, advice: xr.Dataset) -> str:
    proxies = advice["proxy"].values
    options = [
        f"tune at {int(p)} and train at {_num(row['reach_width'].sel(proxy=p), '.0f')}: "
        f"{_num(row['transfer_loss'].sel(proxy=p))} {_interval(row.sel(proxy=p), 'transfer_loss')}"
        for p in proxies
        if np.isfinite(float(row["transfer_loss"].sel(proxy=p)))
    ]
    if np.isfinite(float(row["direct_loss"])):
        options.insert(
            0,
            f"tune directly at {_num(row['direct_width'], '.0f')}: {_num(row['direct_loss'])} "
            f"{_interval(row, 'direct_loss')}",
        )
    where = "the budget given" if advice.attrs.get("budget_rule") == "given" else "the budget of tuning at it"
    predicted = f"; predicted losses: {'; '.join(options)}" if options else ""
    return (
        f"Theorem 2 at {where}, {_num(row['budget'], '.3g')} FLOPs ({int(_scalar(advice, 'grid_size'))} runs per "
        f"tuning){predicted}. Decision: {str(row['decision'].values)}"
    )


def _target_lines(advice: xr.Dataset, escape: Callable[[str], str]) -> list[str]:
    hp, ref = advice.attrs.get("hp", "hp"), int(_scalar(advice, "reference_width"))
    pct = f"{100 * float(advice.attrs.get('interval_level', 0.9)):g}%"
    lines = []
    for n in advice["target"].values:
        row = advice.sel(target=n)
        head = f"- **width {int(n)}**: "
        note = str(row["target_note"].values)
        if note:
            lines.append(head + escape(note))
            continue
        lines += [
            head + escape(_value_line(row, hp, pct, ref, advice.attrs.get("coordinate", "nu"))),
            head + escape(_cost_line(row, hp, ref)),
            head + escape(_flops_line(row, advice)),
            head + escape(_budget_line(row, advice)),
        ]
    return lines


def advice_lines(advice: xr.Dataset, escape: Callable[[str], str] = str) -> list[str]:
    """Markdown bullets (also valid reStructuredText once ``escape`` makes the text plain) of one
    parametrization's advice: the case in words, the speed of transfer, and per target width the
    value to use, what the proxy's value costs there and Theorem 2 at a budget."""
    refusal = str(_scalar(advice, "refusal"))
    if refusal:
        return [f"- **no advice**: {escape(refusal)}"]
    return [
        f"- **how**: {escape(str(_scalar(advice, 'statement')))}",
        f"- **speed**: {escape(_SPEED.get(str(_scalar(advice, 'verdict')), ''))}",
        f"- **cost model**: {escape(advice.attrs.get('cost_model_description', 'none'))}",
        *_target_lines(advice, escape),
    ]
