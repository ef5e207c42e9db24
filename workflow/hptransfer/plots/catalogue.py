"""The figure catalogue: which figure each kind of study can feed, and from which datasets.

A figure's file stem is ``<figure id>_<study>`` (``fig06_llama_adam_lr``); study-independent figures
use their own slug (``fig03_schematic``). Snakemake builds one rule per catalogue entry and requests
exactly the figures that enabled studies can feed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    figure_id: str
    module: str                # hptransfer.plots.<module> with draw(inputs, settings)
    kinds: tuple[str, ...]     # study kinds that feed it; () = study-independent
    inputs: tuple[str, ...]    # dataset names under results/studies/<study>/<name>.nc
    caption: str
    needs_decomposition: bool = False
    task: str | None = None    # two-layer task restriction (sphere / kindex)
    slug: str | None = None    # for study-independent figures


CATALOGUE: tuple[FigureSpec, ...] = (
    FigureSpec("fig01", "fig01_topk_vs_step", ("lm", "compare"), ("sweep",),
               "Cumulative top-k and residual linearised loss change against training step "
               "(paper Fig 1).", needs_decomposition=True),
    FigureSpec("fig03", "fig03_schematic", (), (), "Schematic of the loss gap a_n, hyperparameter gap "
               "b_n and transfer gap c_n, drawn from explicit quadratics (paper Fig 3).", slug="schematic"),
    FigureSpec("fig06", "fig06_sweep_scaling", ("lm",), ("sweep", "transfer"),
               "Learning-rate sweep per width and scaling of the optimal loss (paper Fig 6)."),
    FigureSpec("fig07", "fig07_linearization", ("lm", "compare"), ("sweep",),
               "EMA, iterate and EMA-linearised validation loss against step (paper Fig 7).",
               needs_decomposition=True),
    FigureSpec("rates", "rates", ("lm", "twolayer"), ("transfer",),
               "Loss gap a_n, hyperparameter gap b_n and transfer gap c_n against width with fitted "
               "power laws and the sqrt(a_n) reference."),
)


def study_figures(study_name: str, study: dict) -> dict[str, FigureSpec]:
    """Figure stems a study can feed."""
    out = {}
    for spec in CATALOGUE:
        if study["kind"] not in spec.kinds:
            continue
        if spec.needs_decomposition and not study.get("decomposition", {}).get("enabled", False):
            continue
        if spec.task and study.get("task") != spec.task:
            continue
        out[f"{spec.figure_id}_{study_name}"] = spec
    return out


def global_figures() -> dict[str, FigureSpec]:
    return {f"{s.figure_id}_{s.slug}": s for s in CATALOGUE if not s.kinds}


def all_figures(cfg: dict, enabled_only: bool = True) -> dict[str, tuple[FigureSpec, str | None]]:
    """stem → (spec, study) for every figure the (enabled) studies can feed, minus disabled ones."""
    out: dict[str, tuple[FigureSpec, str | None]] = {s: (spec, None) for s, spec in global_figures().items()}
    for name, study in cfg["studies"].items():
        if enabled_only and not study.get("enabled", True):
            continue
        out.update({stem: (spec, name) for stem, spec in study_figures(name, study).items()})
    if enabled_only:
        out = {s: v for s, v in out.items() if cfg["figures"].get(s, {}).get("enabled", True)}
    return out


def unknown_figure_settings(cfg: dict) -> list[str]:
    known = all_figures(cfg, enabled_only=False)
    return sorted(set(cfg["figures"]) - set(known))
