"""The registry of study kinds: what each ``kind:`` of study block is, in one place.

A kind (:class:`~.kind.StudyKind`) names its schema part and defaults, checks what the schema cannot,
and says which datasets its training writes, which study-level datasets it produces, how its runs
are configured and collected, and how a report describes it. The config code, the rules, ``collect``
and ``train`` ask the functions below instead of branching on the kind; adding a kind is one module
here with its entry in :data:`KINDS`, plus its own code (and its figures in the catalogue).

Importable without torch (Snakemake reads the config on a cluster's login node).
"""

from __future__ import annotations

from ..config import defaults
from ..config.run import RunConfig
from ..config.runs import RunKey, enabled_studies, format_value, study_run_keys
from .kind import StudyKind
from .lm import COMPARE, LM
from .rf_ridge import RF_RIDGE
from .samplewise import SAMPLEWISE
from .twolayer import TWOLAYER

KINDS: dict[str, StudyKind] = {k.name: k for k in (LM, COMPARE, RF_RIDGE, TWOLAYER, SAMPLEWISE)}

__all__ = ["KINDS", "StudyKind", "advice_targets", "kind_of", "run_config", "run_owner", "run_paths", "study_outputs"]


def kind_of(study: dict) -> StudyKind:
    return KINDS[study["kind"]]


def run_config(cfg: dict, key: RunKey) -> RunConfig:
    """The run config of one run (kinds trained one job per run), checked."""
    return RunConfig.from_dict(kind_of(cfg["studies"][key.study]).run_config(cfg, key), f"run {key.path}")


def run_owner(cfg: dict, key: RunKey) -> RunKey:
    """The key under which this run is actually trained: the first enabled study (in config order)
    that has a run with an identical run config."""
    mine = run_config(cfg, key).identity()
    for name, s in enabled_studies(cfg).items():
        if name == key.study:
            break
        if (
            not kind_of(s).trains_per_run
            or s["hp"] != key.hp
            or key.param not in s["parametrizations"]
            or key.width not in s["widths"]
            or key.seed not in s["seeds"]
            or key.value not in {format_value(v) for v in s["grid"]}
        ):
            continue
        other = RunKey(name, key.param, key.width, key.hp, key.value, key.seed)
        if run_config(cfg, other).identity() == mine:
            return other
    return key


def run_paths(cfg: dict, name: str) -> list[str]:
    """The datasets a study's training writes, the inputs of its ``collect``: one run.nc per run,
    each at the study that actually trains it (shared runs), unless the kind says otherwise."""
    kind = kind_of(cfg["studies"][name])
    if kind.run_paths is not None:
        return kind.run_paths(cfg, name)
    return [run_owner(cfg, key).path for key in study_run_keys(cfg, name)]


def advice_targets(study: dict) -> list[int]:
    """The target widths of a study's transfer advice (advice.nc): its ``analysis.advise_widths``,
    else the multiples ``ADVISE_WIDTH_FACTORS`` (config/defaults.py) of its largest width."""
    given = (study.get("analysis") or {}).get("advise_widths")
    if given:
        return sorted(int(w) for w in given)
    return [int(factor * max(study["widths"])) for factor in defaults.ADVISE_WIDTH_FACTORS]


def study_outputs(cfg: dict, name: str) -> list[str]:
    """The study-level datasets a study produces (what ``snakemake study_<name>`` builds besides
    its figures)."""
    return kind_of(cfg["studies"][name]).outputs(cfg, name)
