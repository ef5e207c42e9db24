"""Muon (paper §5.2): momentum SGD whose update of each hidden matrix is orthogonalised by a
Newton–Schulz iteration and scaled by sqrt(fan_out / fan_in).

An ordinary :class:`torch.optim.Optimizer`: every per-group setting (learning rate, momentum,
scale, ...) is a plain Python number, bool or string in the param-group dict, never an attribute on
a tensor. That keeps ``state_dict()`` loadable with ``torch.load(weights_only=True)``, keeps
``load_state_dict`` exact (so a resumed run is bit-identical to an uninterrupted one) and keeps the
step traceable by ``torch.compile``. Conventions: :mod:`hptransfer.optim.updates`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .updates import decoupled_decay, evaluate_closure, require_matrices, subtract_scaled, update_scale

__all__ = ["NS5_COEFFICIENTS", "newton_schulz5", "Muon"]


# The standard quintic of Keller Jordan's Muon (also torch.optim.Muon's default). It maximises
# the slope at 0 rather than converging to exactly 1, so after 5 steps the singular values land in
# roughly [0.68, 1.13] instead of exactly 1.
NS5_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)


def newton_schulz5(M: Tensor, steps: int = 5, eps: float = 1e-7, bf16: bool = False) -> Tensor:
    """Approximate the orthogonal polar factor msgn(M) = U Vᵀ of a 2-D matrix.

    Frobenius pre-normalisation puts every singular value in (0, 1], then ``steps`` iterations of
    X ← aX + (b A + c A²) X with A = X Xᵀ and (a, b, c) = ``NS5_COEFFICIENTS``. Tall inputs are
    transposed so the Gram matrix A is the small one. The arithmetic runs in float32 (bfloat16 if
    ``bf16``); the result is returned in that compute dtype. The operation order mirrors
    ``torch.optim._muon._zeropower_via_newtonschulz`` so that ``bf16=True`` reproduces torch's
    Muon bit for bit.
    """
    if M.ndim != 2:
        raise ValueError(f"newton_schulz5 needs a 2-D matrix, got shape {tuple(M.shape)}")
    a, b, c = NS5_COEFFICIENTS
    X = M.to(torch.bfloat16 if bf16 else torch.float32)
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    # clamp (not "+ eps") so that a zero matrix maps to zero and scaling the input by c > 0 gives
    # exactly the same X here whenever c is a power of two.
    X = X / X.norm().clamp(min=eps)
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    return X.T if transposed else X


class Muon(torch.optim.Optimizer):
    r"""Muon as written in the paper (App. A.2; spec §5.2, §7) for 2-D weights ``(out, in)``.

    Per step, with β = ``momentum``, m = fan_out, n = fan_in::

        M ← β M + (1 − β) G                     (EMA momentum, state "momentum_buffer")
        U = M                                   (nesterov=False, the paper's default)
          = β M + (1 − β) G                     (nesterov=True, using the fresh M; torch's form)
        W ← W · (1 − lr·wd)                     (decoupled weight decay, default wd = 0)
        W ← W − lr · s(m, n) · NS5(U)           s = sqrt(m/n) for scale="sqrt_fan_ratio"

    The freshly updated M is used (the paper's p(M_t) is read as p(M_{t+1}); spec §8 item 11).
    Because NS5 starts with Frobenius normalisation, the (1 − β) factor is irrelevant: the
    ``M ← βM + G`` form gives the same update up to rounding.

    Group keys (all plain values): ``lr``, ``momentum``, ``nesterov``, ``ns_steps``, ``scale``
    (see :func:`update_scale`), ``weight_decay``, ``eps`` (NS normalisation floor), ``ns_bf16``.

    Relation to ``torch.optim.Muon`` (torch 2.13): its buffer update is ``buf.lerp_(grad, 1 − β)``
    — the same EMA (its docstring writes μB + g, which differs only by the scale that NS removes);
    its Nesterov form is ``grad.lerp(buf, β)``, same as ours; its decay is ``W·(1 − lr·wd)`` before
    the update, same as ours. Differences: (i) it always runs NS in bfloat16 (ours: float32 unless
    ``ns_bf16=True``); (ii) its lr adjustment is sqrt(max(1, m/n)) ("original", the default) or
    0.2·sqrt(max(m, n)) ("match_rms_adamw"), never sqrt(m/n); (iii) its defaults are
    ``nesterov=True`` and ``weight_decay=0.1``; (iv) it applies the step as
    ``add_(O, alpha=-lr')`` where we multiply then subtract (see ``subtract_scaled``), which can
    differ in the last bit of W. Hence the two compute the same update — identical NS output and
    momentum, parameters equal to float32 rounding of the final add — exactly when
    ``ns_bf16=True``, matching ``nesterov`` and ``weight_decay``, ``adjust_lr_fn="original"`` and
    fan_out ≥ fan_in (e.g. square q/k/v/o and 4n×n up/gate matrices). For fan_out < fan_in (the
    n×4n down projection) torch's step is sqrt(n/m) times larger than the paper's; using
    ``scale="torch_original"`` here makes all shapes agree.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.95,
        nesterov: bool = False,
        ns_steps: int = 5,
        scale: str = "sqrt_fan_ratio",
        weight_decay: float = 0.0,
        eps: float = 1e-7,
        ns_bf16: bool = False,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        update_scale(scale, 1, 1)  # validates the name early
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            scale=scale,
            weight_decay=weight_decay,
            eps=eps,
            ns_bf16=ns_bf16,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        require_matrices("Muon", self.param_groups[-1])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = evaluate_closure(closure)
        for group in self.param_groups:
            beta = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                # lerp_ is βM + (1−β)G in one rounding, the same op torch.optim.Muon uses
                buf.lerp_(p.grad, 1 - beta)
                direction = p.grad.lerp(buf, beta) if group["nesterov"] else buf
                update = newton_schulz5(direction, steps=group["ns_steps"], eps=group["eps"], bf16=group["ns_bf16"])
                fan_out, fan_in = p.shape
                step_size = group["lr"] * update_scale(group["scale"], fan_out, fan_in)
                decoupled_decay(p, group["lr"], group["weight_decay"])
                subtract_scaled(p, update, step_size)
        return loss
