"""The tiny corpus, study and run configs the tests train on, built through the real config path."""

from __future__ import annotations

import copy
from pathlib import Path

from hptransfer.config.defaults import deep_merge
from hptransfer.config.load import load_config
from hptransfer.config.run import RunConfig
from hptransfer.config.runs import RunKey, format_value
from hptransfer.studies import run_config

REPO = Path(__file__).resolve().parent.parent

# ~100k characters of Shakespeare and a 300-token BPE: prepares in ~1 s, trains a width-16 model at
# ~30 steps/s on one core.
TINY_CORPUS = {"source": "shakespeare", "vocab_size": 300, "val_works": ["tempest"], "max_train_chars": 100_000}

# A complete lm study at the smallest sensible scale (one block, two heads, context 32).
TINY_STUDY = {
    "kind": "lm",
    "corpus": "tiny",
    "parametrizations": ["mup"],
    "hp": "lr",
    "grid": [0.01],
    "widths": [16],
    "seeds": [0],
    "model": {"block": "llama", "depth": 1, "heads": 2, "context": 32, "base_width": 16},
    "optimizer": {"name": "adam", "betas": [0.9, 0.999], "eps": 1e-8},
    "training": {
        "steps": 30,
        "batch_size": 8,
        "val_sequences": 4,
        "log_every": 10,
        "checkpoint_every": 10,
        "schedule": {"kind": "wsd", "warmup": 0.1, "cooldown": 0.2},
    },
    "ema": {"window_start": 2, "window_end": 10, "ramp_steps": 10, "tau_start": 1, "tau_end": 3},
    "decomposition": {"enabled": True, "topk": [4]},
}


def raw_config(study: dict | None = None, **top) -> dict:
    """A raw (unvalidated) config with the tiny corpus and one study ``s`` (TINY_STUDY ⊕ ``study``)."""
    cfg = {"corpora": {"tiny": copy.deepcopy(TINY_CORPUS)}, "studies": {"s": deep_merge(TINY_STUDY, study or {})}}
    cfg.update(copy.deepcopy(top))
    return cfg


def tiny_run_config(
    width: int = 16, lr: float = 0.01, seed: int = 0, param: str = "mup", study: dict | None = None, **top
) -> RunConfig:
    """The run config of one run of the tiny study, through load_config + run_config.

    ``study`` overrides parts of the study block (deep-merged), e.g.
    ``tiny_run_config(study={"training": {"steps": 20}})``; width, lr, seed and param are added to the
    study's grids so that the key exists.
    """
    study = deep_merge({"grid": [lr], "widths": [width], "seeds": [seed], "parametrizations": [param]}, study or {})
    cfg = load_config(raw_config(study, **top))
    return run_config(cfg, RunKey("s", param, width, "lr", format_value(lr), seed))
