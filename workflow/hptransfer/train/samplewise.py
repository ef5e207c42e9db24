"""Sample-wise trajectory decomposition during training (paper §4.6; spec Sec. 4.2.3).

At every EMA point the validation loss L = (1/P) Σ_i ℓ_i of the EMA weights is back-propagated once
(the pass that gives g_t). Forward hooks on the linear layers keep, for every validation example i,
the layer input x_i and the backprop signal e_i = ∂ℓ_i/∂y_i of the layer output (the captured
gradient of the *mean* loss times P). At the next EMA point, with δW = w̄_{t+1} − w̄_t known, each
weight matrix contributes, for the eigenvectors u_j of its alignment matrix S(G_t, δW) (the row
version for the first layer, so that j runs over the hidden units):

    (δψ)_ij = (x_iᵀ u_j)(e_iᵀ δW u_j)        normal version,
    (δψ)_ij = (u_jᵀ e_i)(x_iᵀ δWᵀ u_j)       row version,

the factorised form of u_jᵀ G_iᵀ δW u_j with G_i = e_i x_iᵀ, so no per-sample gradient is ever
formed (:func:`hptransfer.decomposition.samplewise.per_sample_components`). ψ_ij = Σ_layers Σ_t (δψ)_ij is kept for
the J = min(width, max_components) leading components, together with each example's total
ψ_i = Σ_layers Σ_t ⟨G_i, δW⟩ over *all* components. By construction

    mean_i ψ_i = φ (the run's linearised loss change),   cumsum_j mean_i ψ_ij = φ^j (j ≤ J).

MCI_i = Σ_j j·|ψ_ij| / Σ_k |ψ_ik| over the J stored components (exact when J = width).

S has rank ≤ 2r for an r×s operand (the 10×n readout; the row-version first layer when
2·d_in < n), so its eigenvectors are computed on the compressed 2r×2r problem QᵀSQ: the other
directions have λ = 0 and (δψ)_ij = 0 exactly (δW u_j = 0 there).

The activations of the previous EMA point are not checkpointed: a resumed run recomputes them from
the checkpointed previous EMA weights (the same pass, so the same numbers on CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..config.run import RunConfig
from ..decomposition.samplewise import (
    EigenvectorAccumulator,
    capture_linear_io,
    linear_layers,
    mean_component_index,
    per_sample_components,
    per_sample_total,
)
from ..decomposition.spectra import F64
from .engine import Run

log = logging.getLogger("hptransfer.train.samplewise")


class SamplewiseRun(Run):
    """A training run of the image task: per-example final validation losses, and with the
    decomposition the per-example components ψ_ij, their totals and the MCI."""

    def __init__(self, cfg: RunConfig, data_dir: str | Path, device: torch.device):
        # inline: the per-example components of a step need that step's eigenvectors at once
        super().__init__(cfg, data_dir, device, background_decomposition=False)
        width = cfg.model.width
        self.n_components = min(width, int(cfg.decomposition.max_components or width))
        self.n_val = int(self.task.n_val)
        self.layers = {name: self.model.row_version(name) for name in linear_layers(self.model)}
        self.psi = torch.zeros(self.n_val, self.n_components, dtype=F64, device=device)
        self.psi_total = torch.zeros(self.n_val, dtype=F64, device=device)
        self.prev_io: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._io: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.final_loss_per_sample: np.ndarray | None = None

    # ------------------------------------------------------------------------- decomposition
    def make_accumulator(self) -> EigenvectorAccumulator:
        return EigenvectorAccumulator(self.cfg.model.width, self._specs(), self.topk)

    def ema_loss_and_grad(self) -> tuple[float, dict[str, torch.Tensor]]:
        with capture_linear_io(self.ema) as store:
            loss, grads = super().ema_loss_and_grad()
        P = self.n_val  # e_i = ∂ℓ_i/∂y_i = P · ∂L/∂y_i for the mean loss L
        self._io = {name: (x, out.grad.detach() * P) for name, (x, out) in store.items()}
        return loss, grads

    def decompose_step(
        self, grads: dict[str, torch.Tensor] | None, deltas: dict[str, torch.Tensor] | None, step: int
    ) -> None:
        super().decompose_step(grads, deltas, step)
        if grads is None:
            return
        # the per-example gradients the step is paired with, as the step's gradient is: the left
        # point's, or the mean of both ends' (the current point's were captured just before)
        ends = [self.prev_io, self._io] if self.cfg.decomposition.linearization == "trapezoid" else [self.prev_io]
        for name, row in self.layers.items():
            U = self.accumulator.eigvecs[name]
            j = min(self.n_components, U.shape[1])
            for io in ends:
                x, e = io[name]
                self.psi[:, :j] += per_sample_components(x, e, deltas[name], row, j, eigvecs=U) / len(ends)
                self.psi_total += per_sample_total(x, e, deltas[name]) / len(ends)

    def evaluate_point(self, step: int) -> None:
        super().evaluate_point(step)
        if self.decomp_on:
            self.prev_io, self._io = self._io, {}
        if step == self.total:
            with torch.no_grad():
                self.final_loss_per_sample = self.task.per_sample_loss(self.ema, self.val).double().cpu().numpy()

    # --------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["samplewise"] = {"psi": self.psi, "psi_total": self.psi_total}
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.psi = state["samplewise"]["psi"].to(self.device)
        self.psi_total = state["samplewise"]["psi_total"].to(self.device)
        self.prev_io = self._recapture(self.prev_ema) if self.prev_ema else {}

    def _recapture(self, weights: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Layer inputs and backprop signals of the validation pass at ``weights`` (a resumed run's
        previous EMA point), through the same code as during training."""
        saved = {n: p.detach().clone() for n, p in self.ema.named_parameters()}
        with torch.no_grad():
            for n, p in self.ema.named_parameters():
                p.copy_(weights[n])
        self.ema_loss_and_grad()
        with torch.no_grad():
            for n, p in self.ema.named_parameters():
                p.copy_(saved[n])
        self.ema.zero_grad(set_to_none=True)
        io, self._io = self._io, {}
        return io

    # ------------------------------------------------------------------------------- dataset
    def to_dataset(self) -> xr.Dataset:
        ds = super().to_dataset()
        ok = self.status == "ok"
        P, J = self.n_val, self.n_components
        labels = self.task.val[1].cpu().numpy().astype(np.int64)
        loss = self.final_loss_per_sample if ok and self.final_loss_per_sample is not None else np.full(P, np.nan)
        data = {
            "val_label": ("sample", labels, {"long_name": "class label of the validation example", "units": "1"}),
            "val_loss_per_sample": (
                "sample",
                np.asarray(loss, dtype=np.float64),
                {
                    "long_name": "final validation loss of the EMA weights per example (NaN if diverged)",
                    "units": self.task.units,
                },
            ),
        }
        coords = {
            "sample": (
                "sample",
                np.arange(P, dtype=np.int64),
                {"long_name": "index of the validation example", "units": "1"},
            )
        }
        if self.decomp_on:
            psi = self.psi.cpu().numpy()
            mci = mean_component_index(self.psi).cpu().numpy() if ok else np.full(P, np.nan)
            data.update(
                {
                    "psi": (
                        ("sample", "component"),
                        psi,
                        {
                            "long_name": "per-example component psi_ij = sum over layers and analysed steps of "
                            "(delta psi)_ij (j-th eigen-direction by |lambda|)",
                            "units": self.task.units,
                        },
                    ),
                    "psi_total": (
                        "sample",
                        self.psi_total.cpu().numpy(),
                        {
                            "long_name": "per-example linearised loss change over all components "
                            "(mean over examples = phi)",
                            "units": self.task.units,
                        },
                    ),
                    "mci": (
                        "sample",
                        mci,
                        {
                            "long_name": f"mean component index over the leading {J} components (NaN if diverged)",
                            "units": "1",
                        },
                    ),
                }
            )
            coords["component"] = (
                "component",
                np.arange(1, J + 1, dtype=np.int64),
                {"long_name": "eigen-direction index j (by |lambda|, per layer and step)", "units": "1"},
            )
        extra = xr.Dataset(data, coords=coords)
        out = ds.merge(extra)
        out.attrs = dict(ds.attrs)
        out.attrs["n_components"] = J
        return out
