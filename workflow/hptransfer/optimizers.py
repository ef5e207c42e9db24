"""Optimizer construction from a run config's ``optimizer`` block and the parametrization's groups."""
from __future__ import annotations

import torch

# Momentum when the config leaves it unset: SGD as in the CIFAR study, Muon β and Dion μ of §5.2–5.3.
DEFAULT_MOMENTUM = {"sgd": 0.9, "muon": 0.95, "dion": 0.95}


def momentum_of(opt: dict) -> float:
    return opt["momentum"] if opt.get("momentum") is not None else DEFAULT_MOMENTUM[opt["name"]]


def build_optimizer(opt: dict, groups: list[dict], width: int, seed: int) -> torch.optim.Optimizer:
    """Adam (coupled weight decay), AdamW (decoupled), momentum SGD, or Muon/Dion on the hidden
    matrices with Adam on everything else (paper §5.2–5.3)."""
    name = opt["name"]
    betas = tuple(opt["betas"])
    if name == "adam":
        return torch.optim.Adam(groups, lr=opt["lr"], betas=betas, eps=opt["eps"], foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=opt["lr"], betas=betas, eps=opt["eps"], foreach=True)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=opt["lr"], momentum=momentum_of(opt), foreach=True)
    return _matrix_optimizer(opt, groups, width, seed)


def _matrix_optimizer(opt: dict, groups: list[dict], width: int, seed: int):
    from .optim import Combined, Dion, Muon

    matrix = [g for g in groups if g["family"] == "muon"]
    other = [g for g in groups if g["family"] != "muon"]
    if opt["name"] == "muon":
        mat_opt = Muon(matrix, lr=opt["lr"], momentum=momentum_of(opt), ns_steps=opt["ns_steps"])
    else:
        for g in matrix:
            g["width"], g["rank_rule"] = width, opt["rank_rule"]
        # rank_cap only where the config sets it, so run configs without it keep their bytes
        cap = {"rank_cap": opt["rank_cap"]} if "rank_cap" in opt else {}
        mat_opt = Dion(matrix, lr=opt["lr"], mu=momentum_of(opt), seed=seed, **cap)
    adam = torch.optim.Adam(other, lr=opt["adam_lr"], betas=tuple(opt["betas"]), eps=opt["eps"], foreach=True)
    return Combined([mat_opt, adam])
