"""The sample-wise decomposition (paper §4.6): the linearised loss change of every validation
example split over the eigen-directions of each layer's alignment matrix.

For a linear layer, (δψ)_ij = u_jᵀ G_iᵀ δW u_j with G_i = e_i x_iᵀ, computed in factorised form
(:func:`per_sample_components`) so no per-sample gradient is ever formed; :func:`mean_component_index`
turns the accumulated ψ into the Mean Component Index. :class:`EigenvectorAccumulator` is the
spectrum accumulator that also keeps the eigenvectors, and :func:`capture_linear_io` records the
layer inputs and backprop signals the factorised form needs. The training run that uses them is
:class:`hptransfer.train.samplewise.SamplewiseRun`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from .accumulator import SpectrumAccumulator, cumulative_curves
from .spectra import (
    F64,
    alignment_eigh,
    alignment_operands,
    compressed_alignment,
    eigen_problem_size,
    magnitude_order,
    symmetrised_product,
)


def compact_alignment_eigh(G: torch.Tensor, dW: torch.Tensor, row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of S(G, δW) (or its row version) restricted to span(Gᵀ, δWᵀ), float64.

    Returns (λ (d,), U (s, d)) with d = min(s, 2r), columns orthonormal and sorted by |λ| descending;
    every eigenvector of S outside U has eigenvalue 0 and annihilates both G and δW.
    """
    A, B = alignment_operands(G, dW, row)
    r, s = A.shape[-2:]
    if eigen_problem_size(r, s) < s:
        Q, _ = torch.linalg.qr(torch.cat([A.mT, B.mT], dim=-1))
        lam, V = torch.linalg.eigh(compressed_alignment(A, B))
        U = Q @ V
    else:
        lam, U = torch.linalg.eigh(symmetrised_product(A, B))
    order = magnitude_order(lam)
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
        problems = torch.empty((len(group), d, d), dtype=F64, device=device)
        traces = torch.empty(len(group), dtype=F64, device=device)
        bases = []
        for i, spec in enumerate(group):
            A, B = alignment_operands(grads[spec.name], deltas[spec.name], spec.row)
            if d < A.shape[-1]:
                Q, _ = torch.linalg.qr(torch.cat([A.mT, B.mT], dim=-1))
                problems[i] = symmetrised_product(A @ Q, B @ Q)
            else:
                Q = None
                problems[i] = symmetrised_product(A, B)
            traces[i] = (A * B).sum()
            bases.append(Q)
        lam, V = torch.linalg.eigh(problems)
        for i, spec in enumerate(group):
            U = V[i] if bases[i] is None else bases[i] @ V[i]
            self.eigvecs[spec.name] = U[:, magnitude_order(lam[i])]
        return cumulative_curves(lam, traces, self.width)


def per_sample_total(x: torch.Tensor, e: torch.Tensor, dW: torch.Tensor) -> torch.Tensor:
    """⟨G_i, δW⟩ = e_iᵀ δW x_i for every sample (all components at once), summed in float64, (P,).

    The one large product (e_i δW) runs in the activations' dtype; the rest in float64.
    """
    X, E = x.reshape(x.shape[0], -1, x.shape[-1]), e.reshape(e.shape[0], -1, e.shape[-1])
    return ((E @ dW.to(E.dtype)).to(F64) * X.to(F64)).sum((1, 2))


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


def _tokens_view(t: torch.Tensor, what: str) -> torch.Tensor:
    """(P, ..., f) → (P, T, f) float64: extra dims (tokens) are summed inside each sample's G_i."""
    if t.ndim < 2:
        raise ValueError(f"{what} must have shape (P, ..., features), got {tuple(t.shape)}")
    return t.to(F64).reshape(t.shape[0], -1, t.shape[-1])


def per_sample_components(
    x: torch.Tensor,
    e: torch.Tensor,
    dW: torch.Tensor,
    row: bool,
    n_components: int,
    eigvecs: torch.Tensor | None = None,
) -> torch.Tensor:
    """(δψ)_ij = u_jᵀ G_iᵀ δW u_j (normal) or u_jᵀ G_i δWᵀ u_j (row), shape (P, n_components), float64.

    Convention: a linear layer y = x Wᵀ with W stored out×in. x: the layer inputs (P, in);
    e: e_i = ∂ℓ_i/∂y_i (P, out), the backprop signal of sample i's *own* loss — if you back-propagate
    the mean loss L = (1/P) Σ ℓ_i, multiply the captured signal by P (or back-propagate Σ ℓ_i). Then
    G_i = e_i x_iᵀ (out×in) and G = (1/P) Σ_i G_i = eᵀx / P. Inputs with extra token dims,
    x (P, …, in) and e (P, …, out), give G_i = Σ_t e_it x_itᵀ.

    Factorised, so no per-sample gradient is formed (cost O(P·(in+out)·J)):
      normal (u_j ∈ R^in):  (δψ)_ij = (x_iᵀ u_j)(e_iᵀ δW u_j)
      row    (u_j ∈ R^out): (δψ)_ij = (u_jᵀ e_i)(x_iᵀ δWᵀ u_j)
    u_j are the eigenvectors of S(G, δW) (or its row version) for the n_components largest |λ_j|,
    computed here from G = eᵀx/P unless `eigvecs` (s × ≥n_components, columns sorted by |λ|) is
    given. With all components, (1/P) Σ_i Σ_j (δψ)_ij = ⟨G, δW⟩, and (1/P) Σ_i (δψ)_ij = λ_j.
    """
    X, E = _tokens_view(x, "x"), _tokens_view(e, "e")
    if X.shape[:2] != E.shape[:2]:
        raise ValueError(f"x {tuple(x.shape)} and e {tuple(e.shape)} disagree on samples/tokens")
    if tuple(dW.shape) != (E.shape[-1], X.shape[-1]):
        raise ValueError(f"dW has shape {tuple(dW.shape)}, expected (out, in) = {(E.shape[-1], X.shape[-1])}")
    s = dW.shape[0] if row else dW.shape[1]
    if not 1 <= n_components <= s:
        raise ValueError(f"n_components must be in [1, {s}], got {n_components}")
    D = dW.to(F64)
    if eigvecs is None:
        G = torch.einsum("pto,pti->oi", E, X) / X.shape[0]
        eigvecs = alignment_eigh(G, D, row)[1]
    U = eigvecs.to(F64)[:, :n_components]
    if row:
        first, second = E @ U, X @ (D.mT @ U)
    else:
        first, second = X @ U, E @ (D @ U)
    return (first * second).sum(1)  # sum over tokens inside each sample


def mean_component_index(psi: torch.Tensor | np.ndarray) -> torch.Tensor:
    """MCI_i = Σ_j j·p_ij with p_ij = |ψ_ij| / Σ_k |ψ_ik| and j counted from 1; in [1, J].

    psi: (P, J) accumulated components (Σ over layers and analysed steps). A sample whose ψ row is
    all zero has no defined MCI and gets NaN.
    """
    a = torch.as_tensor(psi).to(F64).abs()
    j = torch.arange(1, a.shape[-1] + 1, dtype=F64, device=a.device)
    return (a * j).sum(-1) / a.sum(-1)
