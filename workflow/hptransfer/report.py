"""Captions of the Snakemake report (``snakemake --report results/report.html``): the part written
from the run.

A figure's caption, ``workflow/report/<figure id>.rst``, describes what the figure draws and how,
and ends with ``.. include:: {{ snakemake.output.fits }}``: the file the figure job writes beside the
figure (:func:`write_caption`, ``results/figures/fits/<stem>.rst``). Everything in a caption that
depends on the run is in that file, computed from the datasets the figure drew:

* :func:`figure_caption`: the paper figure it reproduces and every study it draws with its key
  settings (from the configuration);
* what the data show (:func:`caption_findings`): the sentences of the drawer module's
  ``findings(inputs, settings)`` (:mod:`hptransfer.figures.findings`), each a statement the data
  decide, so that a caption never asserts what the run does not support;
* :func:`fitted_numbers`: the numbers fitted to them (transfer.nc: scaling laws, rates and verdict,
  or why a fit could not be made; comparison.nc: optimal-learning-rate exponents; rf.nc: slopes of
  the gaps; advice.nc: the transfer advice).

The caption is no rule parameter: Snakemake would list it, raw, under the figure's "job parameters".
The docutils ``include`` directive reads the file when the report is built (relative to the working
directory, which is the workflow's), so building the report reruns nothing, and the figure job
rewrites the file whenever it redraws the figure (new data, settings or drawer code).

:func:`verdict_table` is the report's front page table: one line per study, from its analysis
datasets (rule ``verdicts``, ``results/verdicts.rst``).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping

__all__ = [
    "caption_findings",
    "caption_text",
    "figure_caption",
    "fitted_numbers",
    "paper_figure",
    "study_settings",
    "verdict_table",
    "write_caption",
    "write_verdict_table",
]

log = logging.getLogger(__name__)

# results/studies/<study>/<dataset>.nc
_DATASET = re.compile(r"(?:^|/)results/studies/([^/]+)/([^/]+)\.nc$")


def rst_escape(text: str) -> str:
    """Plain text as reStructuredText: no inline markup, no references."""
    return re.sub(r"([\\`*_|])", r"\\\1", str(text))


def paper_figure(figure_id: str) -> int | None:
    """The paper figure a catalogue id reproduces (``fig06`` → 6); None for the workflow's own."""
    m = re.fullmatch(r"fig(\d+)", figure_id)
    return int(m.group(1)) if m else None


def _datasets(paths: Iterable[str]) -> list[tuple[str, str, str]]:
    """(study, dataset, path) of the paths under ``results/studies/<study>/<dataset>.nc``."""
    return [m.groups() + (str(p),) for p in paths if (m := _DATASET.search(str(p)))]


def figure_caption(cfg: dict, figure_id: str, inputs: Iterable[str], fits: str | None = None) -> str:
    """The configuration's part of a figure's caption (reStructuredText): the paper figure and each
    study drawn with its key settings, from the loaded config and the paths of the rule's input
    (datasets under ``results/studies/<study>/`` name the studies drawn); followed by the text of
    the file ``fits``, where it is given and exists."""
    fields = []
    number = paper_figure(figure_id)
    if number is not None:
        fields.append(f":Paper figure: Fig {number}")
    for name in dict.fromkeys(study for study, _, _ in _datasets(inputs)):
        study = cfg["studies"][name]
        about = f" — {rst_escape(study['description'])}" if study.get("description") else ""
        fields += [
            f":Study: ``{name}`` ({study['kind']}){about}",
            f":Settings: {rst_escape('; '.join(study_settings(study)))}",
        ]
    blocks = ["\n".join(fields)] if fields else []
    if fits and os.path.exists(fits):
        blocks.append(Path(fits).read_text().strip())
    return "\n\n".join(b for b in blocks if b)


# ------------------------------------------------------------------------------- study settings


def study_settings(study: dict) -> list[str]:
    """Key settings of a (defaults-filled) study block, one short phrase each (its kind's words)."""
    from .studies import kind_of

    return kind_of(study).describe(study)


# ------------------------------------------------------------------------------ fitted numbers


def _transfer(ds) -> list[str]:
    from .analysis.summary import rates_block

    if "param" not in ds.dims:
        return rates_block(ds)
    out = []
    for p in ds["param"].values:  # a comparison study: one nested list per scheme
        out += [f"- scheme ``{p}``:", ""] + ["  " + line for line in rates_block(ds.sel(param=p))] + [""]
    return out


def _comparison(ds) -> list[str]:
    import numpy as np

    from .analysis.formatting import format_number as num

    out = []
    hp = ds.attrs.get("hp", "hp")
    for p in ds["param"].values:
        r = ds.sel(param=p)
        if not np.isfinite(float(r["lr_exponent"])):
            used = int(r["lr_exponent_n_points"]) if "lr_exponent_n_points" in r else 0
            out.append(
                f"- scheme ``{p}``: no optimal-{hp} exponent: {used} width(s) with an optimum inside the grid, "
                "and the fit needs two (edge optima only bound the optimum and are left out)"
            )
            continue
        se = float(r["lr_exponent_se"])
        spread = f" ± {num(se, '.3g')}" if np.isfinite(se) else " (no standard error: no degree of freedom)"
        effective = float(r["lr_exponent_effective"])
        applied = (
            f"; hidden-layer learning rate applied: x = {num(effective, '.3g')}"
            if np.isfinite(effective)
            else "; no hidden-layer exponent (the scheme's width factors are unknown)"
        )
        x = num(r["lr_exponent"], ".3g")
        out.append(f"- scheme ``{p}``: optimal-{hp} exponent x = {x}{spread} (eta\\* ~ n^-x){applied}")
    out.append(
        f"- verdict: {rst_escape(ds['verdict'].values.item())} — {rst_escape(ds['verdict_explanation'].values.item())}"
    )
    return out


def _rf(ds) -> list[str]:
    import numpy as np

    from .analysis.formatting import format_number as num

    out = []
    for gap in ("a", "b", "c"):
        if f"slope_{gap}" not in ds.attrs:
            continue
        slope, predicted = float(ds.attrs[f"slope_{gap}"]), float(ds.attrs[f"predicted_slope_{gap}"])
        if np.isfinite(slope):
            out.append(f"- slope of {gap}_n against n/d: {num(slope, '.3g')} (Theorem 3: {predicted:g})")
        else:
            tail = ds.attrs.get("slope_fit_psi2", "[]")
            out.append(
                f"- slope of {gap}_n against n/d: not fitted, the tail of the rates list holds {rst_escape(tail)} "
                f"and a slope needs two width ratios (Theorem 3: {predicted:g})"
            )
    return out


def _advice(ds) -> list[str]:
    from .analysis.advice_summary import advice_lines

    if "param" not in ds.dims:
        return advice_lines(ds, rst_escape)
    out = []
    for p in ds["param"].values:  # one nested list per scheme
        lines = advice_lines(ds.sel(param=p), rst_escape)
        out += [f"- scheme ``{p}``:", ""] + ["  " + line for line in lines] + [""]
    return out


_FITS: dict[str, Callable] = {"transfer": _transfer, "comparison": _comparison, "rf": _rf, "advice": _advice}


def fitted_numbers(paths: Iterable[str]) -> str:
    """The numbers fitted in the datasets among ``paths`` (``transfer``, ``transfer_easy``, …,
    ``comparison``, ``rf``, ``advice``), one titled bullet list per dataset; "" where there are none."""
    from .io import open_dataset

    blocks = []
    for study, dataset, path in _datasets(paths):
        render = _FITS.get(dataset.split("_")[0])
        if render is not None:
            lines = render(open_dataset(path))
            blocks.append(f"Fitted to ``{study}`` (``{dataset}.nc``):\n\n" + "\n".join(lines).rstrip())
    return "\n\n".join(blocks) + "\n" if blocks else ""


# -------------------------------------------------------------------------- the figure job's part


def caption_findings(module: str, inputs: Mapping, settings: dict) -> list[str]:
    """The drawer module's ``findings(inputs, settings)`` (plain sentences), [] where it has none. A
    failure is logged and named in the caption rather than failing the figure job."""
    from .figures.render import drawer

    findings = getattr(drawer(module), "findings", None)
    if findings is None:
        return []
    try:
        return [str(line) for line in findings(inputs, settings)]
    except Exception as exc:  # a caption is never worth a failed workflow, but is never silent either
        log.exception("findings of %s failed", module)
        return [f"(the figure job could not compute what the data show: {type(exc).__name__}: {exc})"]


def caption_text(cfg: dict, figure_id: str, module: str, paths: Mapping[str, str], settings: dict) -> str:
    """The run's part of a figure's caption (reStructuredText): :func:`figure_caption`, what the data
    show (:func:`caption_findings`) and :func:`fitted_numbers`. ``paths``: the figure's datasets by
    input name, as its rule has them."""
    from .io import open_dataset

    inputs = {name: open_dataset(path) for name, path in paths.items()}
    blocks = [figure_caption(cfg, figure_id, paths.values())]
    findings = caption_findings(module, inputs, settings)
    if findings:
        head = "**In this run** (computed by the figure job from the datasets drawn):"
        blocks.append(head + "\n\n" + "\n".join(f"- {rst_escape(line)}" for line in findings))
    blocks.append(fitted_numbers(paths.values()).strip())
    return "\n\n".join(b for b in blocks if b) + "\n"


def write_caption(cfg: dict, figure_id: str, module: str, paths: Mapping[str, str], settings: dict, out: str) -> None:
    """The figure job's share of its caption, :func:`caption_text`, as the file the caption includes."""
    from .io import write_text

    write_text(caption_text(cfg, figure_id, module, paths, settings), out)


# ------------------------------------------------------------------------- the front page's table


def _transfer_verdict(t) -> str:
    """label — what decides it (β − α/2 with its interval, or why there are no rates), how the optimum
    moved, edge optima."""
    import numpy as np

    from .analysis.summary import fit_reasons
    from .figures.findings import movement_short

    label = str(t["verdict"].values.item())
    missing = [name for name in ("alpha", "beta") if not np.isfinite(float(t[name]))]
    if missing:  # the analysis' own reason, not "alpha=nan"
        reasons = fit_reasons(t)
        why = {reasons.get(name) or "no finite estimate" for name in missing}
        decided = f"{' and '.join(missing)} not estimated ({'; '.join(sorted(why))})"
    else:
        level = f"{100 * float(t.attrs.get('interval_level', 0.9)):g}%"
        lo, hi = float(t["margin_lo"]), float(t["margin_hi"])
        interval = f", {level} interval [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) and np.isfinite(hi) else ""
        decided = f"beta - alpha/2 = {float(t['margin']):.3g}{interval}"
    edges = int(np.asarray(t["at_edge"].values, bool).sum())
    edge = f"; optimum at a grid edge at {edges} of {t.sizes['width']} widths" if edges else ""
    return f"**{label}** — {rst_escape(decided)}; {rst_escape(movement_short(t))}{edge}"


def _first_sentence(text: str) -> str:
    head, dot, _ = str(text).partition(". ")
    return head + ("." if dot else "")


def _rf_verdict(rf) -> str:
    """fast / not fast transfer of the ridge penalty from the gaps' slopes (b_n against √a_n)."""
    from .figures.findings import fast_ridge_transfer, gap_slopes

    found = gap_slopes(rf)
    if found is None:
        return "no slopes of the gaps"
    source, s = found
    label = "fast" if fast_ridge_transfer(s) else "not fast"
    slopes = (
        f"{source} slopes: b_n {s['b']:.3g} against a_n/2 {s['a'] / 2:.3g}; c_n {s['c']:.3g} against a_n {s['a']:.3g}"
    )
    return f"**{label}** — {rst_escape(slopes)}"


def _study_verdict(study: str, kind: str, datasets: dict) -> list[str]:
    """The verdict line(s) of one study from its analysis datasets (transfer, comparison or rf)."""
    if "comparison" in datasets:
        c = datasets["comparison"]
        label, why = c["verdict"].values.item(), _first_sentence(c["verdict_explanation"].values.item())
        return [f"**{rst_escape(label)}** — {rst_escape(why)}"]
    if "transfer" in datasets:
        t = datasets["transfer"]
        if "param" in t.dims:
            return [f"scheme ``{p}``: {_transfer_verdict(t.sel(param=p))}" for p in t["param"].values]
        return [_transfer_verdict(t)]
    if "rf" in datasets:
        return [_rf_verdict(datasets["rf"])]
    return ["no analysis dataset"]


def verdict_table(cfg: dict, paths: Iterable[str]) -> str:
    """One entry per study (config order) with its verdict and, in a few words, what decides it, from
    its analysis datasets among ``paths`` (transfer.nc, comparison.nc, rf.nc): the front page of the
    report includes it (reStructuredText, readable as plain text). The details are in each study's
    summary and in the figures' captions."""
    from .io import open_dataset

    found: dict[str, dict] = {}
    for study, dataset, path in _datasets(paths):
        if dataset in ("transfer", "comparison", "rf"):
            found.setdefault(study, {})[dataset] = open_dataset(path)
    items = []
    for name in cfg["studies"]:
        if name not in found:
            continue
        kind = cfg["studies"][name]["kind"]
        lines = _study_verdict(name, kind, found[name])
        head = f"- ``{name}`` ({kind}): "
        if len(lines) == 1:
            items.append(head + lines[0])
        else:
            items.append(head + "\n\n" + "\n".join(f"  - {line}" for line in lines) + "\n")
    return "\n".join(items).rstrip() + "\n" if items else "No study has an analysis dataset yet.\n"


def write_verdict_table(cfg: dict, paths: Iterable[str], out: str) -> None:
    """:func:`verdict_table` as the file the report's front page includes (rule ``verdicts``)."""
    from .io import write_text

    write_text(verdict_table(cfg, paths), out)
