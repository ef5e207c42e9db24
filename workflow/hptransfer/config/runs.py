"""The expansion of a loaded config into runs: run keys and their paths, the parts of a run config
every kind shares, grid values as path text, and run sharing between studies.

Everything that differs between kinds of study is asked of the registry, :mod:`hptransfer.studies`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from . import defaults
from .errors import ConfigError


def format_value(value: float) -> str:
    """Canonical text of a grid value in paths: positional, shortest round-trip (0.004, 0.9995, 2)."""
    return np.format_float_positional(float(value), trim="-")


def enabled_studies(cfg: dict) -> dict[str, dict]:
    return {n: s for n, s in cfg["studies"].items() if s.get("enabled", True)}


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
        return f"results/runs/{self.study}/{self.param}/n{self.width}/{self.hp}{self.value}/s{self.seed}/run.nc"


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


def training_settings(cfg: dict, s: dict, key: RunKey) -> dict:
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
        "training": execution_settings(copy.deepcopy(s["training"])),
        "ema": copy.deepcopy(s["ema"]),
        "decomposition": without_default(copy.deepcopy(s["decomposition"]), "linearization", defaults.LINEARIZATION),
    }


def execution_settings(training: dict) -> dict:
    """A training block with its execution settings normalised: ``compile`` as "on"/"off" (YAML
    reads a bare on/off as a boolean), and both left out at their default, so that a run config
    names them only where a study sets them and existing runs keep their identity."""
    if isinstance(training.get("compile"), bool):
        training["compile"] = "on" if training["compile"] else "off"
    without_default(training, "precision", defaults.PRECISION)
    return without_default(training, "compile", defaults.COMPILE)


def without_default(block: dict, key: str, default) -> dict:
    """``block`` without ``key`` where it holds its default (so a run config names a setting only
    where a study changes it, and adding the setting changed no run's identity)."""
    if block.get(key) == default:
        del block[key]
    return block


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


def corpus_dir(name: str) -> str:
    return f"results/data/{name}"


def width_cost(width: int, depth: int) -> float:
    """Relative cost of one run, for cluster resources (parameters ∝ depth·width²)."""
    return depth * (width / 1024) ** 2
