"""The figure catalogue: which figure each kind of study can feed, and from which datasets.

A figure's file stem is ``<figure id>_<study>`` (``fig06_llama_adam_lr``); study-independent figures
use their own slug (``fig03_schematic``). Snakemake builds one rule per catalogue entry and requests
exactly the figures that enabled studies can feed.

A spec may narrow the studies it draws with a ``predicate`` on the study block, and may draw a second
study beside its own: ``companion`` names a rule in :data:`COMPANIONS` that picks that study from the
configuration; its datasets arrive as extra inputs ``companion_<name>`` (``companion_sweep``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


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
    predicate: Callable[[dict], bool] | None = None  # extra condition on the study block
    companion: str | None = None  # key of COMPANIONS: a second study drawn beside this one


def plain_second_layer_lr(study: dict) -> bool:
    """Two-layer study with one learning rate for both layers (paper Fig 2 / 17a)."""
    return float(study.get("second_layer_lr_factor", 1.0)) == 1.0


def layerwise_second_layer_lr(study: dict) -> bool:
    """Two-layer study whose second-layer learning rate is scaled (paper Fig 17b)."""
    return not plain_second_layer_lr(study)


def first_plain_twolayer(cfg: dict, study_name: str) -> str | None:
    """The first enabled study of the same kind and task whose second_layer_lr_factor is 1."""
    study = cfg["studies"][study_name]
    for name, other in cfg["studies"].items():
        if (name != study_name and other.get("enabled", True) and other["kind"] == study["kind"]
                and other.get("task") == study.get("task") and plain_second_layer_lr(other)):
            return name
    return None


COMPANIONS: dict[str, Callable[[dict, str], str | None]] = {
    "plain_second_layer_lr": first_plain_twolayer,
}


CATALOGUE: tuple[FigureSpec, ...] = (
    FigureSpec("fig01", "fig01_topk_vs_step", ("lm",), ("sweep",),
               "Cumulative top-k and residual linearised loss change against training step "
               "(paper Fig 1).", needs_decomposition=True),
    FigureSpec("fig02", "fig02_kindex_sweep", ("twolayer",), ("sweep", "transfer"),
               "k-index model: validation MSE against Adam learning rate for every width, with the "
               "optimum per width (paper Fig 2).", task="kindex", predicate=plain_second_layer_lr),
    FigureSpec("fig03", "fig03_schematic", (), (), "Schematic of the loss gap a_n, hyperparameter gap "
               "b_n and transfer gap c_n, drawn from explicit quadratics (paper Fig 3).", slug="schematic"),
    FigureSpec("fig04", "fig04_rf_ridge", ("rf_ridge",), ("rf",),
               "Random-features ridge regression: excess risk against the ridge penalty per width, and "
               "the gaps a_n, b_n, c_n against width (paper Fig 4)."),
    FigureSpec("fig05", "fig05_sphere", ("twolayer",), ("sweep", "transfer"),
               "Sphere indicator: validation BCE against learning rate per width, and the optimal loss "
               "and log2 optimal learning rate against width with power-law fits (paper Fig 5).",
               task="sphere"),
    FigureSpec("fig06", "fig06_sweep_scaling", ("lm",), ("sweep", "transfer"),
               "Learning-rate sweep per width and scaling of the optimal loss (paper Fig 6)."),
    FigureSpec("fig07", "fig07_linearization", ("lm",), ("sweep",),
               "EMA, iterate and EMA-linearised validation loss against step (paper Fig 7).",
               needs_decomposition=True),
    FigureSpec("fig08", "fig08_topk_curves", ("lm",), ("kappa", "sweep"),
               "Total, top-kappa and n_max top-kappa linearised loss change against the swept "
               "hyperparameter (paper Fig 8).", needs_decomposition=True),
    FigureSpec("fig09", "fig09_residuals", ("lm",), ("kappa", "sweep"),
               "Residual loss curves at width n and at n_max near the top-kappa minimisers "
               "(paper Fig 9).", needs_decomposition=True),
    FigureSpec("fig10", "fig10_kappa", ("lm",), ("kappa", "sweep"),
               "kappa-hat(n) against the swept hyperparameter, and the top-k profile phi_n^k against k "
               "(paper Fig 10).", needs_decomposition=True),
    FigureSpec("fig17", "fig17_kindex_layerwise", ("twolayer",), ("sweep", "transfer"),
               "k-index model with one learning rate (a) and with the second-layer learning rate "
               "scaled (b) (paper Fig 17).", task="kindex", predicate=layerwise_second_layer_lr,
               companion="plain_second_layer_lr"),
    FigureSpec("rates", "rates", ("lm", "twolayer"), ("transfer",),
               "Loss gap a_n, hyperparameter gap b_n and transfer gap c_n against width with fitted "
               "power laws and the sqrt(a_n) reference."),
    FigureSpec("compare_transfer_error", "compare_transfer_error", ("compare",), ("comparison",),
               "Transfer error against width per scheme (log y) with bootstrap intervals over seeds."),
    FigureSpec("compare_stability", "compare_stability", ("compare",), ("comparison",),
               "Fraction of non-diverged runs against width per scheme, over the grid and at the "
               "transferred learning rate."),
    FigureSpec("compare_optimal_lr", "compare_optimal_lr", ("compare",), ("comparison",),
               "Optimal learning rate against width per scheme (log2 axes) with fitted exponents."),
    FigureSpec("compare_sweeps", "compare_sweeps", ("compare",), ("sweep", "transfer"),
               "Learning-rate sweep per width, one panel per scheme side by side (paper Fig 6a layout)."),
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
        if spec.predicate is not None and not spec.predicate(study):
            continue
        out[f"{spec.figure_id}_{study_name}"] = spec
    return out


def companion_study(cfg: dict, spec: FigureSpec, study_name: str) -> str | None:
    """The study whose datasets a spec with a ``companion`` draws beside ``study_name``'s."""
    return COMPANIONS[spec.companion](cfg, study_name) if spec.companion else None


def plot_sources(module: str) -> list[str]:
    """Files of the plotting modules ``module`` imports from this package (transitively), so a figure
    rule can list them as inputs and redraw when one of them changes. Paths are relative to the
    repository root, like the rest of the workflow."""
    here = Path(__file__).resolve().parent
    seen: list[str] = []
    todo = [module]
    while todo:
        name = todo.pop()
        tree = ast.parse((here / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level == 1):
                continue
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            for dep in names:
                if dep not in seen and dep != module and (here / f"{dep}.py").exists():
                    seen.append(dep)
                    todo.append(dep)
    return [f"workflow/hptransfer/plots/{dep}.py" for dep in sorted(seen)]


def global_figures() -> dict[str, FigureSpec]:
    return {f"{s.figure_id}_{s.slug}": s for s in CATALOGUE if not s.kinds}


def all_figures(cfg: dict, enabled_only: bool = True) -> dict[str, tuple[FigureSpec, str | None]]:
    """stem → (spec, study) for every figure the (enabled) studies can feed, minus disabled ones."""
    out: dict[str, tuple[FigureSpec, str | None]] = {s: (spec, None) for s, spec in global_figures().items()}
    for name, study in cfg["studies"].items():
        if enabled_only and not study.get("enabled", True):
            continue
        for stem, spec in study_figures(name, study).items():
            # a figure that draws a companion study only exists where there is one
            if enabled_only and spec.companion and companion_study(cfg, spec, name) is None:
                continue
            out[stem] = (spec, name)
    if enabled_only:
        out = {s: v for s, v in out.items() if cfg["figures"].get(s, {}).get("enabled", True)}
    return out


def unknown_figure_settings(cfg: dict) -> list[str]:
    known = all_figures(cfg, enabled_only=False)
    return sorted(set(cfg["figures"]) - set(known))
