"""Captions of the Snakemake report (``snakemake --report results/report.html``): the shared part.

A figure's caption, ``workflow/report/<figure id>.rst``, is its own description followed by the line
``{{ snakemake.params.caption }}``, the reStructuredText :func:`figure_caption` builds: the paper
figure it reproduces, every study it draws with its key settings (from the configuration), and the
numbers fitted to them (transfer.nc: scaling laws, rates and verdict; comparison.nc:
optimal-learning-rate exponents; rf.nc: slopes of the gaps; advice.nc: the transfer advice).

The fitted numbers exist only once the analyses ran, so the figure job, which reads those datasets
anyway, writes them beside the figure (:func:`write_fitted_numbers`, ``results/figures/fits/
<stem>.rst``), and the caption parameter reads that small file. The parameter is a function of the
rule's ``output``: Snakemake leaves such parameters out of its rerun triggers (a caption never
redraws a figure) and computes them again when it writes the report; it costs a file read, not an
import of the analysis stack, each time Snakemake builds its DAG.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["figure_caption", "fitted_numbers", "paper_figure", "study_settings", "write_fitted_numbers"]

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
    """The shared part of a figure's caption (reStructuredText), from the loaded config, the paths
    of the rule's input (datasets under ``results/studies/<study>/`` name the studies drawn) and the
    file :func:`write_fitted_numbers` wrote, where it exists."""
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
    from .analysis.formatting import format_number as num  # "n/a" where a fit is missing

    out = []
    for p in ds["param"].values:
        r = ds.sel(param=p)
        out.append(
            f"- scheme ``{p}``: optimal-{ds.attrs.get('hp', 'hp')} exponent x = "
            f"{num(r['lr_exponent'], '.3g')} ± {num(r['lr_exponent_se'], '.3g')} (eta\\* ~ n^-x); "
            f"hidden-layer learning rate applied: x = {num(r['lr_exponent_effective'], '.3g')}"
        )
    out.append(f"- verdict: {rst_escape(ds['verdict'].values.item())}")
    return out


def _rf(ds) -> list[str]:
    from .analysis.formatting import format_number as num

    return [
        f"- slope of {gap}_n against n/d: {num(ds.attrs[f'slope_{gap}'], '.3g')} (Theorem 3: "
        f"{float(ds.attrs[f'predicted_slope_{gap}']):g})"
        for gap in ("a", "b", "c")
        if f"slope_{gap}" in ds.attrs
    ]


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


def write_fitted_numbers(paths: Iterable[str], out: str) -> None:
    """The figure job's share of its caption: :func:`fitted_numbers` as a file (empty if none)."""
    from .io import write_text

    write_text(fitted_numbers(paths), out)
