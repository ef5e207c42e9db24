"""Alignment spectra (paper §4.2): the eigenvalues of the alignment matrix of one weight matrix's
gradient and step.

For a weight matrix W (m×n) with gradient G and step δW the *alignment matrix* is

    S(G, δW) = ½ (Gᵀ δW + δWᵀ G)            (n×n, "normal" version), or
    S(Gᵀ, δWᵀ) = ½ (G δWᵀ + δW Gᵀ)          (m×m, "row" version),

and tr S = ⟨G, δW⟩ = δφ(W). Its eigenvalues, sorted by |λ| descending with signs kept, split the
linearised loss change of one analysed step into components; δφ^k(W) = λ_1 + … + λ_k. Everything is
computed in float64 on the tensors' device, whatever the input dtype (fp32/bf16 training).

The building blocks (operands, the compressed eigenproblem, the |λ| order) are public because the
accumulator (:mod:`.accumulator`) and the sample-wise probe (:mod:`.samplewise`) batch them
differently.
"""

from __future__ import annotations

import torch

F64 = torch.float64


def alignment_operands(G: torch.Tensor, dW: torch.Tensor, row: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) in float64 with S = ½(AᵀB + BᵀA); the row version is the normal version of Gᵀ, δWᵀ."""
    if G.shape != dW.shape:
        raise ValueError(f"gradient shape {tuple(G.shape)} differs from step shape {tuple(dW.shape)}")
    if G.ndim < 2:
        raise ValueError(f"alignment spectra need matrices (..., m, n), got shape {tuple(G.shape)}")
    A, B = G.to(F64), dW.to(F64)
    return (A.mT, B.mT) if row else (A, B)


def symmetrised_product(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    P = A.mT @ B
    return 0.5 * (P + P.mT)


def eigen_problem_size(r: int, s: int) -> int:
    """Size of the eigenproblem solved for operands of shape (r, s): S is s×s but, living in
    span(Aᵀ, Bᵀ), has rank ≤ 2r, so when 2r < s the compressed 2r×2r problem is solved instead."""
    return 2 * r if 2 * r < s else s


def compressed_alignment(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """QᵀSQ (2r×2r) for an orthonormal basis Q of span(Aᵀ, Bᵀ): same non-zero eigenvalues as S.

    Why: a 10×n readout (CIFAR) or a ctx×n position table has an n×n S of rank ≤ 2r ≪ n; the
    projected problem costs O(n r²) instead of O(n³). Householder QR returns an orthonormal Q even
    when [Aᵀ Bᵀ] is rank deficient (e.g. δW ∝ G), so no eigenvalue is lost.
    """
    Q, _ = torch.linalg.qr(torch.cat([A.mT, B.mT], dim=-1))
    return symmetrised_product(A @ Q, B @ Q)


def eigen_problem(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The smallest symmetric matrix whose eigenvalues are S's non-zero ones (plus possibly zeros)."""
    r, s = A.shape[-2:]
    return compressed_alignment(A, B) if eigen_problem_size(r, s) < s else symmetrised_product(A, B)


def magnitude_order(lam: torch.Tensor) -> torch.Tensor:
    # stable so that exact ties (e.g. ±a, or padded zeros) get a deterministic order
    return torch.argsort(lam.abs(), dim=-1, descending=True, stable=True)


def pad_last(x: torch.Tensor, size: int, value: torch.Tensor | float) -> torch.Tensor:
    """Extend the last dim of x to `size` with `value` (a scalar, or x's own last entry)."""
    missing = size - x.shape[-1]
    if missing <= 0:
        return x
    if isinstance(value, torch.Tensor):
        fill = value.unsqueeze(-1).expand(*x.shape[:-1], missing)
    else:
        fill = x.new_full((*x.shape[:-1], missing), value)
    return torch.cat([x, fill], dim=-1)


def alignment_eigenvalues(G: torch.Tensor, dW: torch.Tensor, row: bool = False) -> torch.Tensor:
    """Eigenvalues of S(G, δW) (row=False, size n) or of its row version (row=True, size m).

    G, dW: (..., m, n), any float dtype, any device. Returns float64 (..., s) on that device,
    sorted by |λ| descending with signs kept, so ``out.sum(-1) == ⟨G, dW⟩`` up to float64 rounding
    and ``out.cumsum(-1)[..., k-1]`` is δφ^k.
    """
    A, B = alignment_operands(G, dW, row)
    lam = torch.linalg.eigvalsh(eigen_problem(A, B))
    lam = pad_last(lam, A.shape[-1], 0.0)  # the compressed problem omits S's exact zeros
    return lam.gather(-1, magnitude_order(lam))


def alignment_eigh(G: torch.Tensor, dW: torch.Tensor, row: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs (λ, U) of S(G, δW) (or the row version), float64, sorted like alignment_eigenvalues.

    U[..., :, j] is the unit eigenvector u_{j+1} of λ[..., j]. Always the full s×s problem: the
    sample-wise analysis needs a complete orthonormal basis.
    """
    A, B = alignment_operands(G, dW, row)
    lam, U = torch.linalg.eigh(symmetrised_product(A, B))
    order = magnitude_order(lam)
    return lam.gather(-1, order), U.gather(-1, order.unsqueeze(-2).expand_as(U))
