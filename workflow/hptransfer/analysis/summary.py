"""Human-readable markdown summary of transfer.nc (and kappa.nc) for ``summary.md``."""

from __future__ import annotations

import re

import numpy as np
import xarray as xr

from .advice_summary import advice_lines
from .formatting import format_number as _num
from .linearization import gap_markdown
from .rates import MARGIN_ATOL

__all__ = ["rates_block", "render_summary", "theorem2_significance"]

_MEANING = {
    "fast": "the optimal hyperparameter converges faster than the loss (beta > alpha/2): tuning a "
    "small proxy and transferring beats tuning at the target width (Theorem 2).",
    "weak": "the optimal hyperparameter converges at (or below) the agnostic rate beta = alpha/2: "
    "tuning a proxy and transferring gives no asymptotic gain over direct tuning (Theorem 2).",
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


_FIT_NAMES = ("fit_opt", "fit_transfer", "lr_law", "alpha", "beta")
_NOTE = re.compile(r"(?:^|; )(" + "|".join(_FIT_NAMES) + r"): ")


def fit_reasons(t: xr.Dataset) -> dict[str, str]:
    """transfer.nc's ``fit_notes`` ("fit_opt: <why>; lr_law: <why>; ...") as fit name -> why."""
    notes = str(_scalar(t, "fit_notes")) if "fit_notes" in t else ""
    marks = list(_NOTE.finditer(notes))
    return {
        m.group(1): notes[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(notes)].strip()
        for i, m in enumerate(marks)
    }


def _finite(t: xr.Dataset, *names: str) -> bool:
    return all(name in t and np.isfinite(float(t[name])) for name in names)


def _fit_text(t: xr.Dataset, prefix: str, law: str, names: tuple[str, ...], reasons: dict[str, str]) -> str:
    """A fitted law as ``law`` (a format string over its parameters), or, where the fit could not be
    made or is not identified, why, in words (transfer.nc's ``fit_notes`` and ``*_identified``)."""
    why = reasons.get(prefix, "")
    full = [f"{prefix}_{name}" for name in names]
    if not _finite(t, *full):
        return f"no fit: {why or 'the fit did not converge'}{_edge_context(t, prefix)}"
    if f"{prefix}_identified" in t and not bool(t[f"{prefix}_identified"]):
        return (
            f"not identified: {why or 'its exponent sits on a bound'} (the data show no power-law curvature "
            "over these widths, so the fitted parameters mean little)"
        )
    values = {name: float(t[f"{prefix}_{name}"]) for name in names}
    if "A" in values:  # L_inf + A n^-alpha with A's sign in the operator: "3.1 - 0.2 n^-0.5"
        values["sign"], values["A"] = ("-" if values["A"] < 0 else "+"), abs(values["A"])
    text = law.format(**values)
    return f"{text} ({why})" if why else text


def _edge_context(t: xr.Dataset, prefix: str) -> str:
    """Why the fits along nu*(n) have few points: widths whose optimum sits on a grid edge."""
    if prefix not in ("fit_opt", "lr_law") or "at_edge" not in t:
        return ""
    edge, total = int(np.asarray(t["at_edge"].values, bool).sum()), int(t.sizes.get("width", 0))
    if not edge:
        return ""
    return f"; {edge} of {total} widths have their optimum at a grid edge, which only bounds it, and are left out"


def _rate_text(t: xr.Dataset, name: str, ci: str, reasons: dict[str, str]) -> str:
    if not _finite(t, name):
        return f"{name}: not estimated ({reasons.get(name) or 'no finite estimate'})"
    interval = (
        f" ({ci} interval [{_num(t[f'{name}_lo'], '.3f')}, {_num(t[f'{name}_hi'], '.3f')}])"
        if _finite(t, f"{name}_lo", f"{name}_hi")
        else " (no interval)"
    )
    return f"{name} = {_num(t[name], '.3f')}{interval}"


def _rates_text(t: xr.Dataset, ci: str, reasons: dict[str, str]) -> str:
    """alpha and beta with their intervals; one phrase where neither could be estimated, for one reason."""
    if not _finite(t, "alpha") and not _finite(t, "beta") and reasons.get("alpha") == reasons.get("beta"):
        return f"alpha, beta: not estimated ({reasons.get('alpha') or 'no finite estimate'})"
    return f"{_rate_text(t, 'alpha', ci, reasons)}; {_rate_text(t, 'beta', ci, reasons)}"


def rates_block(t: xr.Dataset) -> list[str]:
    """Markdown bullets (also valid reStructuredText) with the scaling fits, rates and verdict of one
    transfer analysis; shared with the report captions (hptransfer.report). A fit that could not be
    made, or whose exponent is not identified, says why instead of printing its empty parameters."""
    level = float(t.attrs.get("interval_level", 0.9))
    ci = f"{100 * level:g}%"
    label = str(_scalar(t, "verdict"))
    hp = t.attrs.get("hp", "hp")
    reasons = fit_reasons(t)
    loss_law = "L(n) = {L_inf:.4g} {sign} {A:.4g} n^-{alpha:.3f}"
    fit_opt = _fit_text(t, "fit_opt", loss_law, ("L_inf", "A", "alpha"), reasons)
    if _finite(t, "fit_opt_r2") and not fit_opt.startswith(("no fit", "not identified")):
        fit_opt += f" (R^2 = {_num(t['fit_opt_r2'], '.4f')})"
    lines = [
        f"- loss fit along nu*(n): {fit_opt}",
        f"- loss fit along the transferred {hp} (width {t.attrs.get('reference_width')}): "
        + _fit_text(t, "fit_transfer", loss_law, ("L_inf", "A", "alpha"), reasons),
        f"- optimal-{hp} law nu*(n) = -B n^-beta + D: "
        + _fit_text(t, "lr_law", "B = {B:.4g}, beta = {beta:.3f}, D = {D:.4g}", ("B", "beta", "D"), reasons),
        f"- {_rates_text(t, ci, reasons)}; infinity = {t.attrs.get('infinity')}",
        f"- **verdict: {label}** — {_MEANING.get(label, '')}",
        f"  ({_scalar(t, 'verdict_explanation')})",
    ]
    if _finite(t, "thm2_direct_exponent", "thm2_transfer_exponent"):
        lines.append(
            f"- Theorem 2 ({t.attrs.get('theorem2', '')}): error ~ "
            f"F^-{_num(t['thm2_direct_exponent'], '.3f')} by direct tuning vs "
            f"F^-{_num(t['thm2_transfer_exponent'], '.3f')} by transfer: {_scalar(t, 'thm2_better')} "
            f"from the point estimates, {theorem2_significance(t, ci)}"
        )
    else:
        lines.append("- Theorem 2: not evaluated (its error exponents need both alpha and beta)")
    return lines


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


def _render_one(
    t: xr.Dataset, k: xr.Dataset | None, a: xr.Dataset | None, sweep: xr.Dataset | None = None
) -> list[str]:
    lines = ["### Optimum per width", ""] + _optimum_table(t) + ["", "### Rates and verdict", ""]
    lines += rates_block(t)  # a missing or degenerate fit says why (fit_notes) in its own line
    if a is not None:
        lines += ["", "### Transfer advice (advice.nc)", ""] + advice_lines(a)
    gap = gap_markdown(sweep) if sweep is not None else []
    if gap:
        lines += ["", "### Linearisation gap (sweep.nc)", ""] + gap
    if k is not None:
        lines += ["", "### Truncation kappa-hat (Algorithm 1)", ""] + _kappa_table(k)
    return lines


def _part(ds: xr.Dataset | None, param) -> xr.Dataset | None:
    return ds.sel(param=param) if ds is not None and "param" in ds.dims else ds


def render_summary(
    transfer: xr.Dataset,
    kappa: xr.Dataset | None = None,
    advice: xr.Dataset | None = None,
    sweep: xr.Dataset | None = None,
) -> str:
    """Short markdown report: optimum per width with CIs, alpha, beta, verdict, the transfer advice
    (where advice.nc is given), the linearisation gap of the decomposition's runs (where the sweep
    is given and has a linearised loss), kappa-hat table."""
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
            parts = transfer.sel(param=p), _part(kappa, p), _part(advice, p), _part(sweep, p)
            lines += [f"## Parametrization `{p}`", ""] + _render_one(*parts)
            lines.append("")
    else:
        lines += _render_one(transfer, kappa, advice, sweep)
    return "\n".join(lines).rstrip() + "\n"
