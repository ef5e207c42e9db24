"""Sample-wise studies (paper §4.6, §5.6): a bias-free two-layer ReLU MLP on flattened images with
µP momentum SGD, trained one job per run by the ``train`` rule; the MCI analysis splits the
validation set into easy and hard examples and reruns the transfer analysis on each."""

from __future__ import annotations

import copy
import math

from ..config import defaults
from ..config.checks import (
    ema_problems,
    no_intermediate_steps,
    reference_width_problems,
    schedule_problems,
    table_problems,
)
from ..config.runs import RunKey, study_run_keys, training_settings
from ..data.images import data_files, missing_files
from . import phrases
from .kind import StudyKind, study_dir


def run_config(cfg: dict, key: RunKey) -> dict:
    """Run config of a sample-wise (image MLP) run: a ``dataset`` block instead of a ``corpus``."""
    s = cfg["studies"][key.study]
    dataset = {k: copy.deepcopy(v) for k, v in s["dataset"].items() if v is not None}
    model = {
        "width": key.width,
        "base_width": s["model"]["base_width"],
        "init_std": s["model"]["init_std"],
        "depth": 1,
        "base_depth": 1,
    }
    return {"dataset": dataset, "model": model} | training_settings(cfg, s, key)


def image_files(cfg: dict, study: dict) -> list[str]:
    return data_files(study["dataset"])


def image_dir(cfg: dict, study: dict) -> str:
    return study["dataset"].get("path", "")


def reference_keys(cfg: dict, study: str) -> list[RunKey]:
    """Runs of a sample-wise study that can be its reference run (the analysis picks one): the
    reference width and seed (default smallest), at the reference LR if set, else at every LR."""
    s = cfg["studies"][study]
    sw = s["samplewise"]
    width = sw["reference_width"] or min(s["widths"])
    seed = sw["reference_seed"] if sw["reference_seed"] is not None else min(s["seeds"])
    lr = sw["reference_lr"]
    return [
        key
        for key in study_run_keys(cfg, study)
        if key.width == width and key.seed == seed and (lr is None or math.isclose(float(key.value), lr, rel_tol=1e-9))
    ]


def outputs(cfg: dict, name: str) -> list[str]:
    out = [f"{study_dir(name)}/{x}" for x in ("sweep.nc", "transfer.nc", "advice.nc", "summary.md")]
    if cfg["studies"][name]["decomposition"]["enabled"]:
        out += [f"{study_dir(name)}/{x}" for x in ("kappa.nc", "samplewise.nc", "transfer_easy.nc", "transfer_hard.nc")]
    return out


def problems(cfg: dict, where: str, study: dict) -> list[str]:
    problems = no_intermediate_steps(cfg, where, study)
    problems += table_problems(cfg, f"{where}.parametrizations", study["parametrizations"])
    problems += ema_problems(where, study) + reference_width_problems(where, study)
    problems += schedule_problems(where, study)
    dataset = study["dataset"]
    if dataset["source"] == "cifar10" and not dataset.get("path"):
        problems.append(
            f"  {where}.dataset.path: required for source cifar10 (the directory with data_batch_1..5 and test_batch)"
        )
    sw = study["samplewise"]
    if sw["reference_width"] is not None and sw["reference_width"] not in study["widths"]:
        problems.append(
            f"  {where}.samplewise.reference_width: {sw['reference_width']} is not one of the widths {study['widths']}"
        )
    if sw["reference_lr"] is not None and not any(
        math.isclose(sw["reference_lr"], v, rel_tol=1e-9) for v in study["grid"]
    ):
        problems.append(f"  {where}.samplewise.reference_lr: {sw['reference_lr']} is not a grid value {study['grid']}")
    if sw["reference_seed"] is not None and sw["reference_seed"] not in study["seeds"]:
        problems.append(
            f"  {where}.samplewise.reference_seed: {sw['reference_seed']} is not one of the seeds {study['seeds']}"
        )
    bad = sorted(set(sw["subset_widths"] or []) - set(study["widths"]))
    if bad:
        problems.append(f"  {where}.samplewise.subset_widths: {bad} are not widths of the study")
    return problems


def input_problems(cfg: dict, where: str, study: dict) -> list[str]:
    missing = missing_files(study["dataset"]) if study["dataset"].get("path") else []
    return [f"  {where}.dataset.path: CIFAR-10 batches not found: {', '.join(missing)}"] if missing else []


def describe(s: dict) -> list[str]:
    return [
        f"bias-free two-layer ReLU MLP, base width {s['model']['base_width']}",
        f"data {s['dataset']['source']}",
        f"parametrization {', '.join(s['parametrizations'])}",
        phrases.optimizer(s["optimizer"]),
        *phrases.sweep(s),
        *phrases.training(s),
    ]


SAMPLEWISE = StudyKind(
    name="samplewise",
    schema="samplewise_study",
    defaults=defaults.SAMPLEWISE_STUDY,
    problems=problems,
    run_paths=None,
    outputs=outputs,
    describe=describe,
    run_config=run_config,
    data_files=image_files,
    data_dir=image_dir,
    collector="collect_study",
    input_problems=input_problems,
)
