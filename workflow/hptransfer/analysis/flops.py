"""Training FLOPs of one run of a study at a given width: the cost model behind the advice's
Theorem 2 budgets (paper.md §1.6, where a run at width n costs ~n^r).

The count is the usual one (Kaplan et al.; nanoGPT), the same the training engine logs its
utilisation with (``flops_per_item`` in ``workflow/hptransfer/train/tasks.py``, which counts it
from the built model; a test holds the two equal): 6 FLOPs per weight per token or example (forward
and backward; a Transformer's norm gains counted as weights, as the engine does), plus
12·depth·width·context per token for its attention; embedding lookups and the optimizer update
are left out. Validation and EMA-point passes are not training and are not counted.

Importable without torch: it reads the study block (as sweep.nc records it in its ``config``
attribute) and, for language models, the vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.runs import model_depth

__all__ = ["CostModel", "cost_model"]

# weights per layer of a Transformer block, in units of width^2: attention q, k, v, o (4) plus the
# MLP: SwiGLU gate, up, down of hidden size 4n (12) or GeLU up, down (8)
_BLOCK_MATRICES = {"llama": 16, "gpt2": 12}
# flattened inputs of the image sources of sample-wise studies, and their classes
_IMAGE_INPUTS = {"digits": 64, "cifar10": 3072}
_IMAGE_CLASSES = 10


@dataclass(frozen=True)
class CostModel:
    """FLOPs of one training run as a function of width, for one study."""

    kind: str
    settings: dict  # what the count depends on (recorded in advice.nc)

    def run_flops(self, width) -> np.ndarray:
        """Training FLOPs of one run at each of ``width`` (array-like)."""
        widths = np.atleast_1d(np.asarray(width, dtype=np.float64))
        return np.array([self._one(float(w)) for w in widths]).reshape(np.shape(width))

    def _one(self, n: float) -> float:
        s = self.settings
        if self.kind == "transformer":
            depth = model_depth(s["model"], max(1, int(round(n))))
            # the blocks' matrices, the readout and, as the engine counts them, the 2 norm gains per
            # block and the final one
            weights = depth * _BLOCK_MATRICES[s["model"]["block"]] * n * n + s["vocab_size"] * n + (2 * depth + 1) * n
            per_token = 6 * weights + 12 * depth * n * s["model"]["context"]
            return per_token * s["tokens"]
        # a two-layer network: d_in·n first-layer and n·d_out second-layer weights per example
        return 6 * n * (s["d_in"] + s["d_out"]) * s["examples"]

    def width_for(self, flops: float) -> float:
        """The (real-valued) width whose run costs ``flops``: bisection in log width (the cost
        grows with width); NaN where even width 1 costs more."""
        lo, hi = 0.0, 40.0  # log2 width
        if not np.isfinite(flops) or self._one(1.0) > flops:
            return np.nan
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self._one(2.0**mid) <= flops else (lo, mid)
        return float(2.0**lo)

    def describe(self) -> str:
        s = self.settings
        if self.kind == "transformer":
            return (
                f"6 x weights x tokens + 12 x depth x width x context x tokens: {s['model']['block']} blocks, "
                f"vocabulary {s['vocab_size']}, context {s['model']['context']}, {s['tokens']:g} tokens per run"
            )
        return f"6 x width x ({s['d_in']} + {s['d_out']}) x examples: {s['examples']:g} examples per run"


def cost_model(study: dict, vocab_size: int | None = None) -> CostModel | None:
    """The cost model of a study block (with its defaults, as sweep.nc records it); None where the
    count is not known (a language model without ``vocab_size``, an unknown kind)."""
    kind = study.get("kind")
    if kind in ("lm", "compare"):
        if vocab_size is None:
            return None
        t, m = study["training"], study["model"]
        model = {k: m[k] for k in ("block", "depth", "base_width", "context", "depth_rule")}
        tokens = float(t["steps"] * t["batch_size"] * m["context"])
        return CostModel("transformer", {"model": model, "vocab_size": int(vocab_size), "tokens": tokens})
    if kind == "twolayer":
        examples = float(study["steps"] * study["batch_size"])
        return CostModel("mlp", {"d_in": int(study["d"]), "d_out": 1, "examples": examples})
    if kind == "samplewise":
        d_in = _IMAGE_INPUTS.get(study.get("dataset", {}).get("source"))
        if d_in is None:
            return None
        examples = float(study["training"]["steps"] * study["training"]["batch_size"])
        return CostModel("mlp", {"d_in": d_in, "d_out": _IMAGE_CLASSES, "examples": examples})
    return None
