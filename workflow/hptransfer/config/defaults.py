"""Every default of the configuration, defined once.

Plain data, importable without numpy or torch (Snakemake reads the config on a cluster's login node).
:func:`hptransfer.config.load.load_config` merges the study defaults of each kind (chosen by the
registry, :mod:`hptransfer.studies`) under the user's blocks; the engine, the analyses and the
synthetic generators read the rest from here when they are called directly.
"""

from __future__ import annotations

import copy
from typing import Any

# ------------------------------------------------------------------------------- top level

DEVICE = "auto"
THREADS: dict[str, int] = {"train": 1, "analysis": 1}
# Cluster resources of a training job: memory and time grow with width (see rules/common.smk).
SLURM: dict[str, Any] = {
    "train_runtime_min_per_kwidth": 30,
    "train_mem_mb_base": 2000,
    "train_mem_mb_per_kwidth": 4000,
    "train_gpus": 1,
}
CORPORA: dict[str, dict[str, Any]] = {
    "shakespeare": {"vocab_size": 1024, "val_works": ["hamlet", "tempest"]},
    "wikitext103": {"vocab_size": 8192},
    "textfiles": {"vocab_size": 4096},
}

# ----------------------------------------------------------------------- optimizers, schedules

# Momentum when the config leaves it unset: SGD as in the CIFAR study, Muon β and Dion μ of §5.2–5.3.
MOMENTUM: dict[str, float] = {"sgd": 0.9, "muon": 0.95, "dion": 0.95}
OPTIMIZER: dict[str, Any] = {
    "name": "adam",
    "lr": 0.004,
    "betas": [0.9, 0.999],
    "eps": 1e-8,
    "weight_decay": 0.0,
    "momentum": None,
    "ns_steps": 5,
    "rank_rule": "bounded",
    "adam_lr": 0.004,
    "grad_clip": None,
}
SCHEDULE: dict[str, Any] = {"kind": "wsd", "warmup": 0.04, "cooldown": 0.2}
# How training executes (``training.precision``, ``training.compile``): "auto" decides by device
# (bf16 autocast and torch.compile on CUDA, plain fp32 eager on a CPU). A run config leaves out a
# setting at its default, so adding these settings changed no run's identity.
PRECISION = "auto"
COMPILE = "auto"
# The decomposition's rule (``decomposition.linearization``): the paper's left-point gradient. Like the
# execution settings, left out of a run config at its default.
LINEARIZATION = "left"
# The EMA window and subsampling schedules of paper §4.1.
EMA: dict[str, Any] = {"window_start": 50, "window_end": 2000, "ramp_steps": 2000, "tau_start": 2, "tau_end": 10}

# ------------------------------------------------------------------------------------ analysis

# The transfer analysis (optima, rates, verdict) of a study's ``analysis`` block.
TRANSFER_ANALYSIS: dict[str, Any] = {
    "reference_width": None,  # None: the smallest width
    "infinity": "n_max",
    "bootstrap": {"n": 1000, "level": 0.9, "seed": 0},
    "theorem2": {"r": 2, "h": 1},
    "curve_points": 201,
}
# The advice's target widths when a study's ``analysis.advise_widths`` is unset: these multiples of
# its largest width. Kept out of the study block's defaults, so that sweep.nc (which records the
# block) of a study without the key stays as it was.
ADVISE_WIDTH_FACTORS: tuple[int, ...] = (4, 16, 64)
# Algorithm 1's tolerance grid T (paper §7: τ1, τ2 range over it in units of the grid step in ν).
KAPPA_TAUS: tuple[float, ...] = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
# The sample-wise analysis (paper §4.6, §5.6): which run defines the easy/hard subsets, their sizes.
# None: resolved from the study (smallest width, best grid LR there, first seed, every width).
SAMPLEWISE_ANALYSIS: dict[str, Any] = {
    "reference_width": None,
    "reference_lr": None,
    "reference_seed": None,
    "easy_fraction": 0.25,
    "hard_fraction": 0.05,
    "overlap_fraction": 0.05,
    "subset_widths": None,
    "examples": 4,
    "example_components": 50,
}

# --------------------------------------------------------------------------------- study kinds

LM_STUDY: dict[str, Any] = {
    "enabled": True,
    "parametrizations": ["mup"],
    "model": {
        "block": "llama",
        "depth": 2,
        "heads": 4,
        "context": 64,
        "base_width": 32,
        "base_depth": None,
        "init_std": 1.0,
        "embedding_std": 1.0,
        "rope_theta": 10000.0,
        "depth_rule": {"rule": "fixed", "exponent": 0.0},
    },
    "optimizer": OPTIMIZER,
    "training": {
        "steps": 200,
        "batch_size": 16,
        "val_sequences": 16,
        "log_every": 10,
        "checkpoint_every": 50,
        "keep_checkpoint": False,
        "divergence_factor": 2.0,
        "schedule": SCHEDULE,
    },
    "ema": EMA,
    "decomposition": {"enabled": True, "topk": [60], "analysis_steps": []},
    "analysis": {},
}
# An LM study's `coordcheck` block. Merged where it is read (config.runs.coordcheck_block), not into
# the study: a study that leaves it out keeps its config, and so its collected datasets, as they
# were. None: resolved from the study by config.runs.coordcheck_settings.
COORDCHECK: dict[str, Any] = {
    "enabled": False,
    "steps": 10,
    "widths": None,
    "lr": None,
    "parametrizations": None,
    "seeds": 1,
    "batch_size": 16,
}

# The two-layer task and its batched trainer (paper §3): what synthetic.twolayer and
# train.batched read; a study block overrides any of these keys.
TWOLAYER_TASK: dict[str, Any] = {
    "task": "sphere",
    "d": 64,
    "k": 15,
    "val_size": 2**14,
    "val_seed": 0,
    "base_width": 128,
    "second_layer_lr_factor": 1.0,
    "betas": [0.9, 0.999],
    "eps": 1e-8,
    # A run is diverged when its training loss is NaN/inf or exceeds this (both tasks start near
    # loss 1: BCE ln 2, MSE E y² = 1).
    "divergence_bound": 100.0,
    # Validation loss is logged at this many evenly spaced steps (including 0 and the last).
    "n_log": 9,
    "dtype": "float32",
    # Upper bound on elements of one (models × val chunk × width) hidden activation tensor.
    "val_chunk_elements": 2**25,
}
# A two-layer study: the task keys a study block shows, at the study's smaller validation set.
TWOLAYER_STUDY: dict[str, Any] = {
    "enabled": True,
    "hp": "lr",
    "steps": 2000,
    "batch_size": 256,
    "val_size": 4096,
    **{key: TWOLAYER_TASK[key] for key in ("d", "k", "base_width", "second_layer_lr_factor")},
    "analysis": {},
}

RF_STUDY: dict[str, Any] = {"enabled": True}
# Random-features ridge (paper §2): the model, the figure's ranges and the finite-size simulation.
RF_RIDGE: dict[str, Any] = {
    "psi1": 4.0,
    "sigma_eps": 0.25,
    # Fig 4a: n/d = 4, 4√2, 8, …, 256 (√2 spacing, [UNSPEC] in the paper).
    "psi2_curves": [4.0 * 2.0 ** (j / 2) for j in range(13)],
    # Fig 4b: 4 … ≈181 in √2 steps, 12 points.
    "psi2_rates": [4.0 * 2.0 ** (j / 2) for j in range(12)],
    # Fig 4a's x-axis: λ from ≈0.08 to 1.0 (linear).
    "lam": [round(0.08 + 0.01 * i, 10) for i in range(93)],
    # Tail over which the log-log slopes of a, b, c are fitted (b peaks near ψ2 ≈ 6, so the early
    # points are pre-asymptotic).
    "slope_fit_min_psi2": 32.0,
    # Far-out widths where Theorem 3's asymptotic slopes are checked (not plotted).
    "asymptotic_psi2": [1024.0, 2048.0, 4096.0, 8192.0, 16384.0],
    # The finite-size check of §2.5 at ψ2 = 4 and 16, at a CPU-cheap d.
    "simulation": {"d": 100, "n_draws": 10, "psi2": [4.0, 16.0], "lam": [0.1, 0.2, 0.3, 0.4, 0.6, 1.0], "seed": 0},
}
# The rf_ridge study's feature activation and target (``activation``, ``target``): the paper's tanh
# features and ReLU target. Kept out of RF_RIDGE, so that rf.nc (whose ``config`` attribute records
# the merged RF_RIDGE) of a study without the keys stays as it was.
RF_FUNCTIONS: dict[str, str] = {"activation": "tanh", "target": "relu"}

# Sample-wise study (paper §5.6, §7): bias-free MLP, momentum SGD, WSD, mixup + random-resized crop.
# model.depth/depth_rule are not user keys: one hidden layer, recorded for the shared run helpers.
SAMPLEWISE_STUDY: dict[str, Any] = {
    "enabled": True,
    "parametrizations": ["mup"],
    "hp": "lr",
    "dataset": {"split_seed": 0, "val_size": None, "augment": {"mixup_alpha": 0.2, "crop_scale": [0.35, 1.0]}},
    "model": {"base_width": 128, "init_std": 1.0, "depth": 1, "depth_rule": {"rule": "fixed", "exponent": 0.0}},
    "optimizer": {
        "name": "sgd",
        "lr": 0.016,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "grad_clip": None,
    },
    "training": {
        "steps": 9700,
        "batch_size": 512,
        "log_every": 100,
        "checkpoint_every": 500,
        "keep_checkpoint": False,
        "divergence_factor": 3.0,
        "schedule": SCHEDULE,
    },
    "ema": EMA,
    "decomposition": {"enabled": True, "topk": [50], "analysis_steps": [], "max_components": 128},
    "analysis": {},
    "samplewise": SAMPLEWISE_ANALYSIS,
}


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base`` (typically a block over its defaults), nested blocks merged
    key by key; neither input is modified."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
