"""The batched trainer of the two-layer studies: many (learning rate, seed) models of one width
trained as ONE batched model (paper.md §3; data and initialisation in :mod:`hptransfer.synthetic.twolayer`).

Parameters carry leading (seed, lr) dimensions and a hand-written Adam (the exact arithmetic of
``torch.optim.Adam``) takes a per-model learning-rate tensor; gradients are written by hand into a
reused buffer. Because the data and initialisation are keyed by (seed, step) and (seed, width),
batching never changes a result. :func:`train_single` trains one model with ``torch.optim.Adam``
on an ``nn.Module`` (the reference).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import xarray as xr

from ..synthetic.twolayer import (
    MUP_CONVENTION,
    Task,
    init_params,
    log_steps,
    make_task,
    merge_task_config,
    output_lr_multiplier,
    torch_dtype,
    training_batch,
    validation_set,
)
from .checkpoint import read_checkpoint, write_checkpoint

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


def train_single(
    task_cfg: dict, width: int, lr: float, seed: int, steps: int, batch: int, device: str = "cpu"
) -> dict[str, Any]:
    """Train one (lr, seed) model with ``torch.optim.Adam``; the reference for :func:`train_batched`.

    Returns ``{"final_loss_val", "diverged", "loss_val" (at "steps"), "steps"}``; a diverged run stops
    and reports NaN losses from the step it diverged on.
    """
    cfg = merge_task_config(task_cfg)
    task, dtype = make_task(cfg), torch_dtype(cfg)
    x_val, y_val = (t.to(device) for t in validation_set(task, int(cfg["val_size"]), int(cfg["val_seed"]), dtype))
    model = TwoLayerReLU(*init_params(task.d, width, seed, dtype)).to(device)
    optimizer = torch.optim.Adam(
        [{"params": [model.W, model.b], "lr": lr}, {"params": [model.a], "lr": lr * output_lr_multiplier(width, cfg)}],
        betas=tuple(cfg["betas"]),
        eps=float(cfg["eps"]),
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
    return {
        "final_loss_val": float("nan") if diverged else float(curve[-1]),
        "diverged": diverged,
        "loss_val": curve,
        "steps": logged,
    }


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
        :func:`autograd_losses_and_gradients` and with torch.optim.Adam on an nn.Module): with
        g_b = dloss/dprediction_b and the ReLU mask 1{h_bj > 0}, da_j = Σ_b g_b h_bj,
        db_j = a_j Σ_b g_b 1{h_bj > 0} and dW_ij = a_j Σ_b x_bi g_b 1{h_bj > 0}. The mask overwrites
        the hidden layer in its buffer, so a step allocates no (S, L, B, n) tensor; autograd
        allocates several, and a CPU step is about 3× slower.
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
        xs, ys = x_val[start : start + chunk], y_val[start : start + chunk]
        part = task.loss(model(xs), ys) * xs.shape[0]
        total = part if total is None else total + part
    return total / x_val.shape[0]


def seed_batches(task: Task, seeds: Sequence[int], step: int, batch: int, dtype, device):
    pairs = [training_batch(task, s, step, batch, dtype) for s in seeds]
    return torch.stack([p[0] for p in pairs]).to(device), torch.stack([p[1] for p in pairs])[:, None].to(device)


@dataclass
class _Record:
    """What a batched job records of its S × L models, checkpointed with them: the validation loss at
    the logged steps (NaN once diverged), whether each model diverged, and at which step (−1: not)."""

    bound: float  # a loss above it (or NaN/inf) marks a model diverged
    curve: np.ndarray  # (logged steps, S, L)
    diverged: torch.Tensor  # (S, L) bool, on the training device
    diverged_step: np.ndarray  # (S, L)

    @classmethod
    def empty(cls, bound: float, logged: int, S: int, L: int, device: str) -> "_Record":
        diverged = torch.zeros(S, L, dtype=torch.bool, device=device)
        return cls(bound, np.full((logged, S, L), np.nan), diverged, np.full((S, L), -1))

    def mark(self, losses: torch.Tensor, step: int) -> bool:
        """Record the models that diverge at ``step``; True if any model has diverged so far."""
        new = (~torch.isfinite(losses) | (losses > self.bound)) & ~self.diverged
        if bool(new.any()):
            self.diverged_step[new.cpu().numpy()] = step
            self.diverged.logical_or_(new)
        return bool(self.diverged.any())

    def state(self) -> dict[str, torch.Tensor]:
        """The record's part of a checkpoint (tensors only, so it loads with weights_only)."""
        return {
            "curve": torch.from_numpy(self.curve),
            "diverged": self.diverged,
            "diverged_step": torch.from_numpy(self.diverged_step),
        }

    def load(self, state: dict) -> None:
        """Take the record back from a checkpoint, in place."""
        self.curve[...] = state["curve"].numpy()
        self.diverged.copy_(state["diverged"])
        self.diverged_step[...] = state["diverged_step"].numpy()


def _save(
    path,
    identity: str,
    step: int,
    model: "StackedTwoLayer",
    optimizer: "StackedAdam",
    record: "_Record",
) -> None:
    """The state before ``step`` (tensors and plain values only, so it loads with weights_only)."""
    write_checkpoint(
        {
            "identity": identity,
            "step": step,
            "params": [p.detach() for p in model.parameters()],
            "exp_avg": optimizer.exp_avg,
            "exp_avg_sq": optimizer.exp_avg_sq,
            "step_count": optimizer.step_count,
            **record.state(),
        },
        path,
    )


@torch.no_grad()
def _resume(
    path,
    identity: str,
    model: "StackedTwoLayer",
    optimizer: "StackedAdam",
    record: "_Record",
    device: str,
) -> int:
    """Load a checkpoint of the same job in place; the step to go on from (0 if it is another job's)."""
    state = read_checkpoint(path, identity, device)
    if state is None:
        return 0
    for target, saved in (
        (model.parameters(), state["params"]),
        (optimizer.exp_avg, state["exp_avg"]),
        (optimizer.exp_avg_sq, state["exp_avg_sq"]),
    ):
        for t, v in zip(target, saved):
            t.copy_(v)
    optimizer.step_count = int(state["step_count"])
    record.load(state)
    return int(state["step"])


def _progress_line(width: int, step: int, steps: int, val: np.ndarray, diverged: torch.Tensor) -> str:
    best = f"{np.nanmin(val):.4g}" if np.isfinite(val).any() else "n/a"
    return (
        f"width {width}: step {step}/{steps}, best validation loss {best}, "
        f"{int(diverged.sum())} of {diverged.numel()} models diverged"
    )


def train_batched(
    task_cfg: dict,
    width: int,
    lrs: Sequence[float],
    seeds: Sequence[int],
    steps: int,
    batch: int,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 256,
) -> xr.Dataset:
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
    task, dtype = make_task(cfg), torch_dtype(cfg)
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
    record = _Record.empty(float(cfg["divergence_bound"]), logged.size, S, L, device)

    identity = json.dumps(
        {"config": cfg, "width": int(width), "lrs": lrs, "seeds": seeds, "steps": int(steps), "batch": int(batch)},
        sort_keys=True,
    )
    start = 0 if checkpoint is None else _resume(checkpoint, identity, model, optimizer, record, device)
    if start and progress is not None:  # checkpoints are written after step 0 only
        progress(f"width {width}: resumed at step {start}/{steps} from {checkpoint}")

    for step in range(start, steps + 1):
        if checkpoint is not None and step > start and step % checkpoint_every == 0 and step < steps:
            _save(checkpoint, identity, step, model, optimizer, record)
        if step in logged:
            val = _stacked_validation_loss(model, task, x_val, y_val, chunk)
            if record.mark(val, step):
                optimizer.reset(record.diverged)
            row = np.searchsorted(logged, step)
            record.curve[row] = torch.where(record.diverged, torch.nan, val).cpu().numpy()
            if progress is not None:
                progress(_progress_line(width, step, steps, record.curve[row], record.diverged))
        if step == steps:
            break
        x, y = seed_batches(task, seeds, step, batch, dtype, device)
        losses, grads = model.losses_and_gradients(task, x, y)
        any_diverged = record.mark(losses, step)
        optimizer.step(grads)
        if any_diverged:
            # A diverged model's NaN gradients may have entered its own moments, which the reset clears.
            optimizer.reset(record.diverged)

    return _batched_dataset(task, cfg, width, lrs, seeds, steps, batch, logged, record)


def _batched_dataset(
    task,
    cfg: dict,
    width: int,
    lrs: list[float],
    seeds: list[int],
    steps: int,
    batch: int,
    logged: np.ndarray,
    record: _Record,
) -> xr.Dataset:
    """The job's dataset: the (S, L) arrays of training turned to (lr, seed), with the run's attributes."""
    curve, diverged, diverged_step = record.curve, record.diverged, record.diverged_step
    final = curve[-1].T
    units = task.loss_units
    ds = xr.Dataset(
        {
            "final_loss_val": (
                ("lr", "seed"),
                final,
                {"long_name": f"final validation {task.loss_name}", "units": units},
            ),
            "diverged": (
                ("lr", "seed"),
                diverged.cpu().numpy().T,
                {"long_name": "model diverged (NaN/inf or loss above the bound)", "units": "1"},
            ),
            "diverged_step": (
                ("lr", "seed"),
                diverged_step.T,
                {"long_name": "step of divergence (-1: none)", "units": "steps"},
            ),
            "loss_val": (
                ("step", "lr", "seed"),
                curve.transpose(0, 2, 1),
                {"long_name": f"validation {task.loss_name}", "units": units},
            ),
        },
        coords={
            "lr": ("lr", np.asarray(lrs), {"long_name": "Adam learning rate eta", "units": "1"}),
            "seed": ("seed", np.asarray(seeds), {"long_name": "random seed", "units": "1"}),
            "step": ("step", logged, {"long_name": "optimizer step (logged)", "units": "steps"}),
        },
    )
    ds.attrs = {
        "task": task.name,
        "width": int(width),
        "d": task.d,
        "k": task.k,
        "loss": task.loss_name,
        "steps": int(steps),
        "batch_size": int(batch),
        "val_size": int(cfg["val_size"]),
        "base_width": int(cfg["base_width"]),
        "second_layer_lr_factor": float(cfg["second_layer_lr_factor"]),
        "parametrization": MUP_CONVENTION,
        "config": json.dumps(cfg, sort_keys=True),
    }
    return ds
