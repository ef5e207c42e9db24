"""One training run: (parametrization, width, hyperparameter value, seed) → run.nc.

The loop trains the model, keeps an EMA of all weights, and at every EMA sample point evaluates the
validation loss of the EMA and of the iterate weights on one fixed validation subset and, when the
decomposition is enabled, the EMA-linearised loss change split over the alignment spectra of every
layer (paper §4.1–4.2). Runs are resumable (atomic checkpoints, loaded with ``weights_only=True``)
and deterministic on CPU; a diverged run is a result, not a crash.

On a GPU it trains the way a GPU user would: bf16 autocast over fp32 master weights, EMA and
optimizer state (``training.precision``), a compiled model (``training.compile``), a fused Adam,
no host synchronisation between the points where the loop reads the device (EMA points, log lines,
checkpoints: the training losses wait on the device until then, and the divergence test reads
them there, step by step), and the eigenvalue work of the EMA points in a background thread
(:mod:`hptransfer.decomposition.background`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..config.run import RunConfig
from ..decomposition.accumulator import ParamSpec, SpectrumAccumulator
from ..decomposition.background import Decomposer
from ..optim.factory import build_optimizer
from ..optim.schedules import ema_decay, ema_sample_steps, lr_factor
from ..parametrization.apply import build_param_groups
from .checkpoint import read_checkpoint, write_checkpoint
from .device import CompiledModel, autocast, resolve_compile, resolve_precision
from .progress import Progress
from .tasks import make_task

log = logging.getLogger(__name__)


@dataclass
class History:
    """Everything logged so far; part of the checkpoint, so plain lists only."""

    loss_train: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    loss_val_ema: list[float] = field(default_factory=list)
    loss_val_iterate: list[float] = field(default_factory=list)
    phi_total: list[float] = field(default_factory=list)
    phi_topk: list[list[float]] = field(default_factory=list)
    phi_k_snapshots: list[list[float]] = field(default_factory=list)
    analysis_step: list[int] = field(default_factory=list)


class Run:
    """The mutable state of one training run, with checkpoint save/load."""

    def __init__(
        self, cfg: RunConfig, data_dir: str | Path, device: torch.device, background_decomposition: bool | None = None
    ):
        """``background_decomposition``: decompose EMA points in a worker thread (default: on CUDA)."""
        self.cfg = cfg
        self.device = device
        self.task = make_task(cfg, data_dir, device)
        model_cfg, tcfg = cfg.model, cfg.training
        self.precision = resolve_precision(tcfg.precision, device)
        self.total = tcfg.steps
        self.val = self.task.val
        table = cfg.parametrization
        self.model = self.task.build_model().to(device)
        self.compiled = CompiledModel(self.model, resolve_compile(tcfg.compile, device))
        self.ema = self.task.build_model().to(device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(cfg.decomposition.enabled)
        # Listed once: walking the module tree every step is overhead a bare loop does not pay, and the
        # parameter objects live as long as the run (load_state_dict copies into them).
        self.ema_pairs = (list(self.ema.parameters()), list(self.model.parameters()))
        groups = build_param_groups(
            self.model.named_parameters(),
            self.model.roles(),
            table,
            cfg.optimizer,
            model_cfg.width,
            model_cfg.base_width,
            model_cfg.depth,
            model_cfg.base_depth,
        )
        self.optimizer = build_optimizer(cfg.optimizer, groups, model_cfg.width, cfg.seed)
        self.decomp_on = cfg.decomposition.enabled
        self.topk = sorted(set(cfg.decomposition.topk))
        self.analysis_steps = sorted({s for s in cfg.decomposition.analysis_steps if s < self.total} | {self.total})
        self.samples = ema_sample_steps(self.total, cfg.ema, tuple(self.analysis_steps))
        self.accumulator = self.make_accumulator() if self.decomp_on else None
        if background_decomposition is None:
            background_decomposition = device.type == "cuda"
        self.decomposer = Decomposer(self.accumulator, device, background_decomposition) if self.decomp_on else None
        self.step = 0
        self.history = History()
        self.status, self.diverged_step = "ok", -1
        self.prev_grad: dict[str, torch.Tensor] = {}
        self.prev_ema: dict[str, torch.Tensor] = {}

    def make_accumulator(self) -> SpectrumAccumulator:
        return SpectrumAccumulator(self.cfg.model.width, self._specs(), self.topk)

    def _specs(self) -> list[ParamSpec]:
        return [
            ParamSpec(name, "matrix" if p.ndim == 2 else "vector", self.model.row_version(name))
            for name, p in self.model.named_parameters()
        ]

    # ------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "identity": self.cfg.identity(),
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "accumulator": self.accumulator.state_dict() if self.accumulator else {},
            "prev_grad": self.prev_grad,
            "prev_ema": self.prev_ema,
            "history": self.history.__dict__,
            "status": self.status,
            "diverged_step": self.diverged_step,
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.accumulator:
            self.accumulator.load_state_dict(state["accumulator"])
        self.prev_grad = {k: v.to(self.device) for k, v in state["prev_grad"].items()}
        self.prev_ema = {k: v.to(self.device) for k, v in state["prev_ema"].items()}
        self.history = History(**state["history"])
        self.status, self.diverged_step = state["status"], state["diverged_step"]
        torch.set_rng_state(state["rng"])

    def save_checkpoint(self, path: Path) -> None:
        self.collect_decomposition(wait_all=True)
        write_checkpoint(self.state_dict(), path)

    def try_resume(self, path: Path) -> bool:
        state = read_checkpoint(path, self.cfg.identity(), self.device)
        if state is None:
            return False
        self.load_state_dict(state)
        log.info("resumed from %s at step %d", path, self.step)
        return True

    # ------------------------------------------------------------------------------- training
    def set_learning_rates(self, step: int) -> float:
        sched = self.cfg.training.schedule
        factor = lr_factor(step, self.total, sched.kind, sched.warmup, sched.cooldown)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        return factor

    def train_step(self, step: int) -> torch.Tensor:
        """One optimizer step; the training loss stays on the device (no host synchronisation)."""
        self.set_learning_rates(step)
        batch = self.task.training_batch(step)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.compiled.run(lambda model: self._loss_and_backward(model, batch))
        if self.cfg.optimizer.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optimizer.grad_clip)
        self.optimizer.step()
        self.update_ema(step)
        return loss

    def _loss_and_backward(self, model, batch) -> torch.Tensor:
        with autocast(self.device, self.precision):
            loss = self.task.loss(model, batch)
        loss.backward()
        return loss.detach()

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        alpha = ema_decay(step, self.cfg.ema)
        torch._foreach_lerp_(*self.ema_pairs, 1.0 - alpha)

    def evaluate_point(self, step: int) -> None:
        """One EMA sample point: losses, and the decomposition of the step since the last point."""
        h = self.history
        with torch.no_grad(), autocast(self.device, self.precision):
            iterate_loss = float(self.task.loss(self.model, self.val))
        if self.decomp_on:
            ema_loss, grads = self.ema_loss_and_grad()
            current = {n: p.detach().clone() for n, p in self.ema.named_parameters()}
            deltas = {n: current[n] - self.prev_ema[n] for n in current} if self.prev_grad else None
            if self.blew_up(step, iterate_loss, ema_loss, [*grads.values(), *(deltas or {}).values()]):
                return
            self.decompose_step(self.step_gradient(grads) if self.prev_grad else None, deltas, step)
            self.prev_grad, self.prev_ema = grads, current
            self.collect_decomposition()
        else:
            with torch.no_grad(), autocast(self.device, self.precision):
                ema_loss = float(self.task.loss(self.ema, self.val))
            if self.blew_up(step, iterate_loss, ema_loss, []):
                return
        h.loss_val_iterate.append(iterate_loss)
        h.eval_step.append(step)
        h.loss_val_ema.append(ema_loss)

    def blew_up(self, step: int, iterate_loss: float, ema_loss: float, tensors: list[torch.Tensor]) -> bool:
        """Whether an EMA point finds the run diverged although its training losses passed the test:
        at a very large learning rate the loss can sit at the uniform prediction's while the weights
        (and so the EMA weights, their gradient and their step) overflow. Such a run is diverged at
        the last step done, as the training-loss test would have marked it; the point is not kept,
        and no non-finite matrix reaches the eigenvalue solver."""
        finite = math.isfinite(iterate_loss) and math.isfinite(ema_loss)
        if finite and tensors:
            finite = bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
        if finite:
            return False
        self.status, self.diverged_step = "diverged", max(step - 1, 0)
        log.warning(
            "diverged at step %d (validation loss %s of the iterate, %s of the EMA weights; or their "
            "gradient or step not finite)",
            self.diverged_step,
            iterate_loss,
            ema_loss,
        )
        return True

    def step_gradient(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The gradient the analysed step that ends here is paired with: its left point's (the
        paper's rule), or with ``decomposition.linearization: trapezoid`` the mean of both ends'."""
        if self.cfg.decomposition.linearization != "trapezoid":
            return self.prev_grad
        return {n: 0.5 * (self.prev_grad[n] + grads[n]) for n in grads}

    def decompose_step(
        self, grads: dict[str, torch.Tensor] | None, deltas: dict[str, torch.Tensor] | None, step: int
    ) -> None:
        """Decompose the analysed step (g_t, δw_t) that ends at the EMA point ``step`` (none at the
        first point); Φ after it reaches the history through :meth:`collect_decomposition`."""
        self.decomposer.submit(grads, deltas, step)

    def collect_decomposition(self, wait_all: bool = False) -> None:
        """Φ of the decomposed points, in order, into the history (all of them with ``wait_all``)."""
        h = self.history
        for step, phi_k in self.decomposer.results(wait_all) if self.decomposer else ():
            h.phi_total.append(float(phi_k[-1]))
            h.phi_topk.append([float(phi_k[min(k, len(phi_k)) - 1]) for k in self.topk])
            if step in self.analysis_steps:
                h.analysis_step.append(step)
                h.phi_k_snapshots.append([float(x) for x in phi_k])

    def ema_loss_and_grad(self) -> tuple[float, dict[str, torch.Tensor]]:
        self.ema.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            loss = self.task.loss(self.ema, self.val)
        loss.backward()
        return float(loss.detach()), {n: p.grad.detach().clone() for n, p in self.ema.named_parameters()}

    def is_diverged(self, loss: float) -> bool:
        first = self.history.loss_train[0] if self.history.loss_train else loss
        return not math.isfinite(loss) or loss > self.cfg.training.divergence_factor * first

    def fit(self, checkpoint: Path) -> None:
        tcfg = self.cfg.training
        if self.step == 0 and not self.history.eval_step:
            self.evaluate_point(0)
        samples = set(self.samples)
        progress = Progress(
            self.step,
            self.total,
            self.task.items_per_step,
            self.task.item_name,
            self.task.flops_per_item(self.model),
            self.device,
            self.precision,
        )
        losses: list[torch.Tensor] = []  # on the device since the last point that reads it
        while self.step < self.total and self.status == "ok":
            losses.append(self.train_step(self.step))
            self.step += 1
            sample = self.step in samples
            report = self.step % tcfg.log_every == 0 or self.step == self.total
            save = self.step % tcfg.checkpoint_every == 0 and self.step < self.total
            if not (sample or report or save):
                continue
            if not self.record_losses(losses):
                break
            losses = []
            if sample:
                start = time.perf_counter()
                self.evaluate_point(self.step)
                progress.ema_seconds += time.perf_counter() - start
            if report:
                log.info(progress.line(self.step, self.history.loss_train[-1], self.optimizer.param_groups[0]["lr"]))
            if save:
                self.save_checkpoint(checkpoint)
        self.collect_decomposition(wait_all=True)

    def close(self) -> None:
        """Stop the decomposition's worker thread, if any."""
        if self.decomposer:
            self.decomposer.close()

    def record_losses(self, losses: list[torch.Tensor]) -> bool:
        """The training losses since the last reading, in one transfer from the device, into the
        history step by step with the divergence test; False where a step fails it (the run is then
        diverged at that step, exactly as if it had been tested after every step)."""
        first = self.step - len(losses)
        for i, loss in enumerate(torch.stack(losses).tolist()):
            self.history.loss_train.append(loss)
            if self.is_diverged(loss):
                self.status, self.diverged_step, self.step = "diverged", first + i, first + i + 1
                log.warning("diverged at step %d (train loss %s)", first + i, loss)
                return False
        return True

    # -------------------------------------------------------------------------------- dataset
    def to_dataset(self) -> xr.Dataset:
        h, cfg = self.history, self.cfg
        ok = self.status == "ok"
        steps = np.arange(len(h.loss_train))
        ds = xr.Dataset(
            {
                "loss_train": (
                    "step",
                    np.asarray(h.loss_train, dtype=np.float64),
                    {"long_name": "training loss of the iterate (batch, before the update)", "units": self.task.units},
                ),
                "loss_val_iterate": (
                    "eval_step",
                    np.asarray(h.loss_val_iterate, dtype=np.float64),
                    {"long_name": "validation loss of the iterate weights", "units": self.task.units},
                ),
                "loss_val_ema": (
                    "eval_step",
                    np.asarray(h.loss_val_ema, dtype=np.float64),
                    {"long_name": "validation loss of the EMA weights", "units": self.task.units},
                ),
                "final_loss_ema": (
                    (),
                    h.loss_val_ema[-1] if ok else np.nan,
                    {
                        "long_name": "final validation loss of the EMA weights (NaN if diverged)",
                        "units": self.task.units,
                    },
                ),
                "final_loss_iterate": (
                    (),
                    h.loss_val_iterate[-1] if ok else np.nan,
                    {"long_name": "final validation loss of the iterate", "units": self.task.units},
                ),
                "diverged": ((), not ok, {"long_name": "run diverged (NaN/inf or loss above the bound)", "units": "1"}),
            },
            coords={
                "step": ("step", steps, {"long_name": "optimizer step", "units": "steps"}),
                "eval_step": (
                    "eval_step",
                    np.asarray(h.eval_step, dtype=np.int64),
                    {"long_name": "EMA sample point (optimizer steps done)", "units": "steps"},
                ),
            },
        )
        if self.decomp_on:
            ds = ds.merge(self._decomposition_vars())
        ds.attrs = {
            "status": self.status,
            "diverged_step": self.diverged_step,
            "width": cfg.model.width,
            "depth": cfg.model.depth,
            "seed": cfg.seed,
            "parametrization": cfg.parametrization.name,
            "optimizer": cfg.optimizer.name,
            "lr": cfg.optimizer.lr,
            "hp": cfg.hp,
            "hp_value": cfg.hp_value,
            **self.task.attrs(),
            "precision": self.precision,
            "compile": self.compiled.status,
            "config": cfg.to_json(),
        }
        return ds

    def _decomposition_vars(self) -> xr.Dataset:
        h = self.history
        width = self.cfg.model.width
        phi_total = np.asarray(h.phi_total, dtype=np.float64)
        lin = h.loss_val_ema[0] + phi_total
        ema_change = h.loss_val_ema[-1] - h.loss_val_ema[0]
        gap = abs(lin[-1] - h.loss_val_ema[-1]) / abs(ema_change) if ema_change else np.nan
        snaps = np.asarray(h.phi_k_snapshots, dtype=np.float64).reshape(len(h.analysis_step), width)
        return xr.Dataset(
            {
                "loss_linearized": (
                    "eval_step",
                    lin,
                    {"long_name": "EMA-linearised loss L(w̄_0) + Σ δφ", "units": self.task.units},
                ),
                "phi_topk": (
                    ("eval_step", "topk"),
                    np.asarray(h.phi_topk, dtype=np.float64).reshape(-1, len(self.topk)),
                    {
                        "long_name": "cumulative top-k linearised loss change φ^k up to the point",
                        "units": self.task.units,
                    },
                ),
                "phi_k": (
                    ("analysis_step", "k"),
                    snaps,
                    {
                        "long_name": "cumulative top-k linearised loss change φ^k (k directions per layer)",
                        "units": self.task.units,
                    },
                ),
                "linearization_gap": (
                    (),
                    gap,
                    {"long_name": "|linearised − EMA final loss| / |EMA loss change|", "units": "1"},
                ),
            },
            coords={
                "topk": (
                    "topk",
                    np.asarray(self.topk, dtype=np.int64),
                    {"long_name": "number k of leading eigen-directions per layer of the top-k curve", "units": "1"},
                ),
                "analysis_step": (
                    "analysis_step",
                    np.asarray(h.analysis_step, dtype=np.int64),
                    {"long_name": "analysis step of the decomposition (optimizer steps done)", "units": "steps"},
                ),
                "k": (
                    "k",
                    np.arange(1, width + 1, dtype=np.int64),
                    {"long_name": "number k of leading eigen-directions per layer", "units": "1"},
                ),
            },
        )
