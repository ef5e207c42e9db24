"""Cross-references the schema cannot express, shared by the kinds of study that need them. Each
returns one message line per problem (empty: fine), naming the key."""

from __future__ import annotations


def table_problems(cfg: dict, where: str, names: list[str]) -> list[str]:
    return [
        f"  {where}: unknown table {p!r} (defined: {', '.join(cfg['parametrizations'])})"
        for p in names
        if p not in cfg["parametrizations"]
    ]


def width_problems(where: str, widths: list[int], model: dict, model_key: str = "model") -> list[str]:
    """``model_key``: where the model block is, so that the message names the other key involved."""
    problems = []
    for i, w in enumerate(widths):
        if w % model["heads"]:
            problems.append(f"  {where}[{i}]: width {w} is not divisible by {model_key}.heads = {model['heads']}")
        elif (w // model["heads"]) % 2:
            problems.append(
                f"  {where}[{i}]: width {w} gives an odd head dimension "
                f"{w // model['heads']} (rotary embeddings need it even)"
            )
    return problems


def analysis_step_problems(where: str, study: dict) -> list[str]:
    """A step the analysis reads must be one the runs record: the end of training or one of
    ``decomposition.analysis_steps``."""
    end, recorded = study["training"]["steps"], set(study["decomposition"]["analysis_steps"])
    named = {
        "analysis.step": study["analysis"].get("step"),
        "analysis.kappa.analysis_step": study["analysis"].get("kappa", {}).get("analysis_step"),
    }
    problems = []
    for key, step in named.items():
        if step is None or step == end:
            continue
        if step > end:
            problems.append(f"  {where}.{key}: step {step} is after the end of training (training.steps = {end})")
        elif step not in recorded:
            problems.append(
                f"  {where}.{key}: step {step} is not recorded by the runs; add it to "
                f"{where}.decomposition.analysis_steps"
            )
    return problems


def no_intermediate_steps(cfg: dict, where: str, study: dict) -> list[str]:
    """Only language-model studies record the loss at intermediate steps (a kind's whole check
    where it has no other)."""
    if study.get("analysis", {}).get("step") is None:
        return []
    return [
        f"  {where}.analysis.step: only language-model studies record the loss at "
        f"intermediate steps (this study is of kind {study['kind']!r})"
    ]


def ema_problems(where: str, study: dict) -> list[str]:
    """The EMA window and the subsampling interval ramp up (paper §4.1): a start above its end is a
    swapped pair, not a schedule."""
    ema = study["ema"]
    return [
        f"  {where}.ema.{first}: {ema[first]} is above {where}.ema.{last} = {ema[last]} (the ramp grows)"
        for first, last in (("window_start", "window_end"), ("tau_start", "tau_end"))
        if ema[first] > ema[last]
    ]


def schedule_problems(where: str, study: dict) -> list[str]:
    """A warmup-stable-decay schedule's warmup and cooldown share one run: together more than the
    whole of it would cut the warmup short with a jump down into the cooldown."""
    sched = study["training"]["schedule"]
    if sched["kind"] != "wsd" or sched["warmup"] + sched["cooldown"] <= 1:
        return []
    return [
        f"  {where}.training.schedule: warmup {sched['warmup']} + cooldown {sched['cooldown']} exceed the "
        "whole run (1); a wsd schedule needs warmup + cooldown <= 1"
    ]


def reference_width_problems(where: str, study: dict) -> list[str]:
    """The transfer analysis reads every width's loss at the reference width's optimum, so the
    reference must be a width the study trains (checked here, not after every run has trained)."""
    width = study.get("analysis", {}).get("reference_width")
    if width is None or width in study["widths"]:
        return []
    return [f"  {where}.analysis.reference_width: {width} is not one of the widths {study['widths']}"]
