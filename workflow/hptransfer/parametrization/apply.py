"""Parametrizations as declarative tables (abc-parametrizations relative to a base width).

A table gives, for each parameter *role*, exponents ``e`` such that a quantity at width ``n`` is its
base-width value times ``m ** -e`` with ``m = n / base_width``:

* ``init``: the initial standard deviation (the base value is ``init_std / sqrt(fan_in)`` at the base
  width for matrices, ``embedding_std`` for embeddings);
* ``mult``: a fixed forward multiplier (e.g. the µP readout's ``1/m``);
* ``lr``: the learning rate, per optimizer family (``adam``, ``sgd``, ``muon`` for the matrix
  optimizers Muon and Dion, whose own sqrt(fan_out/fan_in) factor already carries the width);
* ``wd``: the weight decay.

``attention`` is the exponent of ``d_head / d_head_base`` applied to the attention logit scale on top
of ``1/sqrt(d_head)`` (µP: 0.5, i.e. logits scaled by ``sqrt(d_head_base) / d_head``), and
``depth_lr`` scales hidden learning rates by ``(depth / base_depth) ** -depth_lr``.

Nothing here is stored on tensors: the model receives plain multipliers, and every per-parameter
learning rate and weight decay lives as a plain number in an optimizer parameter group, so
checkpoints, ``torch.compile`` and FSDP see ordinary modules.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from ..config.run import Optimizer, Parametrization


def width_factor(width: int, base_width: int, exponent: float) -> float:
    return (width / base_width) ** (-exponent)


def optimizer_family(optimizer: str, role: str) -> str:
    if optimizer in ("adam", "adamw"):
        return "adam"
    if optimizer == "sgd":
        return "sgd"
    # Muon/Dion update the hidden matrices only; the rest runs on Adam.
    return "muon" if role == "hidden" else "adam"


def forward_multipliers(table: Parametrization, width: int, base_width: int, heads: int | None = None) -> dict:
    """Plain numbers the model multiplies by in its forward pass."""
    out = {
        "readout_mult": width_factor(width, base_width, table.role("readout").mult),
        "second_layer_mult": width_factor(width, base_width, table.role("second_layer").mult),
    }
    if heads:
        d_head, d_base = width / heads, base_width / heads
        out["attn_scale"] = (1.0 / math.sqrt(d_head)) * (d_head / d_base) ** (-(table.attention or 0.0))
    return out


@torch.no_grad()
def init_parameters(
    model: nn.Module,
    roles: dict[str, str],
    table: Parametrization,
    width: int,
    base_width: int,
    init_std: float,
    embedding_std: float,
    generator: torch.Generator,
) -> None:
    """Initialise every parameter from the table; norm gains start at one, biases at zero."""
    for name, p in model.named_parameters():
        role = roles[name]
        if role == "vector":
            p.fill_(0.0 if name.endswith("bias") else 1.0)
            continue
        base = embedding_std if role == "embedding" else init_std / math.sqrt(_base_fan_in(p, role, width, base_width))
        std = base * width_factor(width, base_width, table.role(role).init)
        p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)


def _base_fan_in(p: torch.Tensor, role: str, width: int, base_width: int) -> float:
    """fan_in at the base width: the init exponent carries the width dependence from there."""
    fan_in = p.shape[1]
    if role in ("hidden", "readout", "second_layer"):
        return fan_in * base_width / width
    return fan_in


def build_param_groups(
    named_params: Iterable[tuple[str, torch.Tensor]],
    roles: dict[str, str],
    table: Parametrization,
    optimizer: Optimizer,
    width: int,
    base_width: int,
    depth: int = 1,
    base_depth: int = 1,
) -> list[dict[str, Any]]:
    """One optimizer group per (role, family): lr and weight decay as plain numbers.

    ``base_lr`` is the scaled peak learning rate; the schedule sets ``lr = base_lr * factor``.
    """
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for name, p in named_params:
        role = roles[name]
        family = optimizer_family(optimizer.name, role)
        key = (role, family)
        if key not in groups:
            entry = table.role(role)
            peak = (
                optimizer.lr if family in ("sgd", "muon") or optimizer.name in ("adam", "adamw") else optimizer.adam_lr
            )
            lr = peak * width_factor(width, base_width, getattr(entry.lr, family))
            if role == "hidden":
                lr *= (depth / base_depth) ** (-(table.depth_lr or 0.0))
            wd = optimizer.weight_decay * width_factor(width, base_width, entry.wd)
            groups[key] = {
                "params": [],
                "names": [],
                "role": role,
                "family": family,
                "lr": lr,
                "base_lr": lr,
                "weight_decay": wd,
            }
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]
