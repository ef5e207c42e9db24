"""The figure catalogue: which figure each kind of study can feed, from which datasets, drawn by which
module. It is the one place that maps figure ids (the paper's numbers ``fig01`` … ``fig35``, and
``rates``, ``compare_*``, ``coordcheck``) to the drawer modules of this package, which are named by
what they draw: ``FigureSpec.module``. Several figures share a drawer where they draw the same thing
from other data (Figs 6, 11, 24, 25, 27, 31 and 13 are all :mod:`.sweep_scaling`); where one draws
it differently, its ``defaults`` say how (Fig 33 is Fig 10 with a log2 k axis: ``{"log_k": True}``),
under the config's settings of the figure (:func:`figure_settings`).

A figure's settings are closed: the config's ``figures.<stem>`` may give the settings every figure
takes and those its drawer reads (:data:`DRAWER_SETTINGS`), checked when the config is loaded
(:meth:`FigureSpec.settings_schema`).

A figure's file stem is ``<figure id>_<study>`` (``fig06_llama_adam_lr``); study-independent figures
use their own slug (``fig03_schematic``). Snakemake builds one rule per catalogue entry and requests
exactly the figures that enabled studies can feed.

A spec may narrow the studies it draws with a ``predicate`` on the study block, and may draw other
studies beside its own: each of its ``companions`` names a role in :data:`COMPANIONS` that picks the
study from the configuration; their datasets arrive as extra inputs ``<role>_<name>``
(``adam_beta2_sweep``), in the order of ``companions``. A figure exists only where every companion has
a study, unless the spec is ``partial``: then it is drawn from the panels that have a study, and the
first of them owns it (a β2 sweep without a β1 sweep still gets its Fig 18 panel, as
``fig18_<β2 study>``).

LM studies are classified by what they are (model block, optimizer, swept hyperparameter; never by
their name) into the paper's figure families: Llama-Adam β1/β2 sweeps (Figs 18–23), Llama-Muon
(11–12), Llama-Dion bounded/proportional rank (24–26), GPT-2-Adam (27–30) and GPT-2-Muon (31–32). The
generic figures (1, 6–10) go to Llama-Adam learning-rate studies and to LM studies of no family, so
every study is drawn, and under one number only.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class FigureSpec:
    figure_id: str
    module: str  # hptransfer.figures.<module> with draw(inputs, settings)
    kinds: tuple[str, ...]  # study kinds that feed it; () = study-independent
    inputs: tuple[str, ...]  # dataset names under results/studies/<study>/<name>.nc
    caption: str
    needs_decomposition: bool = False
    task: str | None = None  # two-layer task restriction (sphere / kindex)
    slug: str | None = None  # for study-independent figures
    predicate: Callable[[dict], bool] | None = None  # extra condition on the study block
    companions: tuple[str, ...] = ()  # roles of COMPANIONS: other studies drawn beside this one
    partial: bool = False  # drawn from whichever of its panels (own, companions) have a study
    lead_elsewhere: bool = False  # its own panel is another figure's too: not drawn alone
    defaults: dict = field(default_factory=dict)  # settings of the drawer for this figure; figures.<stem> overrides

    def settings_schema(self, hp: str | None = None) -> dict:
        """JSON schema of the settings ``figures.<stem>`` may give this figure: the settings every
        figure takes and those its drawer reads (:data:`DRAWER_SETTINGS`), nothing else, so a typo
        fails before any job. ``hp``: the swept hyperparameter of the figure's study (the name of the
        setting that picks a swept value); None allows any."""
        own = {}
        for key, schema in DRAWER_SETTINGS.get(self.module, {}).items():
            names = [key] if key != SWEPT else ([hp] if hp else list(HP_NAMES))
            own.update(dict.fromkeys(names, schema))
        return {"type": "object", "additionalProperties": False, "properties": {**COMMON_SETTINGS, **own}}


# ---------------------------------------------------------------------------------- settings
# What ``figures.<stem>`` may set, as JSON-schema fragments: the settings of every figure (render,
# style.new_figure), then per drawer module the keys its ``draw`` reads. A drawer that reads a new
# setting adds it here.

SWEPT = "<hp>"  # the setting named like the study's swept hyperparameter (lr: 0.004): a value to show
HP_NAMES = ("lr", "beta1", "beta2", "momentum", "weight_decay")
_BOOL = {"type": "boolean"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0, "maximum": 1.0e6}
_COUNT = {"type": "integer", "minimum": 1, "maximum": 1048576}
_LIMITS = {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}
_POSITIVE_LIMITS = {"type": "array", "minItems": 2, "maxItems": 2, "items": _POSITIVE}
_WIDTHS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": _COUNT}
COMMON_SETTINGS: dict[str, dict] = {
    "enabled": _BOOL,
    "dpi": {"type": "integer", "minimum": 30, "maximum": 2400},
    "width_in": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
    "height_in": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
}
DRAWER_SETTINGS: dict[str, dict[str, dict]] = {
    "coordcheck": {
        "quantities": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["activation_rms", "change_rms"]},
        },
        "steps": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _COUNT},
    },
    "gap_schematic": {
        "widths": _WIDTHS,
        "annotate_width": _COUNT,
        **dict.fromkeys(("alpha", "beta", "loss_scale", "hp_scale", "curvature"), _POSITIVE),
        "curvature_shift": {"type": "number", "minimum": 0, "maximum": 1.0e6},
    },
    "kappa": {SWEPT: _POSITIVE, "k_max": _COUNT, "log_k": _BOOL},
    "layerwise_lr_sweeps": {"ylim": _LIMITS},
    "linearization": {SWEPT: _POSITIVE, "width": _COUNT, "seed": {"type": "integer", "minimum": 0}},
    "mci_histogram": {SWEPT: _POSITIVE, "bins": _COUNT, "widths": _WIDTHS},
    "residual_curves": {
        "widths": {"oneOf": [_WIDTHS, {"const": "ends_and_middle"}]},
        "clip_steps": {"type": "integer", "minimum": 0, "maximum": 1048576},
        "xlim": _POSITIVE_LIMITS,
        "ylim": _LIMITS,
        "match_fig08_scale": _BOOL,
    },
    "rf_ridge": {"lam_range": _POSITIVE_LIMITS},
    "sphere": {"ylim": _LIMITS},
    "sweep_scaling": {"linearized": _BOOL},
    "sweeps_by_hp": {"ylim": _LIMITS},
    "topk_curves": {"widths": {"oneOf": [_WIDTHS, {"const": "ends_and_middle"}]}, "ylim": _LIMITS},
    "topk_profile": {
        SWEPT: {"oneOf": [_POSITIVE, {"type": "array", "minItems": 1, "items": _POSITIVE}]},
        "with_smallest": _BOOL,
        "k_max": _COUNT,
        "log_k": _BOOL,
    },
    "topk_vs_step": {SWEPT: _POSITIVE, "k": _COUNT, "seed": {"type": "integer", "minimum": 0}},
    "twolayer_sweep": {"ylim": _LIMITS},
}


# ------------------------------------------------------------------ LM studies: what a study is


def _block(study: dict) -> str | None:
    return study.get("model", {}).get("block")


def _optimizer(study: dict) -> str | None:
    return study.get("optimizer", {}).get("name")


def adam_like(study: dict) -> bool:
    return _optimizer(study) in ("adam", "adamw")


def muon(study: dict) -> bool:
    return _optimizer(study) == "muon"


def dion(study: dict, rank_rule: str) -> bool:
    return _optimizer(study) == "dion" and study.get("optimizer", {}).get("rank_rule") == rank_rule


def llama_adam_lr(study: dict) -> bool:
    """Llama + Adam learning-rate sweep (paper §5.1; Figs 1, 6–10)."""
    return _block(study) == "llama" and adam_like(study) and study.get("hp") == "lr"


def llama_adam_beta1(study: dict) -> bool:
    """Llama + Adam β1 sweep (paper Figs 18a, 19, 20)."""
    return _block(study) == "llama" and adam_like(study) and study.get("hp") == "beta1"


def llama_adam_beta2(study: dict) -> bool:
    """Llama + Adam β2 sweep (paper Figs 18b, 21, 22)."""
    return _block(study) == "llama" and adam_like(study) and study.get("hp") == "beta2"


def llama_muon_lr(study: dict) -> bool:
    """Llama + Muon learning-rate sweep (paper §5.2; Figs 11, 12)."""
    return _block(study) == "llama" and muon(study) and study.get("hp") == "lr"


def llama_dion_bounded_lr(study: dict) -> bool:
    """Llama + Dion with rank min(128, n/2), learning-rate sweep (paper Figs 24, 26a)."""
    return _block(study) == "llama" and dion(study, "bounded") and study.get("hp") == "lr"


def llama_dion_proportional_lr(study: dict) -> bool:
    """Llama + Dion with rank n/2, learning-rate sweep (paper Figs 25, 26b)."""
    return _block(study) == "llama" and dion(study, "proportional") and study.get("hp") == "lr"


def gpt2_adam_lr(study: dict) -> bool:
    """GPT-2 + Adam learning-rate sweep (paper §5.4; Figs 27–30)."""
    return _block(study) == "gpt2" and adam_like(study) and study.get("hp") == "lr"


def gpt2_muon_lr(study: dict) -> bool:
    """GPT-2 + Muon learning-rate sweep (paper §5.5; Figs 31, 32)."""
    return _block(study) == "gpt2" and muon(study) and study.get("hp") == "lr"


# LM studies with paper figures of their own (Llama-Adam LR has the generic ones)
PAPER_FAMILIES = (
    llama_adam_beta1,
    llama_adam_beta2,
    llama_muon_lr,
    llama_dion_bounded_lr,
    llama_dion_proportional_lr,
    gpt2_adam_lr,
    gpt2_muon_lr,
)


def generic_lm(study: dict) -> bool:
    """LM studies that get the generic Figs 1, 6–10: Llama-Adam LR and any study of no paper family."""
    return llama_adam_lr(study) or not any(family(study) for family in PAPER_FAMILIES)


# --------------------------------------------------------------- two-layer studies, companions


def plain_second_layer_lr(study: dict) -> bool:
    """Two-layer study with one learning rate for both layers (paper Fig 2 / 17a)."""
    return float(study.get("second_layer_lr_factor", 1.0)) == 1.0


def layerwise_second_layer_lr(study: dict) -> bool:
    """Two-layer study whose second-layer learning rate is scaled (paper Fig 17b)."""
    return not plain_second_layer_lr(study)


def plain_twolayer_of(other: dict, study: dict) -> bool:
    """``other`` is a two-layer study of ``study``'s kind and task with one learning rate."""
    return other["kind"] == study["kind"] and other.get("task") == study.get("task") and plain_second_layer_lr(other)


def _is(family: Callable[[dict], bool]) -> Callable[[dict, dict], bool]:
    return lambda other, study: family(other)


# role → whether a study (first argument) can be drawn beside ``study`` (second) in that role
COMPANIONS: dict[str, Callable[[dict, dict], bool]] = {
    "plain": plain_twolayer_of,
    "adam_beta1": _is(llama_adam_beta1),
    "adam_beta2": _is(llama_adam_beta2),
    "dion_proportional": _is(llama_dion_proportional_lr),
}


def companion_study(cfg: dict, role: str, study_name: str) -> str | None:
    """The first enabled study other than ``study_name`` that fits ``role`` beside it."""
    study = cfg["studies"][study_name]
    for name, other in cfg["studies"].items():
        if name != study_name and other.get("enabled", True) and COMPANIONS[role](other, study):
            return name
    return None


def _lead_role(spec: FigureSpec, study: dict) -> int | None:
    """Which panel of ``spec`` ``study`` draws: 0 for its own (the predicate), i for companion i-1."""
    if spec.predicate is None or spec.predicate(study):
        return 0
    if spec.partial:
        for i, role in enumerate(spec.companions, start=1):
            if COMPANIONS[role](study, study):
                return i
    return None


def companion_studies(cfg: dict, spec: FigureSpec, study_name: str) -> dict[str, str] | None:
    """role → study for the companions drawn beside ``study_name`` (in order), or None where one has
    no study. A partial figure draws the companions after the owner's own panel that have a study."""
    roles = spec.companions[_lead_role(spec, cfg["studies"][study_name]) or 0 :]
    found = {role: companion_study(cfg, role, study_name) for role in roles}
    if spec.partial:
        return {role: name for role, name in found.items() if name is not None}
    return None if None in found.values() else found


def _draws_partial_figure(cfg: dict, spec: FigureSpec, study_name: str) -> bool:
    """Whether ``study_name`` owns its partial figure: every study of the figure's own panel does;
    where none is enabled, the first study of the first companion panel that has one. A figure whose
    own panel is also drawn elsewhere (``lead_elsewhere``) needs a companion beside it."""
    mine = _lead_role(spec, cfg["studies"][study_name])
    if mine == 0:
        return not spec.lead_elsewhere or bool(companion_studies(cfg, spec, study_name))
    order = list(cfg["studies"])
    rivals = [
        (_lead_role(spec, other), order.index(name))
        for name, other in cfg["studies"].items()
        if name != study_name
        and other.get("enabled", True)
        and f"{spec.figure_id}_{name}" in study_figures(name, other)
    ]
    return all(rival > (mine, order.index(study_name)) for rival in rivals)


def coordcheck_enabled(study: dict) -> bool:
    """LM study whose coordinate check is switched on (``coordcheck.enabled``)."""
    return bool(study.get("coordcheck", {}).get("enabled", False))


CATALOGUE: tuple[FigureSpec, ...] = (
    FigureSpec(
        "fig01",
        "topk_vs_step",
        ("lm",),
        ("sweep",),
        "Cumulative top-k and residual linearised loss change against training step (paper Fig 1).",
        needs_decomposition=True,
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig02",
        "twolayer_sweep",
        ("twolayer",),
        ("sweep", "transfer"),
        "k-index model: validation MSE against Adam learning rate for every width, with the "
        "optimum per width (paper Fig 2).",
        task="kindex",
        predicate=plain_second_layer_lr,
    ),
    FigureSpec(
        "fig03",
        "gap_schematic",
        (),
        (),
        "Schematic of the loss gap a_n, hyperparameter gap "
        "b_n and transfer gap c_n, drawn from explicit quadratics (paper Fig 3).",
        slug="schematic",
    ),
    FigureSpec(
        "fig04",
        "rf_ridge",
        ("rf_ridge",),
        ("rf",),
        "Random-features ridge regression: excess risk against the ridge penalty per width, and "
        "the gaps a_n, b_n, c_n against width (paper Fig 4).",
    ),
    FigureSpec(
        "fig05",
        "sphere",
        ("twolayer",),
        ("sweep", "transfer"),
        "Sphere indicator: validation BCE against learning rate per width, and the optimal loss "
        "and log2 optimal learning rate against width with power-law fits (paper Fig 5).",
        task="sphere",
    ),
    FigureSpec(
        "fig06",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "Learning-rate sweep per width and scaling of the optimal loss (paper Fig 6).",
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig07",
        "linearization",
        ("lm",),
        ("sweep",),
        "EMA, iterate and EMA-linearised validation loss against step (paper Fig 7).",
        needs_decomposition=True,
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig08",
        "topk_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Total, top-kappa and n_max top-kappa linearised loss change against the swept hyperparameter (paper Fig 8).",
        needs_decomposition=True,
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig09",
        "residual_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Residual loss curves at width n and at n_max near the top-kappa minimisers (paper Fig 9).",
        needs_decomposition=True,
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig10",
        "kappa",
        ("lm",),
        ("kappa", "sweep"),
        "kappa-hat(n) against the swept hyperparameter, and the top-k profile phi_n^k against k (paper Fig 10).",
        needs_decomposition=True,
        predicate=generic_lm,
    ),
    FigureSpec(
        "fig11",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "Llama + Muon: learning-rate sweep per width and scaling of the optimal loss (paper Fig 11).",
        predicate=llama_muon_lr,
    ),
    FigureSpec(
        "fig12",
        "topk_profile",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Muon: top-k profile phi_n^k against k at one learning rate (paper Fig 12).",
        needs_decomposition=True,
        predicate=llama_muon_lr,
    ),
    FigureSpec(
        "fig17",
        "layerwise_lr_sweeps",
        ("twolayer",),
        ("sweep", "transfer"),
        "k-index model with one learning rate (a) and with the second-layer learning rate scaled (b) (paper Fig 17).",
        task="kindex",
        predicate=layerwise_second_layer_lr,
        companions=("plain",),
    ),
    FigureSpec(
        "fig18",
        "sweeps_by_hp",
        ("lm",),
        ("sweep", "transfer"),
        "Llama + Adam: beta1 (a) and beta2 (b) sweeps per width against (1-beta)^-1 (paper Fig 18).",
        predicate=llama_adam_beta1,
        companions=("adam_beta2",),
        partial=True,
    ),
    FigureSpec(
        "fig19",
        "topk_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Adam beta1 sweep: decomposed loss curves as in Fig 8 (paper Fig 19).",
        needs_decomposition=True,
        predicate=llama_adam_beta1,
    ),
    FigureSpec(
        "fig20",
        "residual_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Adam beta1 sweep: residual loss curves as in Fig 9 (paper Fig 20).",
        needs_decomposition=True,
        predicate=llama_adam_beta1,
    ),
    FigureSpec(
        "fig21",
        "topk_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Adam beta2 sweep: decomposed loss curves as in Fig 8 (paper Fig 21).",
        needs_decomposition=True,
        predicate=llama_adam_beta2,
    ),
    FigureSpec(
        "fig22",
        "residual_curves",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Adam beta2 sweep: residual loss curves as in Fig 9 (paper Fig 22).",
        needs_decomposition=True,
        predicate=llama_adam_beta2,
    ),
    FigureSpec(
        "fig23",
        "kappa_by_hp",
        ("lm",),
        ("kappa",),
        "Llama + Adam: kappa-hat(n) for the learning-rate, beta1 and beta2 sweeps (paper Fig 23).",
        needs_decomposition=True,
        predicate=llama_adam_lr,
        companions=("adam_beta1", "adam_beta2"),
        partial=True,
        lead_elsewhere=True,
    ),
    FigureSpec(
        "fig24",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "Llama + Dion, bounded rank: sweep and scaling of the optimal loss (paper Fig 24).",
        predicate=llama_dion_bounded_lr,
    ),
    FigureSpec(
        "fig25",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "Llama + Dion, proportional rank: sweep and scaling of the optimal loss (paper Fig 25).",
        predicate=llama_dion_proportional_lr,
    ),
    FigureSpec(
        "fig26",
        "topk_profile",
        ("lm",),
        ("kappa", "sweep"),
        "Llama + Dion: top-k profiles for bounded (a) and proportional (b) rank (paper Fig 26).",
        needs_decomposition=True,
        predicate=llama_dion_bounded_lr,
        companions=("dion_proportional",),
        partial=True,
    ),
    FigureSpec(
        "fig27",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "GPT-2 + Adam: learning-rate sweep and scaling of the optimal loss (paper Fig 27).",
        predicate=gpt2_adam_lr,
    ),
    FigureSpec(
        "fig28",
        "kappa",
        ("lm",),
        ("kappa", "sweep"),
        "GPT-2 + Adam: kappa-hat(n) and the top-k profile phi_n^k (paper Fig 28).",
        needs_decomposition=True,
        predicate=gpt2_adam_lr,
    ),
    FigureSpec(
        "fig29",
        "topk_curves",
        ("lm",),
        ("kappa", "sweep"),
        "GPT-2 + Adam: decomposed loss curves as in Fig 8 (paper Fig 29).",
        needs_decomposition=True,
        predicate=gpt2_adam_lr,
    ),
    FigureSpec(
        "fig30",
        "residual_curves",
        ("lm",),
        ("kappa", "sweep"),
        "GPT-2 + Adam: residual loss curves as in Fig 9 (paper Fig 30).",
        needs_decomposition=True,
        predicate=gpt2_adam_lr,
    ),
    FigureSpec(
        "fig31",
        "sweep_scaling",
        ("lm",),
        ("sweep", "transfer"),
        "GPT-2 + Muon: learning-rate sweep and scaling of the optimal loss (paper Fig 31).",
        predicate=gpt2_muon_lr,
    ),
    FigureSpec(
        "fig32",
        "topk_profile",
        ("lm",),
        ("kappa", "sweep"),
        "GPT-2 + Muon: top-k profiles at a small (left) and a near-optimal (right) learning rate (paper Fig 32).",
        needs_decomposition=True,
        predicate=gpt2_muon_lr,
        defaults={"with_smallest": True},
    ),
    FigureSpec(
        "rates",
        "rates",
        ("lm", "twolayer"),
        ("transfer",),
        "Loss gap a_n, hyperparameter gap b_n and transfer gap c_n against width with fitted "
        "power laws and the sqrt(a_n) reference.",
    ),
    FigureSpec(
        "advice",
        "optimum_extrapolation",
        ("lm", "twolayer", "samplewise"),
        ("transfer", "advice"),
        "Transfer advice: the optimal hyperparameter against width extrapolated to the target widths with "
        "its interval, and the loss of using the largest width's value there next to the loss gap a_N.",
    ),
    FigureSpec(
        "compare_transfer_error",
        "compare_transfer_error",
        ("compare",),
        ("comparison",),
        "Transfer error against width per scheme (log y) with bootstrap intervals over seeds.",
    ),
    FigureSpec(
        "compare_stability",
        "compare_stability",
        ("compare",),
        ("comparison",),
        "Fraction of non-diverged runs against width per scheme, over the grid and at the transferred learning rate.",
    ),
    FigureSpec(
        "compare_optimal_lr",
        "compare_optimal_lr",
        ("compare",),
        ("comparison",),
        "Optimal learning rate against width per scheme (log2 axes) with fitted exponents.",
    ),
    FigureSpec(
        "compare_sweeps",
        "compare_sweeps",
        ("compare",),
        ("sweep", "transfer"),
        "Learning-rate sweep per width, one panel per scheme side by side (paper Fig 6a layout).",
    ),
    FigureSpec(
        "fig13",
        "sweep_scaling",
        ("samplewise",),
        ("sweep", "transfer"),
        "Image MLP + momentum SGD: learning-rate sweep per width (dashed: EMA-linearised loss) and "
        "scaling of the optimal loss (paper Fig 13).",
        defaults={"linearized": True},
    ),
    FigureSpec(
        "fig14",
        "mci_histogram",
        ("samplewise",),
        ("samplewise",),
        "Histogram of the Mean Component Index of the reference run, and the overlap of the hardest "
        "and easiest examples across widths, averaged over seed pairs (paper Fig 14).",
        needs_decomposition=True,
    ),
    FigureSpec(
        "fig15",
        "mci_examples",
        ("samplewise",),
        ("samplewise",),
        "Validation examples with the lowest and highest MCI and their per-example components "
        "psi_ij against j (paper Fig 15).",
        needs_decomposition=True,
    ),
    FigureSpec(
        "fig16",
        "subset_sweep_scaling",
        ("samplewise",),
        ("sweep_easy", "transfer_easy", "sweep_hard", "transfer_hard"),
        "Learning-rate sweep and scaling re-evaluated on the easy (lowest-MCI) and hard "
        "(highest-MCI) validation subsets (paper Fig 16).",
        needs_decomposition=True,
    ),
    FigureSpec(
        "fig33",
        "kappa",
        ("samplewise",),
        ("kappa", "sweep"),
        "Image MLP: kappa-hat(n) against the learning rate, and the top-k profile phi_n^k against k (paper Fig 33).",
        needs_decomposition=True,
        defaults={"log_k": True},
    ),
    FigureSpec(
        "fig34",
        "topk_curves",
        ("samplewise",),
        ("kappa", "sweep"),
        "Image MLP: total, top-kappa and n_max top-kappa linearised loss change against the learning "
        "rate for a subset of widths (paper Fig 34).",
        needs_decomposition=True,
        defaults={"widths": "ends_and_middle"},
    ),
    FigureSpec(
        "fig35",
        "residual_curves",
        ("samplewise",),
        ("kappa", "sweep"),
        "Image MLP: residual loss curves at width n and at n_max near the top-kappa minimisers for a "
        "subset of widths (paper Fig 35).",
        needs_decomposition=True,
        defaults={"widths": "ends_and_middle"},
    ),
    FigureSpec(
        "coordcheck",
        "coordcheck",
        ("lm", "compare"),
        ("coordcheck",),
        "Coordinate check: RMS of each layer group's output and of its change since "
        "initialisation against width per parametrization, one line per step, with fitted slopes.",
        predicate=coordcheck_enabled,
    ),
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
        if _lead_role(spec, study) is None:
            continue
        out[f"{spec.figure_id}_{study_name}"] = spec
    return out


def figure_settings(cfg: dict, spec: FigureSpec, stem: str) -> dict:
    """The settings figure ``stem`` is drawn with: its spec's ``defaults`` under the config's
    ``figures.<stem>``."""
    return {**spec.defaults, **cfg["figures"].get(stem, {})}


def plot_sources(module: str) -> list[str]:
    """Files of the figure modules ``module`` imports from this package (transitively), so a figure
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
    return [f"workflow/hptransfer/figures/{dep}.py" for dep in sorted(seen)]


def global_figures() -> dict[str, FigureSpec]:
    return {f"{s.figure_id}_{s.slug}": s for s in CATALOGUE if not s.kinds}


def all_figures(cfg: dict, enabled_only: bool = True) -> dict[str, tuple[FigureSpec, str | None]]:
    """stem → (spec, study) for every figure the (enabled) studies can feed, minus disabled ones."""
    out: dict[str, tuple[FigureSpec, str | None]] = {s: (spec, None) for s, spec in global_figures().items()}
    for name, study in cfg["studies"].items():
        if enabled_only and not study.get("enabled", True):
            continue
        for stem, spec in study_figures(name, study).items():
            # a figure that draws companion studies only exists where there are all of them, and a
            # partial one once, owned by the study of its first panel
            if enabled_only and (
                companion_studies(cfg, spec, name) is None
                or spec.partial
                and not _draws_partial_figure(cfg, spec, name)
            ):
                continue
            out[stem] = (spec, name)
    if enabled_only:
        out = {s: v for s, v in out.items() if cfg["figures"].get(s, {}).get("enabled", True)}
    return out


def single_study_figures(cfg: dict, study_name: str) -> list[str]:
    """The figures ``study_name`` owns and draws from its own data alone: what `snakemake
    study_<name>` builds. A figure beside companion studies waits for `snakemake all`, so one study's
    target never trains the runs of another."""
    return [
        stem
        for stem, (spec, owner) in all_figures(cfg).items()
        if owner == study_name and not companion_studies(cfg, spec, study_name)
    ]


def idle_figure_settings(cfg: dict) -> list[str]:
    """Why each setting of ``figures`` that an enabled study could own does nothing in ``cfg``: its
    figure is drawn by another study (a partial figure) or lacks a companion. Such settings stay valid,
    since disabling a study can make them apply, but a user who tuned one should hear it is idle."""
    drawn = all_figures(cfg | {"figures": {}})  # a figure switched off by its settings is not idle
    known = all_figures(cfg, enabled_only=False)
    notes = []
    for stem in sorted(set(cfg["figures"]) & set(known) - set(drawn)):
        spec, study = known[stem]
        if study is None or not cfg["studies"][study].get("enabled", True):
            continue
        owners = sorted(s for s, (other, _) in drawn.items() if other.figure_id == spec.figure_id)
        where = (
            f"it is drawn as {', '.join(owners)}"
            if owners
            else "it needs a companion study this config does not enable"
        )
        notes.append(f"figures.{stem}: has no effect, {where}")
    return notes
