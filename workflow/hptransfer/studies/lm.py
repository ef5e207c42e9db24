"""Language-model studies: ``lm`` (a sweep under one or more parametrizations) and ``compare`` (SP /
µP / adaptive side by side on the same engine, grid and seeds). Trained one job per run on a
tokenized corpus by the µP Transformer."""

from __future__ import annotations

import copy
from dataclasses import replace

from ..config import defaults
from ..config.checks import (
    analysis_step_problems,
    ema_problems,
    reference_width_problems,
    schedule_problems,
    table_problems,
    width_problems,
)
from ..config.defaults import deep_merge
from ..config.runs import RunKey, corpus_dir, model_depth, training_settings
from ..data.sources import missing_inputs
from . import phrases
from .kind import StudyKind, study_dir


def run_config(cfg: dict, key: RunKey) -> dict:
    """Everything that determines one training run, and nothing else.

    The study name is deliberately absent: two studies whose runs coincide produce equal run
    configs, which is how runs are shared instead of trained twice.
    """
    s = cfg["studies"][key.study]
    model = copy.deepcopy(s["model"])
    model["width"] = key.width
    model["depth"] = model_depth(s["model"], key.width)
    model["base_depth"] = s["model"]["base_depth"] or s["model"]["depth"]
    del model["depth_rule"]
    data = {"corpus": copy.deepcopy(cfg["corpora"][s["corpus"]]) | {"name": s["corpus"]}}
    return data | {"model": model} | training_settings(cfg, s, key)


def corpus_files(cfg: dict, study: dict) -> list[str]:
    return [f"{corpus_dir(study['corpus'])}/{name}" for name in ("meta.json", "train.bin", "val.bin")]


def corpus_data_dir(cfg: dict, study: dict) -> str:
    return corpus_dir(study["corpus"])


def corpus_input_problems(cfg: dict, where: str, study: dict) -> list[str]:
    """The raw corpus files the study's ``prepare_data`` would read and cannot, named at the corpus
    (one line however many studies read it)."""
    name = study["corpus"]
    return [f"  corpora.{name}.{key}: {what}" for key, what in missing_inputs(cfg["corpora"][name])]


# ------------------------------------------------------------------------------ coordinate check


def coordcheck_block(study: dict) -> dict:
    return deep_merge(defaults.COORDCHECK, study.get("coordcheck", {}))


def coordcheck_settings(cfg: dict, study: str) -> dict:
    """The coordinate check of an LM study with its defaults resolved (the rule's only parameters, so
    changing anything else of the study does not redo it): widths, learning rate and the tables of
    the parametrizations to check, with the study's model (at its base depth) and optimizer."""
    s = cfg["studies"][study]
    cc = coordcheck_block(s)
    # SP and µP always: the contrast (growth against Θ(1)) is what the check is read by
    names = cc["parametrizations"] or list(dict.fromkeys(["sp", "mup", *s["parametrizations"]]))
    grid = sorted(s["grid"])
    default_lr = grid[len(grid) // 2] if s["hp"] == "lr" else s["optimizer"]["lr"]
    return {
        "tables": {p: {"name": p, **copy.deepcopy(cfg["parametrizations"][p])} for p in names},
        "widths": sorted(cc["widths"] or s["widths"]),
        "steps": cc["steps"],
        "lr": float(cc["lr"] or default_lr),
        "seed": min(s["seeds"]),
        "seeds": cc["seeds"],
        "batch_size": cc["batch_size"],
        "model": {k: v for k, v in s["model"].items() if k not in ("depth_rule", "base_depth")},
        "optimizer": copy.deepcopy(s["optimizer"]),
    }


def _coordcheck_outputs(cfg: dict, name: str) -> list[str]:
    enabled = coordcheck_block(cfg["studies"][name])["enabled"]
    return [f"{study_dir(name)}/coordcheck.nc"] if enabled else []


def _coordcheck_problems(cfg: dict, where: str, study: dict) -> list[str]:
    cc = coordcheck_block(study)
    problems = table_problems(cfg, f"{where}.parametrizations", cc["parametrizations"] or [])
    if cc["widths"]:
        model_key = f"{where.removesuffix('.coordcheck')}.model"
        problems += width_problems(f"{where}.widths", cc["widths"], study["model"], model_key)
    elif cc["enabled"] and len(study["widths"]) < 2:
        problems.append(f"  {where}.widths: a slope against width needs two widths; the study has one")
    return problems


# ------------------------------------------------------------------------------------- the kinds


def lm_outputs(cfg: dict, name: str) -> list[str]:
    out = [f"{study_dir(name)}/{x}" for x in ("sweep.nc", "transfer.nc", "advice.nc", "summary.md")]
    if cfg["studies"][name]["decomposition"]["enabled"]:
        out.append(f"{study_dir(name)}/kappa.nc")
    return out + _coordcheck_outputs(cfg, name)


def compare_outputs(cfg: dict, name: str) -> list[str]:
    """The per-scheme transfer analysis and the comparison itself (Algorithm 1 is a
    single-parametrization analysis and is left to the lm studies)."""
    out = [f"{study_dir(name)}/sweep.nc", f"{study_dir(name)}/transfer.nc"]
    return out + [f"{study_dir(name)}/comparison.{ext}" for ext in ("nc", "md", "csv")] + _coordcheck_outputs(cfg, name)


def lm_problems(cfg: dict, where: str, study: dict) -> list[str]:
    problems = []
    if study["corpus"] not in cfg["corpora"]:
        problems.append(f"  {where}.corpus: unknown corpus {study['corpus']!r} (defined: {', '.join(cfg['corpora'])})")
    problems += table_problems(cfg, f"{where}.parametrizations", study["parametrizations"])
    problems += width_problems(f"{where}.widths", study["widths"], study["model"], f"{where}.model")
    problems += _coordcheck_problems(cfg, f"{where}.coordcheck", study)
    problems += analysis_step_problems(where, study)
    problems += ema_problems(where, study) + reference_width_problems(where, study)
    problems += schedule_problems(where, study)
    if study["hp"] in ("beta1", "beta2", "momentum"):
        bad = [v for v in study["grid"] if v >= 1]
        if bad:
            problems.append(f"  {where}.grid: {study['hp']} values must be < 1, got {bad}")
    optimizer = study["optimizer"]
    if "rank_cap" in optimizer and (optimizer["name"], optimizer["rank_rule"]) != ("dion", "bounded"):
        problems.append(
            f"  {where}.optimizer.rank_cap: only Dion's bounded rank rule has a cap "
            f"(optimizer {optimizer['name']!r}, rank_rule {optimizer['rank_rule']!r})"
        )
    return problems


def compare_problems(cfg: dict, where: str, study: dict) -> list[str]:
    problems = lm_problems(cfg, where, study)
    if len(study["parametrizations"]) < 2:
        problems.append(f"  {where}.parametrizations: a compare study needs at least two")
    return problems


def describe(s: dict) -> list[str]:
    m = s["model"]
    rule = m.get("depth_rule", {}).get("rule", "fixed")
    depth = f"depth {m['depth']}" + ("" if rule == "fixed" else f" ({rule} depth rule)")
    return [
        f"model {m['block']} ({depth}, {m['heads']} heads, context {m['context']}, base width {m['base_width']})",
        f"corpus {s['corpus']}",
        f"parametrization {', '.join(s['parametrizations'])}",
        phrases.optimizer(s["optimizer"]),
        *phrases.sweep(s),
        *phrases.training(s),
    ]


LM = StudyKind(
    name="lm",
    schema="lm_study",
    defaults=defaults.LM_STUDY,
    problems=lm_problems,
    run_paths=None,
    outputs=lm_outputs,
    describe=describe,
    run_config=run_config,
    data_files=corpus_files,
    data_dir=corpus_data_dir,
    collector="collect_study",
    input_problems=corpus_input_problems,
)
# a comparison is an lm study whose sweep keeps the param dim and whose analysis is the comparison
COMPARE = replace(LM, name="compare", problems=compare_problems, outputs=compare_outputs, keeps_param_dim=True)
