"""The two-layer studies' data (paper.md §3): Gaussian inputs, the sphere-indicator and k-index
targets, and the µP initialisation of a two-layer ReLU network f(x) = Σ_i a_i ReLU(⟨w_i, x⟩ + b_i).

* ``sphere`` (§3.1): x ~ N(0, I_d), y = 1{‖x‖² > median of χ²_d}, binary cross-entropy on the logit.
* ``kindex`` (§3.2): x ~ N(0, (4/d) I_d), y = sqrt((d/(4k)) Σ_{i≤k} x_i²) (so E y² = 1), squared loss.

µP (Tensor Programs V, Adam; paper.md §3.3 default), base width ``base_width`` (128):

* first-layer weights w_ij ~ N(0, 1/d), Adam LR η;
* biases b_i = 0 at init, Adam LR η;
* output weights a_i ~ N(0, 1/n²), Adam LR η · second_layer_lr_factor · base_width / n.

At n = base_width every tensor trains at η (times the layer-wise factor for a, 1/50 in Fig 17b).
Randomness is keyed so that training many models as one batch never changes a result:

* initialisation depends on (seed, width) only, so all learning rates of a seed start identically;
* the training batch of step t depends on (seed, t) only (fresh Gaussian samples every step);
* the validation set is fixed (``val_seed``) and shared by all models.

The trainer is :mod:`hptransfer.train.batched`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from ..config import defaults
from ..io import TWOLAYER_LOSS_UNITS

# Tags separate the random streams (init, training data, validation data) of the same seed.
_INIT_TAG, _DATA_TAG, _VAL_TAG = 0x1417, 0xDA7A, 0x7A11

MUP_CONVENTION = (
    "muP (Tensor Programs V, Adam), base width n0: W_ij ~ N(0, 1/d) with LR eta; b = 0 with LR eta; "
    "a_i ~ N(0, 1/n^2) with LR eta * second_layer_lr_factor * n0 / n. Adam betas/eps as in attrs."
)


# ------------------------------------------------------------------------------------------ tasks


@lru_cache(maxsize=None)
def sphere_threshold(d: int) -> float:
    """Median of χ²_d (≈ 63.33 for d = 64): thresholding ‖x‖² there balances the classes exactly."""
    return float(stats.chi2.ppf(0.5, d))


@dataclass(frozen=True)
class Task:
    name: str
    d: int
    k: int

    def sample(self, generator: torch.Generator, size: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) with x of shape (size, d), drawn on the CPU from ``generator``."""
        x = torch.randn(size, self.d, generator=generator, dtype=torch.float64)
        if self.name == "sphere":
            y = (x.pow(2).sum(-1) > sphere_threshold(self.d)).to(torch.float64)
        elif self.name == "kindex":
            x = x * math.sqrt(4.0 / self.d)
            y = torch.sqrt((self.d / (4.0 * self.k)) * x[:, : self.k].pow(2).sum(-1))
        else:
            raise ValueError(f"unknown task {self.name!r}; expected 'sphere' or 'kindex'")
        return x.to(dtype), y.to(dtype)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over the last (sample) dimension; leading dimensions index models."""
        target = target.expand_as(prediction)
        if self.name == "sphere":
            return F.binary_cross_entropy_with_logits(prediction, target, reduction="none").mean(-1)
        return (prediction - target).pow(2).mean(-1)

    def loss_gradient(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """d(loss)/d(prediction), elementwise, for the mean over the last dimension."""
        target = target.expand_as(prediction)
        if self.name == "sphere":
            return (torch.sigmoid(prediction) - target) / prediction.shape[-1]
        return (prediction - target) * (2.0 / prediction.shape[-1])

    @property
    def loss_name(self) -> str:
        return "bce" if self.name == "sphere" else "mse"

    @property
    def loss_units(self) -> str:
        """Units of the loss: BCE on a logit in nats per example, the squared error of the
        dimensionless k-index target "1"."""
        return TWOLAYER_LOSS_UNITS[self.loss_name]


def make_task(cfg: dict) -> Task:
    if cfg["task"] not in ("sphere", "kindex"):
        raise ValueError(f"task must be 'sphere' or 'kindex', got {cfg['task']!r}")
    if cfg["task"] == "kindex" and not 1 <= int(cfg["k"]) <= int(cfg["d"]):
        raise ValueError(f"k-index task needs 1 <= k <= d, got k={cfg['k']}, d={cfg['d']}")
    return Task(cfg["task"], int(cfg["d"]), int(cfg["k"]))


def merge_task_config(task_cfg: dict) -> dict:
    """Defaults filled in; unknown keys (kind, grid, widths, … of a study block) are ignored."""
    cfg = dict(defaults.TWOLAYER_TASK)
    cfg.update({k: v for k, v in task_cfg.items() if k in defaults.TWOLAYER_TASK})
    return cfg


# ------------------------------------------------------------------------------------- randomness


def _generator(*key: int) -> torch.Generator:
    """A CPU generator whose state is a hash of ``key`` (SeedSequence mixes the integers well)."""
    seed = int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(seed)


def training_batch(task: Task, seed: int, step: int, batch: int, dtype: torch.dtype):
    """The batch of training step ``step`` for every model with this seed."""
    return task.sample(_generator(_DATA_TAG, seed, step), batch, dtype)


def validation_set(task: Task, size: int, val_seed: int, dtype: torch.dtype):
    return task.sample(_generator(_VAL_TAG, val_seed), size, dtype)


def init_params(d: int, width: int, seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """µP initialisation (W ~ N(0, 1/d), b = 0, a ~ N(0, 1/n²)); depends on (seed, width) only."""
    g = _generator(_INIT_TAG, seed, width)
    W = torch.randn(d, width, generator=g, dtype=torch.float64) / math.sqrt(d)
    a = torch.randn(width, generator=g, dtype=torch.float64) / width
    return W.to(dtype), torch.zeros(width, dtype=dtype), a.to(dtype)


def output_lr_multiplier(width: int, cfg: dict) -> float:
    """µP Adam LR of the output layer relative to η."""
    return float(cfg["second_layer_lr_factor"]) * int(cfg["base_width"]) / width


def log_steps(steps: int, n_log: int) -> np.ndarray:
    return np.unique(np.round(np.linspace(0, steps, max(int(n_log), 2))).astype(int))


def torch_dtype(cfg: dict) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[cfg["dtype"]]
