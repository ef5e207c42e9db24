"""Random-features ridge studies (paper §2): the deterministic equivalent and a finite-size
simulation, computed by one job (``rf_ridge``) with no training runs."""

from __future__ import annotations

from ..config import defaults
from ..config.checks import no_intermediate_steps
from . import phrases
from .kind import StudyKind, study_dir


def run_paths(cfg: dict, name: str) -> list[str]:
    return []


def outputs(cfg: dict, name: str) -> list[str]:
    return [f"{study_dir(name)}/rf.nc"]


def pair(s: dict) -> dict[str, str]:
    """The study's feature activation and target (the paper's tanh and ReLU unless it names them)."""
    return {key: s.get(key, default) for key, default in defaults.RF_FUNCTIONS.items()}


def pair_problems(cfg: dict, where: str, study: dict) -> list[str]:
    """A pair whose infinite-width optimum λ*(∞) is not positive at the study's noise has no optimum
    to transfer (paper.md §2.3): say so before any job rather than fail in it.

    Checked only where the study names activation or target: the paper's pair is well posed at every
    σ_ε ≥ 0 (λ*(∞) ≥ 0.268), and a study without the keys then costs the workflow's parse no scipy.
    """
    named = [key for key in defaults.RF_FUNCTIONS if key in study]
    if not named:
        return []
    from ..synthetic.hermite import ill_posed  # scipy, only for a study that names a pair

    chosen = pair(study)
    problem = ill_posed(
        chosen["activation"], chosen["target"], float(study.get("sigma_eps", defaults.RF_RIDGE["sigma_eps"]))
    )
    return [f"  {where}.{named[-1]}: {problem}"] if problem else []


def problems(cfg: dict, where: str, study: dict) -> list[str]:
    return no_intermediate_steps(cfg, where, study) + pair_problems(cfg, where, study)


def describe(s: dict) -> list[str]:
    given = [f"{k} = {s[k]:g}" for k in ("psi1", "sigma_eps") if k in s]
    out = [
        "random-features ridge regression, deterministic equivalent"
        + (f" ({', '.join(given)})" if given else " (the paper's psi1, sigma_eps)")
    ]
    if pair(s) != defaults.RF_FUNCTIONS:  # named when not the paper's tanh features and ReLU target
        out.append(f"activation {pair(s)['activation']}, target {pair(s)['target']}")
    if "psi2_rates" in s:
        out.append(f"width ratios n/d {phrases.values(s['psi2_rates'])}")
    sim = [f"{k} = {s['simulation'][k]}" for k in ("d", "n_draws") if k in s.get("simulation", {})]
    if sim:
        out.append(f"simulation {', '.join(sim)}")
    return out


RF_RIDGE = StudyKind(
    name="rf_ridge",
    schema="rf_study",
    defaults=defaults.RF_STUDY,
    problems=problems,
    run_paths=run_paths,
    outputs=outputs,
    describe=describe,
)
