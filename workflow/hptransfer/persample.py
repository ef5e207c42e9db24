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
formed (:func:`hptransfer.decomp.per_sample_components`). ψ_ij = Σ_layers Σ_t (δψ)_ij is kept for
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

import contextlib
import logging
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from .decomp import (SpectrumAccumulator, _alignment_operands, _compressed_alignment, _cumulative_curves,
                     _eigen_problem_size, _magnitude_order, _symmetrised_product, mean_component_index,
                     per_sample_components)
from .train import Run

log = logging.getLogger("hptransfer.persample")

_F64 = torch.float64


def compact_alignment_eigh(G: torch.Tensor, dW: torch.Tensor, row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of S(G, δW) (or its row version) restricted to span(Gᵀ, δWᵀ), float64.

    Returns (λ (d,), U (s, d)) with d = min(s, 2r), columns orthonormal and sorted by |λ| descending;
    every eigenvector of S outside U has eigenvalue 0 and annihilates both G and δW.
    """
    A, B = _alignment_operands(G, dW, row)
    r, s = A.shape[-2:]
    if _eigen_problem_size(r, s) < s:
        Q, _ = torch.linalg.qr(torch.cat([A.mT, B.mT], dim=-1))
        lam, V = torch.linalg.eigh(_compressed_alignment(A, B))
        U = Q @ V
    else:
        lam, U = torch.linalg.eigh(_symmetrised_product(A, B))
    order = _magnitude_order(lam)
    return lam[order], U[:, order]


class EigenvectorAccumulator(SpectrumAccumulator):
    """The same Φ as :class:`SpectrumAccumulator`, from one ``eigh`` per matrix that also keeps its
    eigenvectors (``eigvecs[name]``: (s, d), sorted by |λ|, of the last update) for ψ, so the
    sample-wise run solves each eigenproblem once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.eigvecs: dict[str, torch.Tensor] = {}

    def _group_curves(self, d, group, grads, deltas) -> torch.Tensor:
        device = grads[group[0].name].device
        problems = torch.empty((len(group), d, d), dtype=_F64, device=device)
        traces = torch.empty(len(group), dtype=_F64, device=device)
        bases = []
        for i, spec in enumerate(group):
            A, B = _alignment_operands(grads[spec.name], deltas[spec.name], spec.row)
            if d < A.shape[-1]:
                Q, _ = torch.linalg.qr(torch.cat([A.mT, B.mT], dim=-1))
                problems[i] = _symmetrised_product(A @ Q, B @ Q)
            else:
                Q = None
                problems[i] = _symmetrised_product(A, B)
            traces[i] = (A * B).sum()
            bases.append(Q)
        lam, V = torch.linalg.eigh(problems)
        for i, spec in enumerate(group):
            U = V[i] if bases[i] is None else bases[i] @ V[i]
            self.eigvecs[spec.name] = U[:, _magnitude_order(lam[i])]
        return _cumulative_curves(lam, traces, self.width)


def per_sample_total(x: torch.Tensor, e: torch.Tensor, dW: torch.Tensor) -> torch.Tensor:
    """⟨G_i, δW⟩ = e_iᵀ δW x_i for every sample (all components at once), summed in float64, (P,).

    The one large product (e_i δW) runs in the activations' dtype; the rest in float64.
    """
    X, E = x.reshape(x.shape[0], -1, x.shape[-1]), e.reshape(e.shape[0], -1, e.shape[-1])
    return ((E @ dW.to(E.dtype)).to(_F64) * X.to(_F64)).sum((1, 2))


def linear_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """weight name → nn.Linear for every linear layer (bias-free MLP: every matrix parameter)."""
    return {f"{name}.weight": m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


@contextlib.contextmanager
def capture_linear_io(model: nn.Module):
    """Record every linear layer's input and output (with retained grad) during a forward pass.

    Yields a dict weight name → [input, output]; after ``loss.backward()`` the output's ``.grad`` is
    ∂loss/∂output.
    """
    store: dict[str, list[torch.Tensor]] = {}
    handles = []

    def hook(name):
        def fn(module, inputs, output):
            if output.requires_grad:
                output.retain_grad()
            store[name] = [inputs[0].detach(), output]
        return fn

    for name, m in linear_layers(model).items():
        handles.append(m.register_forward_hook(hook(name)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


class SamplewiseRun(Run):
    """A training run of the image task: per-example final validation losses, and with the
    decomposition the per-example components ψ_ij, their totals and the MCI."""

    def __init__(self, cfg: dict, data_dir: str | Path, device: torch.device):
        super().__init__(cfg, data_dir, device)
        width = cfg["model"]["width"]
        self.n_components = min(width, int(cfg["decomposition"].get("max_components") or width))
        self.n_val = int(self.task.n_val)
        self.layers = {name: self.model.row_version(name) for name in linear_layers(self.model)}
        if self.decomp_on:
            self.accumulator = EigenvectorAccumulator(width, self._specs(), self.topk)
        self.psi = torch.zeros(self.n_val, self.n_components, dtype=_F64, device=device)
        self.psi_total = torch.zeros(self.n_val, dtype=_F64, device=device)
        self.prev_io: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._io: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.final_loss_per_sample: np.ndarray | None = None

    # ------------------------------------------------------------------------- decomposition
    def ema_loss_and_grad(self) -> tuple[float, dict[str, torch.Tensor]]:
        with capture_linear_io(self.ema) as store:
            loss, grads = super().ema_loss_and_grad()
        P = self.n_val  # e_i = ∂ℓ_i/∂y_i = P · ∂L/∂y_i for the mean loss L
        self._io = {name: (x, out.grad.detach() * P) for name, (x, out) in store.items()}
        return loss, grads

    def decompose_step(self, grads: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> None:
        super().decompose_step(grads, deltas)
        for name, (x, e) in self.prev_io.items():
            row = self.layers[name]
            U = self.accumulator.eigvecs[name]
            j = min(self.n_components, U.shape[1])
            self.psi[:, :j] += per_sample_components(x, e, deltas[name], row, j, eigvecs=U)
            self.psi_total += per_sample_total(x, e, deltas[name])

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
            "val_label": ("sample", labels, {"long_name": "class label of the validation example"}),
            "val_loss_per_sample": ("sample", np.asarray(loss, dtype=np.float64),
                                    {"long_name": "final validation loss of the EMA weights per example "
                                                  "(NaN if diverged)", "units": self.task.units}),
        }
        coords = {"sample": ("sample", np.arange(P, dtype=np.int64),
                             {"long_name": "index of the validation example"})}
        if self.decomp_on:
            psi = self.psi.cpu().numpy()
            mci = mean_component_index(self.psi).cpu().numpy() if ok else np.full(P, np.nan)
            data.update({
                "psi": (("sample", "component"), psi,
                        {"long_name": "per-example component psi_ij = sum over layers and analysed steps of "
                                      "(delta psi)_ij (j-th eigen-direction by |lambda|)",
                         "units": self.task.units}),
                "psi_total": ("sample", self.psi_total.cpu().numpy(),
                              {"long_name": "per-example linearised loss change over all components "
                                            "(mean over examples = phi)", "units": self.task.units}),
                "mci": ("sample", mci, {"long_name": f"mean component index over the leading {J} components "
                                                     "(NaN if diverged)", "units": "1"}),
            })
            coords["component"] = ("component", np.arange(1, J + 1, dtype=np.int64),
                                   {"long_name": "eigen-direction index j (by |lambda|, per layer and step)"})
        extra = xr.Dataset(data, coords=coords)
        out = ds.merge(extra)
        out.attrs = dict(ds.attrs)
        out.attrs["n_components"] = J
        return out
