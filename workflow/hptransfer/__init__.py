"""hptransfer: does a hyperparameter tuned on a small network transfer to a wide one, and why?"""

from __future__ import annotations

__version__ = "0.1.0"


def alignment_eigenvalues(G, dW, row=False):
    """Eigenvalues of the alignment matrix S(G, δW), sorted by |λ| (see hptransfer.decomposition.spectra)."""
    from .decomposition.spectra import alignment_eigenvalues as impl

    return impl(G, dW, row=row)


def select_kappa(phi_n, phi_max, nu, taus=None, eps_cvx=None, eps_amin=None):
    """Algorithm 1 of the paper on plain arrays (see hptransfer.analysis.kappa)."""
    from .analysis.kappa import select_kappa as impl

    return impl(phi_n, phi_max, nu, taus=taus, eps_cvx=eps_cvx, eps_amin=eps_amin)
