"""What a config costs on this machine's device: every training run's steps and EMA points, priced by
a per-step and per-EMA-point cost measured here for each distinct model shape (a few steps each;
costs are cached in a JSON file so a second estimate measures nothing).

An EMA point is priced at its full wall time, as if it did not overlap with training: on a GPU,
where the decomposition runs in a background thread, the estimate is an upper bound.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config.run import RunConfig
from ..config.runs import study_run_keys
from ..io import write_bytes, write_text
from ..optim.schedules import ema_sample_steps
from ..studies import kind_of, run_config, run_owner
from .batched import train_batched
from .device import synchronize
from .engine import Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cost:
    """Device-seconds of one study: its training steps and its EMA points."""

    study: str
    jobs: int
    steps: int
    points: int
    train_s: float
    points_s: float

    @property
    def total_s(self) -> float:
        return self.train_s + self.points_s


def shape_key(cfg: RunConfig) -> str:
    """What a step's cost depends on: the whole run config but the swept value and the seed."""
    shape = cfg.to_dict()
    for key in ("hp", "hp_value", "seed"):
        shape.pop(key)
    shape["optimizer"].pop("lr")
    shape["training"].pop("steps")
    return json.dumps(shape, sort_keys=True)


class Prices:
    """Per-step and per-EMA-point seconds by model shape, measured on ``device`` once and cached."""

    def __init__(self, device: torch.device, cache: Path | None, steps: int = 8):
        self.device, self.cache, self.steps = device, cache, steps
        self.table = json.loads(cache.read_text()) if cache and cache.exists() else {}
        self.data = Path(tempfile.mkdtemp(prefix="hptransfer-estimate-"))

    def _key(self, key: str) -> str:
        return f"{self.device.type}:{key}"

    def lm(self, cfg: RunConfig) -> tuple[float, float]:
        key = self._key(shape_key(cfg))
        if key not in self.table:
            self.table[key] = measure_run(cfg, self._corpus(cfg), self.device, self.steps)
            self._save()
        return tuple(self.table[key])

    def twolayer(self, study: dict, width: int) -> float:
        block = {k: v for k, v in study.items() if k not in ("grid", "seeds", "widths", "steps", "enabled")}
        key = self._key(
            json.dumps(
                {"twolayer": block, "width": width, "models": len(study["grid"]) * len(study["seeds"])},
                sort_keys=True,
                default=float,
            )
        )
        if key not in self.table:
            self.table[key] = measure_batched(study, width, self.device, self.steps)
            self._save()
        return self.table[key]

    def _corpus(self, cfg: RunConfig) -> Path:
        vocab = cfg.corpus.vocab_size
        out = self.data / f"vocab{vocab}"
        if not (out / "meta.json").exists():
            rng = np.random.default_rng(0)
            for name, size in (("train.bin", 1 << 20), ("val.bin", 1 << 17)):
                write_bytes(rng.integers(0, vocab, size, dtype=np.uint16).tobytes(), out / name)
            write_text(json.dumps({"vocab_size": vocab, "dtype": "uint16"}), out / "meta.json")
        return out

    def _save(self) -> None:
        if self.cache:
            write_text(json.dumps(self.table, indent=1, sort_keys=True) + "\n", self.cache)


def measure_run(cfg: RunConfig, data: Path, device: torch.device, steps: int) -> tuple[float, float]:
    """Seconds per training step (after three warm-up steps, which compile) and per EMA point."""
    cfg = replace(cfg, training=replace(cfg.training, steps=10**6, checkpoint_every=10**9))
    run = Run(cfg, data, device, background_decomposition=False)
    for s in range(3):
        run.train_step(s)
    synchronize(device)
    start = time.perf_counter()
    for s in range(3, 3 + steps):
        run.train_step(s)
    synchronize(device)
    step_s = (time.perf_counter() - start) / steps
    run.evaluate_point(3 + steps)  # the first point only snapshots; the second decomposes
    start = time.perf_counter()
    run.evaluate_point(4 + steps)
    synchronize(device)
    return step_s, time.perf_counter() - start


def measure_batched(study: dict, width: int, device: torch.device, steps: int) -> float:
    """Seconds per step of a two-layer width job (all its learning rates and seeds as one model)."""
    timed = []
    for n in (1, 1 + steps):  # the difference cancels set-up and validation
        start = time.perf_counter()
        train_batched(study, width, study["grid"], study["seeds"], n, study["batch_size"], device=device.type)
        timed.append(time.perf_counter() - start)
    return max(timed[1] - timed[0], 0.0) / steps


def estimate(cfg: dict, prices: Prices) -> list[Cost]:
    """The cost of every enabled study of a loaded config that trains (a run shared by several
    studies is counted once, at the study that trains it)."""
    costs = []
    for name, study in cfg["studies"].items():
        if not study.get("enabled", True):
            continue
        kind = kind_of(study)
        if kind.trains_per_run:
            costs.append(_per_run_cost(cfg, name, prices))
        elif kind.run_paths(cfg, name):
            costs.append(_per_width_cost(name, study, prices))
    return costs


def _per_run_cost(cfg: dict, name: str, prices: Prices) -> Cost:
    jobs = steps = points = 0
    train_s = points_s = 0.0
    for key in study_run_keys(cfg, name):
        if run_owner(cfg, key) != key:
            continue
        rc = run_config(cfg, key)
        step_s, point_s = prices.lm(rc)
        n_points = len(ema_sample_steps(rc.training.steps, rc.ema, rc.decomposition.analysis_steps))
        jobs, steps, points = jobs + 1, steps + rc.training.steps, points + n_points
        train_s += rc.training.steps * step_s
        points_s += n_points * point_s
    return Cost(name, jobs, steps, points, train_s, points_s)


def _per_width_cost(name: str, study: dict, prices: Prices) -> Cost:
    train_s = sum(study["steps"] * prices.twolayer(study, w) for w in study["widths"])
    return Cost(name, len(study["widths"]), study["steps"] * len(study["widths"]), 0, train_s, 0.0)


def report(costs: list[Cost], device: str) -> str:
    unit = "GPU-h" if device != "cpu" else "CPU-h"
    rows = [
        f"{'study':<28} {'jobs':>6} {'steps':>10} {'EMA pts':>9} {'train ' + unit:>12} "
        f"{'EMA ' + unit:>10} {'total ' + unit:>12} {'EMA share':>9}"
    ]
    for c in [
        *costs,
        Cost("total", *(sum(getattr(c, f) for c in costs) for f in ("jobs", "steps", "points", "train_s", "points_s"))),
    ]:
        share = f"{c.points_s / c.total_s:.0%}" if c.total_s else "-"
        rows.append(
            f"{c.study:<28} {c.jobs:>6} {c.steps:>10} {c.points:>9} {c.train_s / 3600:>12.3g} "
            f"{c.points_s / 3600:>10.3g} {c.total_s / 3600:>12.3g} {share:>9}"
        )
    return "\n".join(rows)
