"""Optimizer construction from a run config's ``optimizer`` block and the parametrization's groups."""

from __future__ import annotations

import torch

from ..config import defaults
from ..config.run import Optimizer
from .combined import Combined
from .dion import Dion
from .muon import Muon


def momentum_of(opt: Optimizer) -> float:
    return opt.momentum if opt.momentum is not None else defaults.MOMENTUM[opt.name]


def build_optimizer(opt: Optimizer, groups: list[dict], width: int, seed: int) -> torch.optim.Optimizer:
    """Adam (coupled weight decay), AdamW (decoupled), momentum SGD, or Muon/Dion on the hidden
    matrices with Adam on everything else (paper §5.2–5.3)."""
    betas = tuple(opt.betas)
    kernels = _kernels(groups)
    if opt.name == "adam":
        return torch.optim.Adam(groups, lr=opt.lr, betas=betas, eps=opt.eps, **kernels)
    if opt.name == "adamw":
        return torch.optim.AdamW(groups, lr=opt.lr, betas=betas, eps=opt.eps, **kernels)
    if opt.name == "sgd":
        return torch.optim.SGD(groups, lr=opt.lr, momentum=momentum_of(opt), **kernels)
    return _matrix_optimizer(opt, groups, width, seed)


def _kernels(groups: list[dict]) -> dict[str, bool]:
    """Fused kernels on a GPU (one launch per step for all parameters); the multi-tensor foreach
    path on a CPU, whose arithmetic the CPU runs' byte-identical results were recorded with."""
    on_gpu = any(p.is_cuda for g in groups for p in g["params"])
    return {"fused": True} if on_gpu else {"foreach": True}


def _matrix_optimizer(opt: Optimizer, groups: list[dict], width: int, seed: int):
    matrix = [g for g in groups if g["family"] == "muon"]
    other = [g for g in groups if g["family"] != "muon"]
    if opt.name == "muon":
        mat_opt = Muon(matrix, lr=opt.lr, momentum=momentum_of(opt), ns_steps=opt.ns_steps)
    else:
        for g in matrix:
            g["width"], g["rank_rule"] = width, opt.rank_rule
        cap = {"rank_cap": opt.rank_cap} if opt.rank_cap is not None else {}
        mat_opt = Dion(matrix, lr=opt.lr, mu=momentum_of(opt), seed=seed, **cap)
    adam = torch.optim.Adam(other, lr=opt.adam_lr, betas=tuple(opt.betas), eps=opt.eps, **_kernels(other))
    return Combined([mat_opt, adam])
