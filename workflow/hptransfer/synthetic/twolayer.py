"""Two-layer ReLU networks under µP trained with Adam on Gaussian data (paper.md §3).

f(x) = Σ_i a_i ReLU(⟨w_i, x⟩ + b_i). Tasks:

* ``sphere`` (§3.1): x ~ N(0, I_d), y = 1{‖x‖² > median of χ²_d}, binary cross-entropy on the logit.
* ``kindex`` (§3.2): x ~ N(0, (4/d) I_d), y = sqrt((d/(4k)) Σ_{i≤k} x_i²) (so E y² = 1), squared loss.

µP (Tensor Programs V, Adam; paper.md §3.3 default), base width ``base_width`` (128):

* first-layer weights w_ij ~ N(0, 1/d), Adam LR η;
* biases b_i = 0 at init, Adam LR η;
* output weights a_i ~ N(0, 1/n²), Adam LR η · second_layer_lr_factor · base_width / n.

At n = base_width every tensor trains at η (times the layer-wise factor for a, 1/50 in Fig 17b).

Many (learning rate, seed) models of one width train as ONE batched model: parameters carry leading
(seed, lr) dimensions and a hand-written Adam (the exact arithmetic of ``torch.optim.Adam``) takes a
per-model learning-rate tensor. Randomness is keyed so that batching never changes a result:

* initialisation depends on (seed, width) only, so all learning rates of a seed start identically;
* the training batch of step t depends on (seed, t) only (fresh Gaussian samples every step);
* the validation set is fixed (``val_seed``) and shared by all models.

:func:`train_single` trains one model with ``torch.optim.Adam`` on an ``nn.Module`` (the reference).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from scipy import stats

from ..checkpoint import read_checkpoint, write_checkpoint

# Tags separate the random streams (init, training data, validation data) of the same seed.
_INIT_TAG, _DATA_TAG, _VAL_TAG = 0x1417, 0xDA7A, 0x7A11

DEFAULT_TASK_CONFIG: dict[str, Any] = {
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


def make_task(cfg: dict) -> Task:
    if cfg["task"] not in ("sphere", "kindex"):
        raise ValueError(f"task must be 'sphere' or 'kindex', got {cfg['task']!r}")
    if cfg["task"] == "kindex" and not 1 <= int(cfg["k"]) <= int(cfg["d"]):
        raise ValueError(f"k-index task needs 1 <= k <= d, got k={cfg['k']}, d={cfg['d']}")
    return Task(cfg["task"], int(cfg["d"]), int(cfg["k"]))


def merge_task_config(task_cfg: dict) -> dict:
    """Defaults filled in; unknown keys (kind, grid, widths, … of a study block) are ignored."""
    cfg = dict(DEFAULT_TASK_CONFIG)
    cfg.update({k: v for k, v in task_cfg.items() if k in DEFAULT_TASK_CONFIG})
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


def _dtype(cfg: dict) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[cfg["dtype"]]


# --------------------------------------------------------------------------------- single model


class TwoLayerReLU(torch.nn.Module):
    """f(x) = ReLU(x W + b) a for one model."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, a: torch.Tensor):
        super().__init__()
        self.W, self.b, self.a = (torch.nn.Parameter(t.clone()) for t in (W, b, a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W + self.b) @ self.a


def _is_diverged(loss: float, bound: float) -> bool:
    return not math.isfinite(loss) or loss > bound


def train_single(task_cfg: dict, width: int, lr: float, seed: int, steps: int, batch: int,
                 device: str = "cpu") -> dict[str, Any]:
    """Train one (lr, seed) model with ``torch.optim.Adam``; the reference for :func:`train_batched`.

    Returns ``{"final_loss_val", "diverged", "loss_val" (at "steps"), "steps"}``; a diverged run stops
    and reports NaN losses from the step it diverged on.
    """
    cfg = merge_task_config(task_cfg)
    task, dtype = make_task(cfg), _dtype(cfg)
    x_val, y_val = (t.to(device) for t in validation_set(task, int(cfg["val_size"]), int(cfg["val_seed"]), dtype))
    model = TwoLayerReLU(*init_params(task.d, width, seed, dtype)).to(device)
    optimizer = torch.optim.Adam(
        [{"params": [model.W, model.b], "lr": lr},
         {"params": [model.a], "lr": lr * output_lr_multiplier(width, cfg)}],
        betas=tuple(cfg["betas"]), eps=float(cfg["eps"]),
    )
    logged = log_steps(steps, cfg["n_log"])
    curve = np.full(logged.size, np.nan)
    bound, diverged = float(cfg["divergence_bound"]), False

    def validate() -> float:
        with torch.no_grad():
            return float(task.loss(model(x_val), y_val))

    for step in range(steps + 1):
        if step in logged:
            value = validate()
            diverged = diverged or _is_diverged(value, bound)
            curve[np.searchsorted(logged, step)] = np.nan if diverged else value
        if step == steps or diverged:
            break
        x, y = (t.to(device) for t in training_batch(task, seed, step, batch, dtype))
        loss = task.loss(model(x), y)
        if _is_diverged(float(loss.detach()), bound):
            diverged = True
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {"final_loss_val": float("nan") if diverged else float(curve[-1]), "diverged": diverged,
            "loss_val": curve, "steps": logged}


# -------------------------------------------------------------------------------- batched models


class StackedAdam:
    """torch.optim.Adam (no weight decay, no amsgrad) on tensors with leading model dimensions.

    ``lrs`` holds, for each parameter, a float64 tensor of per-model learning rates that broadcasts
    against it; :meth:`step` takes the gradients, one per parameter.
    The arithmetic is the single-tensor path of torch.optim.Adam, step for step.
    """

    def __init__(self, params: Sequence[torch.Tensor], lrs: Sequence[torch.Tensor], betas, eps: float):
        self.params, self.lrs = list(params), list(lrs)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = float(eps)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        bias_correction1 = 1 - self.beta1**self.step_count
        bias_correction2_sqrt = (1 - self.beta2**self.step_count) ** 0.5
        for p, grad, lr, m, v in zip(self.params, grads, self.lrs, self.exp_avg, self.exp_avg_sq):
            m.lerp_(grad, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            # torch computes step_size = lr / bias_correction1 in double and casts it to the
            # parameter dtype inside addcdiv_(m, denom, value=-step_size); same here, per model.
            step_size = (lr / bias_correction1).to(p.dtype)
            p.addcmul_(m / denom, step_size, value=-1)

    @torch.no_grad()
    def reset(self, mask: torch.Tensor) -> None:
        """Zero parameters and moments of the models in ``mask`` (diverged ones), so their NaNs or
        overflows can never reach a shared reduction; with zero weights their loss stays finite."""
        for tensors in (self.params, self.exp_avg, self.exp_avg_sq):
            for t in tensors:
                t.masked_fill_(mask.view(mask.shape + (1,) * (t.dim() - mask.dim())), 0.0)


class StackedTwoLayer:
    """S × L two-layer nets: W (S, L, d, n), b (S, L, 1, n), a (S, L, n, 1); S seeds, L learning rates."""

    def __init__(self, d: int, width: int, seeds: Sequence[int], n_lrs: int, dtype: torch.dtype, device: str):
        inits = [init_params(d, width, s, dtype) for s in seeds]
        # Every learning rate of a seed starts from the same initialisation.
        stack = lambda i, shape: torch.stack([t[i].reshape(shape) for t in inits])  # noqa: E731
        expand = lambda t: t[:, None].expand(-1, n_lrs, *t.shape[1:]).contiguous().to(device)  # noqa: E731
        self.W = expand(stack(0, (d, width)))
        self.b = expand(stack(1, (1, width)))
        self.a = expand(stack(2, (width, 1)))
        self._buffers: dict[tuple[int, ...], torch.Tensor] = {}

    def parameters(self) -> list[torch.Tensor]:
        return [self.W, self.b, self.a]

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(x W + b), (S, L, B, n), for x (S, B, d) per-seed inputs or (B, d) shared ones.

        It is written into a buffer kept for the next call of the same shape: a fresh tensor that
        size per step costs more in page faults than the arithmetic on it.
        """
        x = x[:, None] if x.dim() == 3 else x
        shape = (*self.W.shape[:2], x.shape[-2], self.W.shape[-1])
        if shape not in self._buffers:
            self._buffers[shape] = torch.empty(shape, dtype=self.W.dtype, device=self.W.device)
        return torch.matmul(x, self.W, out=self._buffers[shape]).add_(self.b).clamp_min_(0)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions (S, L, B) for x (S, B, d) per-seed inputs or (B, d) shared ones."""
        return (self._hidden(x) @ self.a).squeeze(-1)

    @torch.no_grad()
    def losses_and_gradients(self, task: Task, x: torch.Tensor, y: torch.Tensor):
        """Per-model training losses (S, L) and the gradients of each model's loss, [dW, db, da].

        By hand rather than by autograd (the same numbers up to rounding; the tests compare with
        :func:`autograd_losses_and_gradients` and with torch.optim.Adam on an nn.Module): with g_b = dloss/dprediction_b and the ReLU mask
        1{h_bj > 0}, da_j = Σ_b g_b h_bj, db_j = a_j Σ_b g_b 1{h_bj > 0} and
        dW_ij = a_j Σ_b x_bi g_b 1{h_bj > 0}. The mask overwrites the hidden layer in its buffer, so
        a step allocates no (S, L, B, n) tensor; autograd allocates several, and a CPU step is about 3× slower.
        """
        hidden = self._hidden(x)
        prediction = (hidden @ self.a).squeeze(-1)
        losses = task.loss(prediction, y)
        g = task.loss_gradient(prediction, y)[..., None, :]  # (S, L, 1, B)
        grad_a = (g @ hidden).transpose(-1, -2)
        mask = hidden.sign_()  # hidden >= 0, so its sign is the ReLU mask; hidden is not needed again
        a_row = self.a.transpose(-1, -2)
        grad_b = (g @ mask).mul_(a_row)
        grad_W = ((x[:, None] * g.transpose(-1, -2)).transpose(-1, -2) @ mask).mul_(a_row)
        return losses, [grad_W, grad_b, grad_a]


def autograd_losses_and_gradients(model: StackedTwoLayer, task: Task, x: torch.Tensor, y: torch.Tensor):
    """What :meth:`StackedTwoLayer.losses_and_gradients` computes, by autograd: its reference."""
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    W, b, a = params
    x = x[:, None] if x.dim() == 3 else x
    losses = task.loss((torch.relu(x @ W + b) @ a).squeeze(-1), y)
    losses.sum().backward()
    return losses.detach(), [p.grad for p in params]


def _stacked_validation_loss(model: StackedTwoLayer, task: Task, x_val, y_val, chunk: int) -> torch.Tensor:
    """Validation loss of every model, (S, L), computed in chunks of the validation set."""
    total = None
    for start in range(0, x_val.shape[0], chunk):
        xs, ys = x_val[start:start + chunk], y_val[start:start + chunk]
        part = task.loss(model(xs), ys) * xs.shape[0]
        total = part if total is None else total + part
    return total / x_val.shape[0]


def _seed_batches(task: Task, seeds: Sequence[int], step: int, batch: int, dtype, device):
    pairs = [training_batch(task, s, step, batch, dtype) for s in seeds]
    return torch.stack([p[0] for p in pairs]).to(device), torch.stack([p[1] for p in pairs])[:, None].to(device)


def _save(path, identity: str, step: int, model: "StackedTwoLayer", optimizer: "StackedAdam", curve: np.ndarray,
          diverged: torch.Tensor, diverged_step: np.ndarray) -> None:
    """The state before ``step`` (tensors and plain values only, so it loads with weights_only)."""
    write_checkpoint({"identity": identity, "step": step, "params": [p.detach() for p in model.parameters()],
                      "exp_avg": optimizer.exp_avg, "exp_avg_sq": optimizer.exp_avg_sq,
                      "step_count": optimizer.step_count, "curve": torch.from_numpy(curve),
                      "diverged": diverged, "diverged_step": torch.from_numpy(diverged_step)}, path)


@torch.no_grad()
def _resume(path, identity: str, model: "StackedTwoLayer", optimizer: "StackedAdam", curve: np.ndarray,
            diverged: torch.Tensor, diverged_step: np.ndarray, device: str) -> int:
    """Load a checkpoint of the same job in place; the step to go on from (0 if it is another job's)."""
    state = read_checkpoint(path, identity, device)
    if state is None:
        return 0
    for target, saved in ((model.parameters(), state["params"]), (optimizer.exp_avg, state["exp_avg"]),
                          (optimizer.exp_avg_sq, state["exp_avg_sq"])):
        for t, v in zip(target, saved):
            t.copy_(v)
    optimizer.step_count = int(state["step_count"])
    curve[...] = state["curve"].numpy()
    diverged.copy_(state["diverged"])
    diverged_step[...] = state["diverged_step"].numpy()
    return int(state["step"])


def _progress_line(width: int, step: int, steps: int, val: np.ndarray, diverged: torch.Tensor) -> str:
    best = f"{np.nanmin(val):.4g}" if np.isfinite(val).any() else "n/a"
    return (f"width {width}: step {step}/{steps}, best validation loss {best}, "
            f"{int(diverged.sum())} of {diverged.numel()} models diverged")


def train_batched(task_cfg: dict, width: int, lrs: Sequence[float], seeds: Sequence[int], steps: int, batch: int,
                  device: str = "cpu", progress: Callable[[str], None] | None = None,
                  checkpoint: str | Path | None = None, checkpoint_every: int = 256) -> xr.Dataset:
    """Train every (lr, seed) model of one width together; results equal training each alone.

    ``progress`` receives a line at each logged step (a width-2048 job runs for an hour on a CPU).
    With a ``checkpoint`` path the state is saved every ``checkpoint_every`` steps and a rerun
    resumes from it to the same bytes (each step's batch is a function of the seed and step alone).

    Returns a Dataset with dims (lr, seed, step): ``final_loss_val(lr, seed)`` (NaN if diverged),
    ``diverged(lr, seed)``, ``diverged_step(lr, seed)`` (−1 if not), ``loss_val(step, lr, seed)``.
    A model is diverged once its training loss is NaN/inf or above ``divergence_bound`` (or its
    validation loss is); it is frozen at zero and the others carry on unaffected.
    """
    cfg = merge_task_config(task_cfg)
    task, dtype = make_task(cfg), _dtype(cfg)
    lrs, seeds = [float(v) for v in lrs], [int(s) for s in seeds]
    S, L = len(seeds), len(lrs)
    model = StackedTwoLayer(task.d, width, seeds, L, dtype, device)
    # Learning rates stay float64 (torch.optim.Adam's are Python floats) until the step size is formed.
    lr_hidden = torch.tensor(lrs, dtype=torch.float64, device=device).view(1, L, 1, 1).expand(S, L, 1, 1)
    lr_out = lr_hidden * output_lr_multiplier(width, cfg)
    optimizer = StackedAdam(model.parameters(), [lr_hidden, lr_hidden, lr_out], cfg["betas"], cfg["eps"])

    x_val, y_val = (t.to(device) for t in validation_set(task, int(cfg["val_size"]), int(cfg["val_seed"]), dtype))
    chunk = max(1, int(cfg["val_chunk_elements"]) // max(1, S * L * width))
    logged = log_steps(steps, cfg["n_log"])
    curve = np.full((logged.size, S, L), np.nan)
    bound = float(cfg["divergence_bound"])
    diverged = torch.zeros(S, L, dtype=torch.bool, device=device)
    diverged_step = np.full((S, L), -1)

    def mark(losses: torch.Tensor, step: int) -> bool:
        """Record newly diverged models; True if there are any diverged models at all."""
        new = (~torch.isfinite(losses) | (losses > bound)) & ~diverged
        if bool(new.any()):
            diverged_step[new.cpu().numpy()] = step
            diverged.logical_or_(new)
        return bool(diverged.any())

    identity = json.dumps({"config": cfg, "width": int(width), "lrs": lrs, "seeds": seeds, "steps": int(steps),
                           "batch": int(batch)}, sort_keys=True)
    start = 0 if checkpoint is None else _resume(checkpoint, identity, model, optimizer, curve, diverged,
                                                 diverged_step, device)
    if start and progress is not None:  # checkpoints are written after step 0 only
        progress(f"width {width}: resumed at step {start}/{steps} from {checkpoint}")

    for step in range(start, steps + 1):
        if checkpoint is not None and step > start and step % checkpoint_every == 0 and step < steps:
            _save(checkpoint, identity, step, model, optimizer, curve, diverged, diverged_step)
        if step in logged:
            val = _stacked_validation_loss(model, task, x_val, y_val, chunk)
            if mark(val, step):
                optimizer.reset(diverged)
            row = np.searchsorted(logged, step)
            curve[row] = torch.where(diverged, torch.nan, val).cpu().numpy()
            if progress is not None:
                progress(_progress_line(width, step, steps, curve[row], diverged))
        if step == steps:
            break
        x, y = _seed_batches(task, seeds, step, batch, dtype, device)
        losses, grads = model.losses_and_gradients(task, x, y)
        any_diverged = mark(losses, step)
        optimizer.step(grads)
        if any_diverged:
            # A diverged model's NaN gradients may have entered its own moments, which the reset clears.
            optimizer.reset(diverged)

    # (S, L) → (lr, seed) for the output.
    final = curve[-1].T
    ds = xr.Dataset(
        {
            "final_loss_val": (("lr", "seed"), final, {"long_name": f"final validation {task.loss_name}"}),
            "diverged": (("lr", "seed"), diverged.cpu().numpy().T),
            "diverged_step": (("lr", "seed"), diverged_step.T, {"long_name": "step of divergence (-1: none)"}),
            "loss_val": (("step", "lr", "seed"), curve.transpose(0, 2, 1),
                         {"long_name": f"validation {task.loss_name}"}),
        },
        coords={"lr": ("lr", np.asarray(lrs), {"long_name": "Adam learning rate eta"}),
                "seed": ("seed", np.asarray(seeds)), "step": ("step", logged)},
    )
    ds.attrs = {
        "task": task.name, "width": int(width), "d": task.d, "k": task.k, "loss": task.loss_name,
        "steps": int(steps), "batch_size": int(batch), "val_size": int(cfg["val_size"]),
        "base_width": int(cfg["base_width"]), "second_layer_lr_factor": float(cfg["second_layer_lr_factor"]),
        "parametrization": MUP_CONVENTION, "config": json.dumps(cfg, sort_keys=True),
    }
    return ds
