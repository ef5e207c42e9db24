"""Two-layer studies (paper §3): the sphere indicator and the k-index model, every (learning rate,
seed) of one width trained as one batched model by the ``twolayer_width`` rule."""

from __future__ import annotations

from ..config import defaults
from ..config.checks import no_intermediate_steps, reference_width_problems
from . import phrases
from .kind import StudyKind, study_dir


def run_paths(cfg: dict, name: str) -> list[str]:
    return [f"results/runs/{name}/mup/n{w}/batch.nc" for w in cfg["studies"][name]["widths"]]


def outputs(cfg: dict, name: str) -> list[str]:
    return [f"{study_dir(name)}/{x}" for x in ("sweep.nc", "transfer.nc", "advice.nc", "summary.md")]


def problems(cfg: dict, where: str, study: dict) -> list[str]:
    return no_intermediate_steps(cfg, where, study) + reference_width_problems(where, study)


def describe(s: dict) -> list[str]:
    task = f"task {s['task']} (d = {s['d']}" + (f", k = {s['k']})" if s["task"] == "kindex" else ")")
    factor = float(s.get("second_layer_lr_factor", 1.0))
    model = f"two-layer ReLU network, µP, Adam, base width {s['base_width']}" + (
        f", second-layer learning rate × {factor:g}" if factor != 1.0 else ""
    )
    return [
        model,
        task,
        *phrases.sweep(s),
        f"{s['steps']} steps, batch {s['batch_size']}, {s['val_size']} validation points",
    ]


TWOLAYER = StudyKind(
    name="twolayer",
    schema="twolayer_study",
    defaults=defaults.TWOLAYER_STUDY,
    problems=problems,
    run_paths=run_paths,
    outputs=outputs,
    describe=describe,
    collector="collect_batched",
)
