"""What Muon and Dion share: the width scaling of a unit-spectral update and the in-place update
arithmetic.

Conventions: a weight ``W`` is stored ``(out, in)`` like ``nn.Linear``, so ``m = fan_out =
W.shape[0]`` and ``n = fan_in = W.shape[1]``; both matrix optimizers scale their unit-spectral
update by ``sqrt(m / n)`` (the μP scaling of paper App. A.2/A.3; spec §5.2, §5.3, §7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

UPDATE_SCALES = ("sqrt_fan_ratio", "torch_original", "match_rms_adamw", "none")


def update_scale(scale: str, fan_out: int, fan_in: int) -> float:
    """Multiplier applied to lr for a unit-spectral update of a (fan_out, fan_in) matrix.

    ``sqrt_fan_ratio``: sqrt(m/n), the paper's μP rule (default).
    ``torch_original``: sqrt(max(1, m/n)), torch.optim.Muon's default (Keller Jordan's rule).
    ``match_rms_adamw``: 0.2·sqrt(max(m, n)), torch.optim.Muon's Moonshot option.
    ``none``: 1.
    """
    if scale == "sqrt_fan_ratio":
        return math.sqrt(fan_out / fan_in)
    if scale == "torch_original":
        return math.sqrt(max(1, fan_out / fan_in))
    if scale == "match_rms_adamw":
        return 0.2 * math.sqrt(max(fan_out, fan_in))
    if scale == "none":
        return 1.0
    raise ValueError(f"unknown update scale {scale!r}; choose one of {UPDATE_SCALES}")


def require_matrices(optimizer_name: str, group: dict[str, Any]) -> None:
    for p in group["params"]:
        if p.ndim != 2:
            raise ValueError(
                f"{optimizer_name} only updates 2-D (out, in) weight matrices, got a parameter of "
                f"shape {tuple(p.shape)}; give embeddings, readout and vectors to Adam "
                "(see hptransfer.optim.Combined)"
            )


def subtract_scaled(p: Tensor, update: Tensor, step_size: float) -> None:
    """W ← W − step_size · update, written as a multiply then a subtract, on purpose.

    Not ``p.add_(update, alpha=-step_size)``: (i) dynamo bakes ``alpha`` into the graph as a
    constant, so a compiled step recompiles for every new lr of a schedule (hitting the recompile
    limit during WSD warmup), whereas a float operand of ``*`` becomes a graph input; (ii) torch
    2.13's inductor drops ``alpha`` when the added tensor is a plain matmul such as Dion's P Q_newᵀ,
    silently taking a step of size 1 (same family as pytorch/pytorch#167313).
    The cast comes first so a bf16 NS output is scaled in the parameter's precision.
    """
    p.sub_(update.to(p.dtype) * step_size)


def decoupled_decay(p: Tensor, lr: float, weight_decay: float) -> None:
    """W ← W·(1 − lr·wd): decoupled decay with the unscaled lr, as torch.optim.Muon/AdamW do."""
    if weight_decay != 0:
        p.mul_(1 - lr * weight_decay)


def evaluate_closure(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The optimizer-step closure convention: re-evaluate the loss with gradients enabled."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
