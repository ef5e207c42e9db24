"""Configuration: validation against the JSON schema, defaults, and the expansion of studies into runs.

Snakemake calls :func:`load_config` at parse time, so an invalid configuration fails before any job
starts, with a message that names the offending key.
"""
from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import numpy as np
import yaml

from .tables import BUILTIN_TABLES

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"

STUDY_SCHEMA = {"lm": "lm_study", "compare": "lm_study", "rf_ridge": "rf_study", "twolayer": "twolayer_study",
                "samplewise": "samplewise_study"}

LM_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "parametrizations": ["mup"],
    "model": {
        "block": "llama", "depth": 2, "heads": 4, "context": 64, "base_width": 32,
        "base_depth": None, "init_std": 1.0, "embedding_std": 1.0, "rope_theta": 10000.0,
        "depth_rule": {"rule": "fixed", "exponent": 0.0},
    },
    "optimizer": {
        "name": "adam", "lr": 0.004, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
        "momentum": None, "ns_steps": 5, "rank_rule": "bounded", "adam_lr": 0.004, "grad_clip": None,
    },
    "training": {
        "steps": 200, "batch_size": 16, "val_sequences": 16, "log_every": 10,
        "checkpoint_every": 50, "keep_checkpoint": False, "divergence_factor": 2.0,
        "schedule": {"kind": "wsd", "warmup": 0.04, "cooldown": 0.2},
    },
    "ema": {"window_start": 50, "window_end": 2000, "ramp_steps": 2000, "tau_start": 2, "tau_end": 10},
    "decomposition": {"enabled": True, "topk": [60], "analysis_steps": []},
    "analysis": {},
}
# An LM study's `coordcheck` block. Merged where it is read (coordcheck_block), not into the study:
# a study that leaves it out keeps its config, and so its collected datasets, as they were.
# None: resolved from the study by coordcheck_settings.
COORDCHECK_DEFAULTS: dict[str, Any] = {"enabled": False, "steps": 10, "widths": None, "lr": None,
                                       "parametrizations": None, "seeds": 1, "batch_size": 16}
TWOLAYER_DEFAULTS: dict[str, Any] = {
    "enabled": True, "hp": "lr", "steps": 2000, "batch_size": 256, "val_size": 4096, "d": 64,
    "k": 15, "base_width": 128, "second_layer_lr_factor": 1.0, "analysis": {},
}
RF_DEFAULTS: dict[str, Any] = {"enabled": True}
# Sample-wise study (paper §5.6, §7): bias-free MLP, momentum SGD, WSD, mixup + random-resized crop.
# model.depth/depth_rule are not user keys: one hidden layer, recorded for the shared run helpers.
SAMPLEWISE_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "parametrizations": ["mup"],
    "hp": "lr",
    "dataset": {"split_seed": 0, "val_size": None, "augment": {"mixup_alpha": 0.2, "crop_scale": [0.35, 1.0]}},
    "model": {"base_width": 128, "init_std": 1.0, "depth": 1, "depth_rule": {"rule": "fixed", "exponent": 0.0}},
    "optimizer": {"name": "sgd", "lr": 0.016, "momentum": 0.9, "weight_decay": 0.0, "betas": [0.9, 0.999],
                  "eps": 1e-8, "grad_clip": None},
    "training": {
        "steps": 9700, "batch_size": 512, "log_every": 100, "checkpoint_every": 500,
        "keep_checkpoint": False, "divergence_factor": 3.0,
        "schedule": {"kind": "wsd", "warmup": 0.04, "cooldown": 0.2},
    },
    "ema": {"window_start": 50, "window_end": 2000, "ramp_steps": 2000, "tau_start": 2, "tau_end": 10},
    "decomposition": {"enabled": True, "topk": [50], "analysis_steps": [], "max_components": 128},
    "analysis": {},
    "samplewise": {"reference_width": None, "reference_lr": None, "reference_seed": None,
                   "easy_fraction": 0.25, "hard_fraction": 0.05, "overlap_fraction": 0.05,
                   "subset_widths": None, "examples": 4, "example_components": 50},
}
DEFAULTS = {"lm": LM_DEFAULTS, "compare": LM_DEFAULTS, "rf_ridge": RF_DEFAULTS, "twolayer": TWOLAYER_DEFAULTS,
            "samplewise": SAMPLEWISE_DEFAULTS}

CORPUS_DEFAULTS = {
    "shakespeare": {"vocab_size": 1024, "val_works": ["hamlet", "tempest"]},
    "wikitext103": {"vocab_size": 8192},
    "textfiles": {"vocab_size": 4096},
}

HP_NAMES = ("lr", "beta1", "beta2", "momentum", "weight_decay")


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key."""


# ----------------------------------------------------------------------------------------- loading

def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_config(config: dict) -> dict:
    """Validate a raw config (as Snakemake hands it over) and return it with defaults filled in."""
    schema = load_schema()
    _validate(config, schema, "")
    for name, study in config["studies"].items():
        sub = {"$ref": f"#/$defs/{STUDY_SCHEMA[study['kind']]}", "$defs": schema["$defs"]}
        _validate(study, sub, f"studies.{name}")
    full = {
        "corpora": {n: deep_merge(CORPUS_DEFAULTS[c["source"]], c) for n, c in config["corpora"].items()},
        "parametrizations": {**BUILTIN_TABLES, **config.get("parametrizations", {})},
        "studies": {n: deep_merge(DEFAULTS[s["kind"]], s) for n, s in config["studies"].items()},
        "figures": copy.deepcopy(config.get("figures", {})),
        "threads": {"train": 1, "analysis": 1, **config.get("threads", {})},
        "device": config.get("device", "auto"),
        "slurm": {"train_runtime_min_per_kwidth": 30, "train_mem_mb_base": 2000,
                  "train_mem_mb_per_kwidth": 4000, "train_gpus": 1, **config.get("slurm", {})},
    }
    _check_references(full)
    return full


def _validate(instance: Any, schema: dict, prefix: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid config:\n" + "\n".join(_describe(e, prefix) for e in errors))


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    path = _key_path(prefix, error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed
                         and not any(re.search(p, k) for p in patterns)) if isinstance(error.instance, dict) else []
        keys = ", ".join(_key_path(path, [k]) for k in unknown) or path
        allowed += [f"/{p}/" for p in patterns]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"  {keys}: unknown key{hint}"
    if error.validator == "minItems" and error.validator_value == 1:
        return f"  {path}: must not be empty"
    return f"  {path or '<top level>'}: {error.message}"


def _key_path(prefix: str, parts) -> str:
    out = prefix
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else str(p))
    return out


def _check_references(cfg: dict) -> None:
    """Cross-references the schema cannot express."""
    problems = []
    for name, study in cfg["studies"].items():
        where = f"studies.{name}"
        if study["kind"] in ("lm", "compare"):
            if study["corpus"] not in cfg["corpora"]:
                problems.append(f"  {where}.corpus: unknown corpus {study['corpus']!r} "
                                f"(defined: {', '.join(cfg['corpora'])})")
            problems += _table_problems(cfg, f"{where}.parametrizations", study["parametrizations"])
            problems += _width_problems(f"{where}.widths", study["widths"], study["model"])
            problems += _coordcheck_problems(cfg, f"{where}.coordcheck", study)
            problems += _analysis_step_problems(where, study)
            if study["hp"] != "lr" and study["hp"] in ("beta1", "beta2", "momentum"):
                bad = [v for v in study["grid"] if v >= 1]
                if bad:
                    problems.append(f"  {where}.grid: {study['hp']} values must be < 1, got {bad}")
            if study["kind"] == "compare" and len(study["parametrizations"]) < 2:
                problems.append(f"  {where}.parametrizations: a compare study needs at least two")
            optimizer = study["optimizer"]
            if "rank_cap" in optimizer and (optimizer["name"], optimizer["rank_rule"]) != ("dion", "bounded"):
                problems.append(f"  {where}.optimizer.rank_cap: only Dion's bounded rank rule has a cap "
                                f"(optimizer {optimizer['name']!r}, rank_rule {optimizer['rank_rule']!r})")
        elif study.get("analysis", {}).get("step") is not None:
            problems.append(f"  {where}.analysis.step: only language-model studies record the loss at "
                            f"intermediate steps (this study is of kind {study['kind']!r})")
        if study["kind"] == "samplewise":
            problems += _samplewise_problems(cfg, where, study)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(problems))


def _table_problems(cfg: dict, where: str, names: list[str]) -> list[str]:
    return [f"  {where}: unknown table {p!r} (defined: {', '.join(cfg['parametrizations'])})"
            for p in names if p not in cfg["parametrizations"]]


def _width_problems(where: str, widths: list[int], model: dict) -> list[str]:
    problems = []
    for i, w in enumerate(widths):
        if w % model["heads"]:
            problems.append(f"  {where}[{i}]: width {w} is not divisible by model.heads = {model['heads']}")
        elif (w // model["heads"]) % 2:
            problems.append(f"  {where}[{i}]: width {w} gives an odd head dimension "
                            f"{w // model['heads']} (rotary embeddings need it even)")
    return problems


def _analysis_step_problems(where: str, study: dict) -> list[str]:
    """A step the analysis reads must be one the runs record: the end of training or one of
    ``decomposition.analysis_steps``."""
    end, recorded = study["training"]["steps"], set(study["decomposition"]["analysis_steps"])
    named = {"analysis.step": study["analysis"].get("step"),
             "analysis.kappa.analysis_step": study["analysis"].get("kappa", {}).get("analysis_step")}
    problems = []
    for key, step in named.items():
        if step is None or step == end:
            continue
        if step > end:
            problems.append(f"  {where}.{key}: step {step} is after the end of training "
                            f"(training.steps = {end})")
        elif step not in recorded:
            problems.append(f"  {where}.{key}: step {step} is not recorded by the runs; add it to "
                            f"{where}.decomposition.analysis_steps")
    return problems


def _coordcheck_problems(cfg: dict, where: str, study: dict) -> list[str]:
    cc = coordcheck_block(study)
    problems = _table_problems(cfg, f"{where}.parametrizations", cc["parametrizations"] or [])
    if cc["widths"]:
        problems += _width_problems(f"{where}.widths", cc["widths"], study["model"])
    elif cc["enabled"] and len(study["widths"]) < 2:
        problems.append(f"  {where}.widths: a slope against width needs two widths; the study has one")
    return problems


def _samplewise_problems(cfg: dict, where: str, study: dict) -> list[str]:
    from .data.images import missing_files

    problems = _table_problems(cfg, f"{where}.parametrizations", study["parametrizations"])
    dataset = study["dataset"]
    if dataset["source"] == "cifar10":
        if not dataset.get("path"):
            problems.append(f"  {where}.dataset.path: required for source cifar10 (the directory with "
                            "data_batch_1..5 and test_batch)")
        elif study.get("enabled", True):  # a disabled study may name a path that is not there yet
            missing = missing_files(dataset)
            if missing:
                problems.append(f"  {where}.dataset.path: CIFAR-10 batches not found: {', '.join(missing)}")
    sw = study["samplewise"]
    if sw["reference_width"] is not None and sw["reference_width"] not in study["widths"]:
        problems.append(f"  {where}.samplewise.reference_width: {sw['reference_width']} is not one of the "
                        f"widths {study['widths']}")
    if sw["reference_lr"] is not None and not any(math.isclose(sw["reference_lr"], v, rel_tol=1e-9)
                                                  for v in study["grid"]):
        problems.append(f"  {where}.samplewise.reference_lr: {sw['reference_lr']} is not a grid value "
                        f"{study['grid']}")
    if sw["reference_seed"] is not None and sw["reference_seed"] not in study["seeds"]:
        problems.append(f"  {where}.samplewise.reference_seed: {sw['reference_seed']} is not one of the "
                        f"seeds {study['seeds']}")
    bad = sorted(set(sw["subset_widths"] or []) - set(study["widths"]))
    if bad:
        problems.append(f"  {where}.samplewise.subset_widths: {bad} are not widths of the study")
    return problems


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads 1e-8 (no dot) as a float, as YAML 1.2 and JSON do."""


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config safely (never constructs arbitrary objects)."""
    with open(path) as fh:
        return yaml.load(fh, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass


# ------------------------------------------------------------------------------- study expansion

def format_value(value: float) -> str:
    """Canonical text of a grid value in paths: positional, shortest round-trip (0.004, 0.9995, 2)."""
    return np.format_float_positional(float(value), trim="-")


def enabled_studies(cfg: dict, kinds: tuple[str, ...] | None = None) -> dict[str, dict]:
    return {n: s for n, s in cfg["studies"].items()
            if s.get("enabled", True) and (kinds is None or s["kind"] in kinds)}


@dataclass(frozen=True)
class RunKey:
    study: str
    param: str
    width: int
    hp: str
    value: str
    seed: int

    @property
    def path(self) -> str:
        return (f"results/runs/{self.study}/{self.param}/n{self.width}/"
                f"{self.hp}{self.value}/s{self.seed}/run.nc")


def study_run_keys(cfg: dict, study: str) -> Iterator[RunKey]:
    s = cfg["studies"][study]
    for param in s["parametrizations"]:
        for width in s["widths"]:
            for value in s["grid"]:
                for seed in s["seeds"]:
                    yield RunKey(study, param, int(width), s["hp"], format_value(value), int(seed))


def model_depth(model: dict, width: int) -> int:
    """Depth at a width: fixed, or grown as depth·(width/base_width)^exponent (width+depth scaling)."""
    rule = model["depth_rule"]
    if rule["rule"] == "fixed":
        return int(model["depth"])
    return max(1, int(round(model["depth"] * (width / model["base_width"]) ** rule["exponent"])))


def run_config(cfg: dict, key: RunKey) -> dict:
    """Everything that determines one training run, and nothing else.

    The study name is deliberately absent: two studies whose runs coincide produce equal run
    configs, which is how runs are shared instead of trained twice.
    """
    s = cfg["studies"][key.study]
    if s["kind"] == "samplewise":
        return samplewise_run_config(cfg, key)
    model = copy.deepcopy(s["model"])
    model["width"] = key.width
    model["depth"] = model_depth(s["model"], key.width)
    model["base_depth"] = s["model"]["base_depth"] or s["model"]["depth"]
    del model["depth_rule"]
    data = {"corpus": copy.deepcopy(cfg["corpora"][s["corpus"]]) | {"name": s["corpus"]}}
    return data | {"model": model} | _training_settings(cfg, s, key)


def _training_settings(cfg: dict, s: dict, key: RunKey) -> dict:
    """The part of a run config every kind of run shares: parametrization, optimizer with the swept
    value applied, seed, training, EMA and decomposition settings."""
    optimizer = copy.deepcopy(s["optimizer"])
    value = grid_value(s, key.value)
    apply_hp(optimizer, key.hp, value)
    return {
        "parametrization": {"name": key.param, **copy.deepcopy(cfg["parametrizations"][key.param])},
        "optimizer": optimizer,
        "hp": key.hp,
        "hp_value": value,
        "seed": key.seed,
        "training": copy.deepcopy(s["training"]),
        "ema": copy.deepcopy(s["ema"]),
        "decomposition": copy.deepcopy(s["decomposition"]),
    }


def samplewise_run_config(cfg: dict, key: RunKey) -> dict:
    """Run config of a sample-wise (image MLP) run: a ``dataset`` block instead of a ``corpus``."""
    s = cfg["studies"][key.study]
    dataset = {k: copy.deepcopy(v) for k, v in s["dataset"].items() if v is not None}
    model = {"width": key.width, "base_width": s["model"]["base_width"], "init_std": s["model"]["init_std"],
             "depth": 1, "base_depth": 1}
    return {"dataset": dataset, "model": model} | _training_settings(cfg, s, key)


def coordcheck_block(study: dict) -> dict:
    return deep_merge(COORDCHECK_DEFAULTS, study.get("coordcheck", {}))


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


def samplewise_reference_keys(cfg: dict, study: str) -> list[RunKey]:
    """Runs of a sample-wise study that can be its reference run (the analysis picks one): the
    reference width and seed (default smallest), at the reference LR if set, else at every LR."""
    s = cfg["studies"][study]
    sw = s["samplewise"]
    width = sw["reference_width"] or min(s["widths"])
    seed = sw["reference_seed"] if sw["reference_seed"] is not None else min(s["seeds"])
    lr = sw["reference_lr"]
    return [key for key in study_run_keys(cfg, study)
            if key.width == width and key.seed == seed
            and (lr is None or math.isclose(float(key.value), lr, rel_tol=1e-9))]


def samplewise_outputs(cfg: dict, study: str) -> list[str]:
    """Study-level targets of a sample-wise study."""
    out = [f"results/studies/{study}/{x}" for x in ("sweep.nc", "transfer.nc", "summary.md")]
    if cfg["studies"][study]["decomposition"]["enabled"]:
        out += [f"results/studies/{study}/{x}"
                for x in ("kappa.nc", "samplewise.nc", "transfer_easy.nc", "transfer_hard.nc")]
    return out


def apply_hp(optimizer: dict, hp: str, value: float) -> None:
    """Put the swept value where the optimizer reads it."""
    if hp == "beta1":
        optimizer["betas"] = [value, optimizer["betas"][1]]
    elif hp == "beta2":
        optimizer["betas"] = [optimizer["betas"][0], value]
    else:
        optimizer[hp] = value


def grid_value(study: dict, text: str) -> float:
    for v in study["grid"]:
        if format_value(v) == text:
            return float(v)
    raise ConfigError(f"{text!r} is not a grid value of this study ({study['grid']})")


def run_owner(cfg: dict, key: RunKey) -> RunKey:
    """The key under which this run is actually trained: the first enabled study (in config order)
    that has a run with an identical run config."""
    mine = canonical_json(run_config(cfg, key))
    for name, s in enabled_studies(cfg, ("lm", "compare")).items():
        if name == key.study:
            break
        if s["hp"] != key.hp or key.param not in s["parametrizations"] or key.width not in s["widths"] \
                or key.seed not in s["seeds"] or key.value not in {format_value(v) for v in s["grid"]}:
            continue
        other = RunKey(name, key.param, key.width, key.hp, key.value, key.seed)
        if canonical_json(run_config(cfg, other)) == mine:
            return other
    return key


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=float)


def corpus_dir(name: str) -> str:
    return f"results/data/{name}"


def width_cost(width: int, depth: int) -> float:
    """Relative cost of one run, for cluster resources (parameters ∝ depth·width²)."""
    return depth * (width / 1024) ** 2
