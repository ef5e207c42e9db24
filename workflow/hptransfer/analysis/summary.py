"""Human-readable markdown summary of transfer.nc (and kappa.nc) for ``summary.md``."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .advice_summary import advice_lines
from .formatting import format_number as _num
from .rates import MARGIN_ATOL

__all__ = ["rates_block", "render_summary", "theorem2_significance"]

_MEANING = {
    "fast": "the optimal hyperparameter converges faster than the loss (beta > alpha/2): tuning a "
    "small proxy and transferring beats tuning at the target width (Theorem 2).",
    "weak": "the optimal hyperparameter converges at (or below) the agnostic rate beta = alpha/2: "
    "transfer holds but gives no asymptotic gain over direct tuning.",
    "inconclusive": "the widths/seeds available do not pin beta - alpha/2 down well enough to "
    "decide; more widths, seeds or a finer grid are needed.",
}


def _scalar(ds: xr.Dataset, name: str):
    value = ds[name].values
    return value.item() if hasattr(value, "item") else value


def _optimum_table(t: xr.Dataset) -> list[str]:
    hp, level = t.attrs.get("hp", "hp"), float(t.attrs.get("interval_level", 0.9))
    lines = [
        f"| width | {hp}* | {100 * level:g}% CI of {hp}* | nu* | loss* | {100 * level:g}% CI "
        "of loss* | transferred loss | note |",
        "|---:|---:|---|---:|---:|---|---:|---|",
    ]
    for w in t["width"].values:
        row = t.sel(width=w)
        note = "edge optimum (excluded from fits)" if bool(row["at_edge"]) else ""
        lines.append(
            f"| {int(w)} | {_num(row['hp_star'])} | [{_num(row['hp_star_lo'])}, "
            f"{_num(row['hp_star_hi'])}] | {_num(row['nu_star'], '.3f')} "
            f"| {_num(row['loss_star'])} "
            f"| [{_num(row['loss_star_lo'])}, {_num(row['loss_star_hi'])}] "
            f"| {_num(row['loss_transferred'])} | {note} |"
        )
    return lines


def rates_block(t: xr.Dataset) -> list[str]:
    """Markdown bullets (also valid reStructuredText) with the scaling fits, rates and verdict of one
    transfer analysis; shared with the report captions (hptransfer.report)."""
    level = float(t.attrs.get("interval_level", 0.9))
    ci = f"{100 * level:g}%"
    label = str(_scalar(t, "verdict"))
    return [
        f"- loss fit along nu*(n): L(n) = {_num(t['fit_opt_L_inf'])} + {_num(t['fit_opt_A'])} "
        f"n^-{_num(t['fit_opt_alpha'], '.3f')} (R^2 = {_num(t['fit_opt_r2'], '.4f')})",
        f"- loss fit along the transferred {t.attrs.get('hp', 'hp')} "
        f"(width {t.attrs.get('reference_width')}): L(n) = {_num(t['fit_transfer_L_inf'])} + "
        f"{_num(t['fit_transfer_A'])} n^-{_num(t['fit_transfer_alpha'], '.3f')}",
        f"- optimal-{t.attrs.get('hp', 'hp')} law nu*(n) = -B n^-beta + D: "
        f"B = {_num(t['lr_law_B'])}, beta = {_num(t['lr_law_beta'], '.3f')}, "
        f"D = {_num(t['lr_law_D'])}",
        f"- alpha = {_num(t['alpha'], '.3f')} ({ci} interval [{_num(t['alpha_lo'], '.3f')}, "
        f"{_num(t['alpha_hi'], '.3f')}]); beta = {_num(t['beta'], '.3f')} ({ci} interval "
        f"[{_num(t['beta_lo'], '.3f')}, {_num(t['beta_hi'], '.3f')}]); infinity = "
        f"{t.attrs.get('infinity')}",
        f"- **verdict: {label}** — {_MEANING.get(label, '')}",
        f"  ({_scalar(t, 'verdict_explanation')})",
        f"- Theorem 2 ({t.attrs.get('theorem2', '')}): error ~ "
        f"F^-{_num(t['thm2_direct_exponent'], '.3f')} by direct tuning vs "
        f"F^-{_num(t['thm2_transfer_exponent'], '.3f')} by transfer: {_scalar(t, 'thm2_better')} "
        f"from the point estimates, {theorem2_significance(t, ci)}",
    ]


def theorem2_significance(t: xr.Dataset, ci: str) -> str:
    """Whether the margin's interval decides Theorem 2's comparison (transfer wins iff beta >
    alpha/2), which the point estimates alone cannot say: "decided (...)" or "undecided (...)".

    ``t``: a transfer analysis (only ``margin_lo`` and ``margin_hi`` are read); ``ci``: the
    interval's level as text, e.g. "90%".
    """
    lo, hi = float(t["margin_lo"]), float(t["margin_hi"])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undecided (no interval for beta - alpha/2)"
    span = f"{ci} interval of beta - alpha/2 [{_num(lo, '.3f')}, {_num(hi, '.3f')}]"
    # the same zero as the verdict's, so the two never disagree
    decided = lo > MARGIN_ATOL or hi < -MARGIN_ATOL
    return f"decided ({span})" if decided else f"undecided ({span} contains 0)"


def _kappa_table(k: xr.Dataset) -> list[str]:
    hp = k.attrs.get("hp", "hp")
    grid = k[hp].values
    lines = [
        f"kappa-hat(n) per {hp} (n_max = {k.attrs.get('n_max')} stands in for infinity; -1 = FAIL or unusable point):",
        "",
        "| width | " + " | ".join(f"{g:.4g}" for g in grid) + " | tau1, tau2 |",
        "|---:|" + "---:|" * len(grid) + "---|",
    ]
    for w in k["width"].values:
        row = k.sel(width=w)
        taus = "FAIL" if bool(row["failed"]) else f"{_num(row['tau1'])}, {_num(row['tau2'])}"
        lines.append(f"| {int(w)} | " + " | ".join(str(int(x)) for x in row["kappa"].values) + f" | {taus} |")
    return lines


def _render_one(t: xr.Dataset, k: xr.Dataset | None, a: xr.Dataset | None) -> list[str]:
    lines = ["### Optimum per width", ""] + _optimum_table(t) + ["", "### Rates and verdict", ""]
    lines += rates_block(t)
    notes = str(_scalar(t, "fit_notes"))
    if notes:
        lines += [f"- fit notes: {notes}"]
    if a is not None:
        lines += ["", "### Transfer advice (advice.nc)", ""] + advice_lines(a)
    if k is not None:
        lines += ["", "### Truncation kappa-hat (Algorithm 1)", ""] + _kappa_table(k)
    return lines


def _part(ds: xr.Dataset | None, param) -> xr.Dataset | None:
    return ds.sel(param=param) if ds is not None and "param" in ds.dims else ds


def render_summary(transfer: xr.Dataset, kappa: xr.Dataset | None = None, advice: xr.Dataset | None = None) -> str:
    """Short markdown report: optimum per width with CIs, alpha, beta, verdict, the transfer advice
    (where advice.nc is given), kappa-hat table."""
    study = transfer.attrs.get("study", "")
    lines = [
        f"# Hyperparameter transfer summary{': ' + study if study else ''}",
        "",
        f"Swept `{transfer.attrs.get('hp')}` (coordinate {transfer.attrs.get('coordinate')}); "
        f"metric `{transfer.attrs.get('metric')}`; "
        f"optimum: {transfer.attrs.get('interpolant')}; "
        f"intervals: {transfer.attrs.get('bootstrap_method')}.",
        "",
    ]
    if "param" in transfer.dims:
        for p in transfer["param"].values:
            parts = transfer.sel(param=p), _part(kappa, p), _part(advice, p)
            lines += [f"## Parametrization `{p}`", ""] + _render_one(*parts)
            lines.append("")
    else:
        lines += _render_one(transfer, kappa, advice)
    return "\n".join(lines).rstrip() + "\n"
