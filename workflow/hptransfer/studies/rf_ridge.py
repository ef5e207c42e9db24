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


def describe(s: dict) -> list[str]:
    given = [f"{k} = {s[k]:g}" for k in ("psi1", "sigma_eps") if k in s]
    out = [
        "random-features ridge regression, deterministic equivalent"
        + (f" ({', '.join(given)})" if given else " (the paper's psi1, sigma_eps)")
    ]
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
    problems=no_intermediate_steps,
    run_paths=run_paths,
    outputs=outputs,
    describe=describe,
)
