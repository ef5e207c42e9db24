"""Dion (paper §5.3): low-rank orthonormalised updates of each hidden matrix by power iteration
with error feedback, scaled by sqrt(fan_out / fan_in); rank n/2 ("proportional") or min(cap, n/2)
("bounded").

Like :mod:`hptransfer.optim.muon`, an ordinary :class:`torch.optim.Optimizer` whose settings are
plain numbers in its param groups. Conventions: :mod:`hptransfer.optim.updates`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .updates import decoupled_decay, evaluate_closure, require_matrices, subtract_scaled, update_scale

__all__ = ["RANK_RULES", "DEFAULT_RANK_CAP", "Dion", "DionFactors", "dion_factorize", "dion_rank", "random_orthonormal"]

RANK_RULES = ("bounded", "proportional")
# the bounded rule's cap, r = min(cap, width // 2): 128 in the paper (App. D.3, widths 128–2048)
DEFAULT_RANK_CAP = 128


def dion_rank(
    fan_out: int,
    fan_in: int,
    *,
    rank: int | None = None,
    rank_rule: str | None = None,
    width: int | None = None,
    rank_cap: int = DEFAULT_RANK_CAP,
    rank_fn: Callable[[int, int], int] | None = None,
) -> int:
    """Rank r of the Dion factorisation of a (fan_out, fan_in) matrix.

    First match wins: an explicit int ``rank``; else ``rank_rule`` with the *model* width ``width``
    (paper App. D.3): "bounded" → r = min(rank_cap, width // 2) (cap 128 in the paper),
    "proportional" → r = width // 2;
    else ``rank_fn(fan_out, fan_in)``. The result is clipped to [1, min(fan_out, fan_in)] because
    a QR of the (fan_out × r) matrix M̃Q cannot give more than min(m, n) orthonormal directions
    (this never binds for the paper's shapes, whose sides are all ≥ width).
    """
    if rank is not None:
        r = int(rank)
    elif rank_rule is not None:
        if rank_rule not in RANK_RULES:
            raise ValueError(f"unknown rank_rule {rank_rule!r}; choose one of {RANK_RULES}")
        if width is None:
            raise ValueError("rank_rule needs the model width: set the group key 'width'")
        r = width // 2 if rank_rule == "proportional" else min(int(rank_cap), width // 2)
    elif rank_fn is not None:
        r = int(rank_fn(fan_out, fan_in))
    else:
        raise ValueError(
            "Dion needs a rank: pass rank=int or a callable, or give each param "
            "group 'rank_rule' ('bounded'/'proportional') and 'width'"
        )
    return max(1, min(r, fan_out, fan_in))


def random_orthonormal(
    rows: int, cols: int, seed: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """A (rows × cols) matrix with orthonormal columns, Haar-distributed, fixed by ``seed``.

    Drawn on the CPU in float64 so the same seed gives the same matrix on every device.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    gauss = torch.randn(rows, cols, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(gauss, mode="reduced")
    # fixing signs by diag(R) makes Q a deterministic function of the Gaussian draw (Haar measure)
    q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)
    return q.to(dtype=dtype, device=device)


class DionFactors(NamedTuple):
    P: Tensor  # (m, r) orthonormal columns: orth(M̃ Q)
    R: Tensor  # (n, r) M̃ᵀ P
    Q_new: Tensor  # (n, r) R with unit-norm columns, the next step's Q
    M_new: Tensor  # (m, n) error-feedback momentum M̃ − (1 − μ) P Rᵀ
    update: Tensor  # (m, n) P Q_newᵀ, before the lr·sqrt(m/n) factor


def dion_factorize(M_tilde: Tensor, Q: Tensor, mu: float, eps: float) -> DionFactors:
    """One Dion power-iteration step on the residual momentum M̃ = M + G (paper App. A.3)."""
    P, _ = torch.linalg.qr(M_tilde @ Q, mode="reduced")
    R = M_tilde.T @ P
    Q_new = R / (R.norm(dim=0, keepdim=True) + eps)
    M_new = M_tilde - (1 - mu) * (P @ R.T)
    return DionFactors(P=P, R=R, Q_new=Q_new, M_new=M_new, update=P @ Q_new.T)


class Dion(torch.optim.Optimizer):
    r"""Dion as written in the paper (App. A.3; spec §5.3, §7) for 2-D weights ``(out, in)``.

    Per step, with m = fan_out, n = fan_in, Q ∈ R^{n×r}::

        M̃ = M + G
        P = orth(M̃ Q)  (reduced QR),   R = M̃ᵀ P
        Q ← R with each column divided by (‖column‖ + ε)
        M ← M̃ − (1 − μ) P Rᵀ               (error feedback)
        W ← W · (1 − lr·wd)                 (decoupled weight decay, default wd = 0)
        W ← W − lr · sqrt(m/n) · P Qᵀ       (with the new Q)

    State per parameter: "momentum" (M, zeros at start) and "Q". Q starts as a random orthonormal
    n×r matrix drawn from a CPU generator seeded with ``seed * 1_000_003 + index``, where index is
    the parameter's position in the optimizer's parameter list (groups in order). The initial Q is
    thus reproducible given the same group layout, and a resumed run reads Q and M from the state
    dict, so it continues exactly. The factorisation runs in float32; the state is kept in the
    parameter's dtype because ``Optimizer.load_state_dict`` casts floating state to that dtype.

    Rank (see :func:`dion_rank`): ``rank`` may be an int (stored in the groups), ``None`` (each
    group must then carry ``rank_rule`` = "bounded"/"proportional" and ``width`` = model width as
    plain values — the engine provides them — and may carry the bounded rule's ``rank_cap``), or a
    callable ``(fan_out, fan_in) -> int``. A callable is kept on the optimizer, not in the groups,
    so that state dicts stay plain data;
    pass the same callable when rebuilding an optimizer to resume. The rank actually used is the
    number of columns of the stored Q.

    Group keys: ``lr``, ``mu``, ``rank``, ``rank_rule``, ``width``, ``rank_cap``, ``eps``, ``seed``,
    ``scale`` (see :func:`update_scale`), ``weight_decay``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        mu: float = 0.95,
        rank: int | Callable[[int, int], int] | None = None,
        eps: float = 1e-8,
        seed: int = 0,
        rank_rule: str | None = None,
        width: int | None = None,
        rank_cap: int = DEFAULT_RANK_CAP,
        scale: str = "sqrt_fan_ratio",
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0 <= mu <= 1:
            raise ValueError(f"mu must be in [0, 1], got {mu}")
        update_scale(scale, 1, 1)
        self._rank_fn = rank if callable(rank) else None
        defaults = dict(
            lr=lr,
            mu=mu,
            rank=None if callable(rank) else rank,
            rank_rule=rank_rule,
            width=width,
            rank_cap=rank_cap,
            eps=eps,
            seed=seed,
            scale=scale,
            weight_decay=weight_decay,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        require_matrices("Dion", self.param_groups[-1])

    def rank_for(self, p: Tensor, group: dict[str, Any]) -> int:
        """The rank this optimizer uses (or will use) for parameter ``p`` in ``group``."""
        if "Q" in self.state.get(p, {}):
            return self.state[p]["Q"].shape[1]
        fan_out, fan_in = p.shape
        # checkpoints written before rank_cap existed carry groups without it
        return dion_rank(
            fan_out,
            fan_in,
            rank=group["rank"],
            rank_rule=group["rank_rule"],
            width=group["width"],
            rank_cap=group.get("rank_cap", DEFAULT_RANK_CAP),
            rank_fn=self._rank_fn,
        )

    def _init_state(self, p: Tensor, group: dict[str, Any], index: int) -> dict[str, Tensor]:
        state = self.state[p]
        r = self.rank_for(p, group)
        state["momentum"] = torch.zeros_like(p)
        state["Q"] = random_orthonormal(
            p.shape[1], r, seed=group["seed"] * 1_000_003 + index, dtype=p.dtype, device=p.device
        )
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = evaluate_closure(closure)
        index = -1
        for group in self.param_groups:
            for p in group["params"]:
                index += 1  # counts parameters without grads too, so indices never shift
                if p.grad is None:
                    continue
                has_state = "Q" in self.state.get(p, {})
                state = self.state[p] if has_state else self._init_state(p, group, index)
                M_tilde = state["momentum"].float() + p.grad.float()
                f = dion_factorize(M_tilde, state["Q"].float(), group["mu"], group["eps"])
                state["momentum"].copy_(f.M_new)
                state["Q"].copy_(f.Q_new)
                fan_out, fan_in = p.shape
                step_size = group["lr"] * update_scale(group["scale"], fan_out, fan_in)
                decoupled_decay(p, group["lr"], group["weight_decay"])
                subtract_scaled(p, f.update, step_size)
        return loss
