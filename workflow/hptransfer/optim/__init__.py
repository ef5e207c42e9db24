"""Optimizers: the factory that builds a run's optimizer from its config, the matrix optimizers torch
does not ship in the paper's form (Muon, Dion), and the learning-rate and EMA schedules."""

from .combined import Combined
from .dion import Dion, DionFactors, dion_factorize, dion_rank, random_orthonormal
from .factory import build_optimizer, momentum_of
from .muon import NS5_COEFFICIENTS, Muon, newton_schulz5
from .updates import UPDATE_SCALES, update_scale

__all__ = [
    "NS5_COEFFICIENTS",
    "UPDATE_SCALES",
    "Combined",
    "Dion",
    "DionFactors",
    "Muon",
    "build_optimizer",
    "dion_factorize",
    "dion_rank",
    "momentum_of",
    "newton_schulz5",
    "random_orthonormal",
    "update_scale",
]
