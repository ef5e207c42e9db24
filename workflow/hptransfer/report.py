"""Captions of the Snakemake report (``snakemake --report results/report.html``): the shared part.

A figure's caption, ``workflow/report/<figure id>.rst``, is its own description followed by the line
``{{ snakemake.params.caption }}``, the reStructuredText :func:`figure_caption` builds: the paper
figure it reproduces, every study it draws with its key settings (from the configuration), and the
numbers fitted to them (transfer.nc: scaling laws, rates and verdict; comparison.nc:
optimal-learning-rate exponents; rf.nc: slopes of the gaps).

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
        fields += [f":Study: ``{name}`` ({study['kind']}){about}",
                   f":Settings: {rst_escape('; '.join(study_settings(study)))}"]
    blocks = ["\n".join(fields)] if fields else []
    if fits and os.path.exists(fits):
        blocks.append(Path(fits).read_text().strip())
    return "\n\n".join(b for b in blocks if b)


# ------------------------------------------------------------------------------- study settings

def _values(xs) -> str:
    """All values, or for a long list its length and range."""
    def text(x) -> str:
        return format(x, "g") if isinstance(x, float) else str(x)

    xs = list(xs)
    return ", ".join(map(text, xs)) if len(xs) <= 6 else f"{len(xs)} values, {text(min(xs))} … {text(max(xs))}"


def _optimizer(o: dict) -> str:
    extra = []
    if o["name"] in ("adam", "adamw") and o.get("betas"):
        extra.append(f"betas {_values(o['betas'])}")
    if o.get("momentum") is not None:
        extra.append(f"momentum {o['momentum']:g}")
    if o["name"] == "dion" and o.get("rank_rule"):
        cap = f" (cap {o['rank_cap']})" if o["rank_rule"] == "bounded" and o.get("rank_cap") else ""
        extra.append(f"{o['rank_rule']} rank{cap}")
    if o.get("weight_decay"):
        extra.append(f"weight decay {o['weight_decay']:g}")
    return f"optimizer {o['name']}" + (f" ({', '.join(extra)})" if extra else "")


def _sweep(s: dict) -> list[str]:
    return [f"swept {s.get('hp', 'lr')}: {_values(s['grid'])}", f"widths {_values(s['widths'])}",
            f"seeds {_values(s['seeds'])}"]


def _training(s: dict) -> list[str]:
    t = s["training"]
    out = [f"{t['steps']} steps, batch {t['batch_size']}, {t['schedule']['kind']} schedule"]
    d = s.get("decomposition", {})
    if d.get("enabled"):
        out.append(f"decomposition top-k {_values(d['topk'])}")
    step = s.get("analysis", {}).get("step")
    if step is not None:
        out.append(f"analysed at step {step}")
    return out


def _lm(s: dict) -> list[str]:
    m = s["model"]
    rule = m.get("depth_rule", {}).get("rule", "fixed")
    depth = f"depth {m['depth']}" + ("" if rule == "fixed" else f" ({rule} depth rule)")
    return [f"model {m['block']} ({depth}, {m['heads']} heads, context {m['context']}, base width "
            f"{m['base_width']})", f"corpus {s['corpus']}",
            f"parametrization {', '.join(s['parametrizations'])}", _optimizer(s["optimizer"]),
            *_sweep(s), *_training(s)]


def _twolayer(s: dict) -> list[str]:
    task = f"task {s['task']} (d = {s['d']}" + (f", k = {s['k']})" if s["task"] == "kindex" else ")")
    factor = float(s.get("second_layer_lr_factor", 1.0))
    model = f"two-layer ReLU network, µP, Adam, base width {s['base_width']}" + (
        f", second-layer learning rate × {factor:g}" if factor != 1.0 else "")
    return [model, task, *_sweep(s),
            f"{s['steps']} steps, batch {s['batch_size']}, {s['val_size']} validation points"]


def _samplewise(s: dict) -> list[str]:
    return [f"bias-free two-layer ReLU MLP, base width {s['model']['base_width']}",
            f"data {s['dataset']['source']}", f"parametrization {', '.join(s['parametrizations'])}",
            _optimizer(s["optimizer"]), *_sweep(s), *_training(s)]


def _rf_ridge(s: dict) -> list[str]:
    given = [f"{k} = {s[k]:g}" for k in ("psi1", "sigma_eps") if k in s]
    out = ["random-features ridge regression, deterministic equivalent"
           + (f" ({', '.join(given)})" if given else " (the paper's psi1, sigma_eps)")]
    if "psi2_rates" in s:
        out.append(f"width ratios n/d {_values(s['psi2_rates'])}")
    sim = [f"{k} = {s['simulation'][k]}" for k in ("d", "n_draws") if k in s.get("simulation", {})]
    if sim:
        out.append(f"simulation {', '.join(sim)}")
    return out


_SETTINGS: dict[str, Callable[[dict], list[str]]] = {
    "lm": _lm, "compare": _lm, "twolayer": _twolayer, "samplewise": _samplewise, "rf_ridge": _rf_ridge,
}


def study_settings(study: dict) -> list[str]:
    """Key settings of a (defaults-filled) study block, one short phrase each."""
    return _SETTINGS.get(study["kind"], lambda s: [f"kind {s['kind']}"])(study)


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
    from .analysis.summary import _num as num  # "n/a" where a fit is missing

    out = []
    for p in ds["param"].values:
        r = ds.sel(param=p)
        out.append(f"- scheme ``{p}``: optimal-{ds.attrs.get('hp', 'hp')} exponent x = "
                   f"{num(r['lr_exponent'], '.3g')} ± {num(r['lr_exponent_se'], '.3g')} (eta\\* ~ n^-x); "
                   f"hidden-layer learning rate applied: x = {num(r['lr_exponent_effective'], '.3g')}")
    out.append(f"- verdict: {rst_escape(ds['verdict'].values.item())}")
    return out


def _rf(ds) -> list[str]:
    from .analysis.summary import _num as num

    return [f"- slope of {gap}_n against n/d: {num(ds.attrs[f'slope_{gap}'], '.3g')} (Theorem 3: "
            f"{float(ds.attrs[f'predicted_slope_{gap}']):g})" for gap in ("a", "b", "c")
            if f"slope_{gap}" in ds.attrs]


_FITS: dict[str, Callable] = {"transfer": _transfer, "comparison": _comparison, "rf": _rf}


def fitted_numbers(paths: Iterable[str]) -> str:
    """The numbers fitted in the datasets among ``paths`` (``transfer``, ``transfer_easy``, …,
    ``comparison``, ``rf``), one titled bullet list per dataset; "" where there are none."""
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
