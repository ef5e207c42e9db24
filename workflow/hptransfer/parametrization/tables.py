"""Built-in parametrization tables (plain data; see hptransfer.parametrization.apply for their meaning).

Kept free of torch so that reading and validating a config — which Snakemake does on every start,
also on a cluster's login node — does not import it.
"""

from __future__ import annotations

import copy

ROLES = ("embedding", "hidden", "readout", "vector", "first_layer", "second_layer")
FAMILIES = ("adam", "sgd", "muon")

ZERO_ROLE = {"init": 0.0, "mult": 0.0, "wd": 0.0, "lr": {"adam": 0.0, "sgd": 0.0, "muon": 0.0}}


def _role(init=0.0, mult=0.0, wd=0.0, adam=0.0, sgd=0.0, muon=0.0) -> dict:
    return {"init": init, "mult": mult, "wd": wd, "lr": {"adam": adam, "sgd": sgd, "muon": muon}}


# Standard parametrization: fan-in init everywhere, one global learning rate.
SP = {
    "description": "Standard parametrization: fan-in initialisation, width-independent learning rates.",
    "roles": {
        "embedding": _role(),
        "hidden": _role(init=0.5),
        "readout": _role(init=0.5),
        "vector": _role(),
        "first_layer": _role(),
        "second_layer": _role(init=0.5),
    },
    "attention": 0.0,
    "depth_lr": 0.0,
}

# Maximal update parametrization (Tensor Programs V, Table 3, in the MuReadout form of the `mup`
# package: a readout multiplier 1/m on a readout whose init std stays at its base-width value, which
# is TP5's std ∝ 1/n readout). Adam: hidden LR ∝ 1/m, everything
# else width-independent. SGD: input-like weights and vectors LR ∝ m, hidden LR constant, readout LR ∝ m
# (the 1/m multiplier acts twice on an SGD update, so the stored weight's LR must grow by m).
MUP = {
    "description": "µP (Tensor Programs V) with a 1/m readout multiplier and 1/d_head attention.",
    "roles": {
        "embedding": _role(sgd=-1.0),
        "hidden": _role(init=0.5, adam=1.0),
        "readout": _role(mult=1.0, sgd=-1.0),
        "vector": _role(sgd=-1.0),
        "first_layer": _role(sgd=-1.0),
        "second_layer": _role(mult=1.0, sgd=-1.0),
    },
    "attention": 0.5,
    "depth_lr": 0.0,
}

# The width+depth "adaptive" scheme (shared/spec/adaptive-transfer.md): hidden LR ∝ w^-0.8 instead of
# µP's w^-1, init σ ∝ w^-0.5 (fan-in) and weight decay ∝ w^-0.3 on every matrix; the rest as µP. Its
# "empirical depth corrections" are unspecified: `depth_lr` is the knob (0 here).
ADAPTIVE = copy.deepcopy(MUP)
ADAPTIVE["description"] = "Adaptive width scaling: hidden LR ∝ w^-0.8, σ ∝ w^-0.5, weight decay ∝ w^-0.3."
ADAPTIVE["roles"]["hidden"] = _role(init=0.5, wd=0.3, adam=0.8)
ADAPTIVE["roles"]["embedding"]["wd"] = 0.3
ADAPTIVE["roles"]["readout"]["wd"] = 0.3

BUILTIN_TABLES = {"sp": SP, "mup": MUP, "adaptive": ADAPTIVE}
