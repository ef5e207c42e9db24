"""Width-scaled matrix optimizers that torch does not ship in the paper's form: Muon and Dion.

All three classes are ordinary :class:`torch.optim.Optimizer` subclasses. Every per-group setting
(learning rate, momentum, rank rule, model width, seed, ...) is a plain Python number, bool or
string stored in the param-group dict, never an attribute on a tensor. That keeps
``state_dict()`` loadable with ``torch.load(weights_only=True)``, keeps ``load_state_dict``
exact (so a resumed run is bit-identical to an uninterrupted one) and keeps the step traceable by
``torch.compile``.

Conventions: a weight ``W`` is stored ``(out, in)`` like ``nn.Linear``, so ``m = fan_out =
W.shape[0]`` and ``n = fan_in = W.shape[1]``; both matrix optimizers scale their unit-spectral
update by ``sqrt(m / n)`` (the μP scaling of paper App. A.2/A.3; spec §5.2, §5.3, §7).

Public API
----------
``newton_schulz5(M, steps=5, eps=1e-7, bf16=False)``
``Muon(params, lr, momentum=0.95, nesterov=False, ns_steps=5, scale="sqrt_fan_ratio", ...)``
``Dion(params, lr, mu=0.95, rank=None, eps=1e-8, seed=0, ...)``, ``dion_rank``, ``dion_factorize``
``Combined(optimizers)``: one optimizer object over several (matrix optimizer + Adam).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "NS5_COEFFICIENTS",
    "newton_schulz5",
    "update_scale",
    "Muon",
    "Dion",
    "DionFactors",
    "dion_factorize",
    "dion_rank",
    "random_orthonormal",
    "Combined",
]

# The standard quintic of Keller Jordan's Muon (also torch.optim.Muon's default). It maximises
# the slope at 0 rather than converging to exactly 1, so after 5 steps the singular values land in
# roughly [0.68, 1.13] instead of exactly 1.
NS5_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)

UPDATE_SCALES = ("sqrt_fan_ratio", "torch_original", "match_rms_adamw", "none")


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
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


def update_scale(scale: str, fan_out: int, fan_in: int) -> float:
    """Multiplier applied to lr for a unit-spectral update of a (fan_out, fan_in) matrix.

    ``sqrt_fan_ratio``: sqrt(m/n), the paper's μP rule (default).
    ``torch_original``: sqrt(max(1, m/n)), torch.optim.Muon's default (Keller Jordan's rule).
    ``match_rms_adamw``: 0.2·sqrt(max(m, n)), torch.optim.Muon's Moonshot option.
    ``none``: 1.
    """
    if scale == "sqrt_fan_ratio":
        return math.sqrt(fan_out / fan_in)
    if scale == "torch_original":
        return math.sqrt(max(1, fan_out / fan_in))
    if scale == "match_rms_adamw":
        return 0.2 * math.sqrt(max(fan_out, fan_in))
    if scale == "none":
        return 1.0
    raise ValueError(f"unknown update scale {scale!r}; choose one of {UPDATE_SCALES}")


def _require_matrices(optimizer_name: str, group: dict[str, Any]) -> None:
    for p in group["params"]:
        if p.ndim != 2:
            raise ValueError(
                f"{optimizer_name} only updates 2-D (out, in) weight matrices, got a parameter of "
                f"shape {tuple(p.shape)}; give embeddings, readout and vectors to Adam "
                "(see hptransfer.optim.Combined)"
            )


def _subtract_scaled(p: Tensor, update: Tensor, step_size: float) -> None:
    """W ← W − step_size · update, written as a multiply then a subtract, on purpose.

    Not ``p.add_(update, alpha=-step_size)``: (i) dynamo bakes ``alpha`` into the graph as a
    constant, so a compiled step recompiles for every new lr of a schedule (hitting the recompile
    limit during WSD warmup), whereas a float operand of ``*`` becomes a graph input; (ii) torch
    2.13's inductor drops ``alpha`` when the added tensor is a plain matmul such as Dion's P Q_newᵀ,
    silently taking a step of size 1 (same family as pytorch/pytorch#167313).
    The cast comes first so a bf16 NS output is scaled in the parameter's precision.
    """
    p.sub_(update.to(p.dtype) * step_size)


def _decoupled_decay(p: Tensor, lr: float, weight_decay: float) -> None:
    """W ← W·(1 − lr·wd): decoupled decay with the unscaled lr, as torch.optim.Muon/AdamW do."""
    if weight_decay != 0:
        p.mul_(1 - lr * weight_decay)


# ----------------------------------------------------------------------------------------------
# Muon
# ----------------------------------------------------------------------------------------------
def _evaluate_closure(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The optimizer-step closure convention: re-evaluate the loss with gradients enabled."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


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
    ``add_(O, alpha=-lr')`` where we multiply then subtract (see ``_subtract_scaled``), which can
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
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                        scale=scale, weight_decay=weight_decay, eps=eps, ns_bf16=ns_bf16)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        _require_matrices("Muon", self.param_groups[-1])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = _evaluate_closure(closure)
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
                update = newton_schulz5(direction, steps=group["ns_steps"], eps=group["eps"],
                                        bf16=group["ns_bf16"])
                fan_out, fan_in = p.shape
                step_size = group["lr"] * update_scale(group["scale"], fan_out, fan_in)
                _decoupled_decay(p, group["lr"], group["weight_decay"])
                _subtract_scaled(p, update, step_size)
        return loss


# ----------------------------------------------------------------------------------------------
# Dion
# ----------------------------------------------------------------------------------------------
RANK_RULES = ("bounded", "proportional")
# the bounded rule's cap, r = min(cap, width // 2): 128 in the paper (App. D.3, widths 128–2048)
DEFAULT_RANK_CAP = 128


def dion_rank(fan_out: int, fan_in: int, *, rank: int | None = None, rank_rule: str | None = None,
              width: int | None = None, rank_cap: int = DEFAULT_RANK_CAP,
              rank_fn: Callable[[int, int], int] | None = None) -> int:
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
        raise ValueError("Dion needs a rank: pass rank=int or a callable, or give each param "
                         "group 'rank_rule' ('bounded'/'proportional') and 'width'")
    return max(1, min(r, fan_out, fan_in))


def random_orthonormal(rows: int, cols: int, seed: int, dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> Tensor:
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
    P: Tensor        # (m, r) orthonormal columns: orth(M̃ Q)
    R: Tensor        # (n, r) M̃ᵀ P
    Q_new: Tensor    # (n, r) R with unit-norm columns, the next step's Q
    M_new: Tensor    # (m, n) error-feedback momentum M̃ − (1 − μ) P Rᵀ
    update: Tensor   # (m, n) P Q_newᵀ, before the lr·sqrt(m/n) factor


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
        defaults = dict(lr=lr, mu=mu, rank=None if callable(rank) else rank, rank_rule=rank_rule,
                        width=width, rank_cap=rank_cap, eps=eps, seed=seed, scale=scale,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        _require_matrices("Dion", self.param_groups[-1])

    def rank_for(self, p: Tensor, group: dict[str, Any]) -> int:
        """The rank this optimizer uses (or will use) for parameter ``p`` in ``group``."""
        if "Q" in self.state.get(p, {}):
            return self.state[p]["Q"].shape[1]
        fan_out, fan_in = p.shape
        # checkpoints written before rank_cap existed carry groups without it
        return dion_rank(fan_out, fan_in, rank=group["rank"], rank_rule=group["rank_rule"],
                         width=group["width"], rank_cap=group.get("rank_cap", DEFAULT_RANK_CAP),
                         rank_fn=self._rank_fn)

    def _init_state(self, p: Tensor, group: dict[str, Any], index: int) -> dict[str, Tensor]:
        state = self.state[p]
        r = self.rank_for(p, group)
        state["momentum"] = torch.zeros_like(p)
        state["Q"] = random_orthonormal(p.shape[1], r, seed=group["seed"] * 1_000_003 + index,
                                        dtype=p.dtype, device=p.device)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = _evaluate_closure(closure)
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
                _decoupled_decay(p, group["lr"], group["weight_decay"])
                _subtract_scaled(p, f.update, step_size)
        return loss


# ----------------------------------------------------------------------------------------------
# Several optimizers as one
# ----------------------------------------------------------------------------------------------
class Combined(torch.optim.Optimizer):
    """Drive several optimizers (e.g. Muon on hidden matrices + Adam on the rest, paper §4.2.2)
    as one.

    ``param_groups`` is the concatenation of the children's group dicts (the same dict objects),
    so an LR scheduler built on the Combined object writes straight into the children. ``state``
    is a read-only merged view of the children's states. ``state_dict()`` is
    ``{"optimizers": [child.state_dict(), ...]}``; ``load_state_dict`` loads each child and
    re-links ``param_groups`` (children replace their group dicts when loading).
    Subclassing ``Optimizer`` is what lets ``torch.optim.lr_scheduler`` accept this object.
    """

    def __init__(self, optimizers: Iterable[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)
        if not self.optimizers:
            raise ValueError("Combined needs at least one optimizer")
        # Optimizer.__init__ checks that no parameter appears in two groups — across children too.
        super().__init__(self._children_groups(), defaults={})
        self.param_groups = self._children_groups()

    def _children_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    @property
    def state(self) -> dict[Tensor, Any]:  # type: ignore[override]
        merged: dict[Tensor, Any] = {}
        for opt in self.optimizers:
            merged.update(opt.state)
        return merged

    @state.setter
    def state(self, value: Any) -> None:
        # Optimizer.__init__ assigns an empty dict; the real state lives in the children.
        if len(value) != 0:
            raise AttributeError("Combined.state is a view of its children's states")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()  # once, not once per child
        for opt in self.optimizers:
            opt.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # type: ignore[override]
        children = state_dict["optimizers"]
        if len(children) != len(self.optimizers):
            raise ValueError(f"state dict holds {len(children)} optimizers, "
                             f"this Combined has {len(self.optimizers)}")
        for opt, sd in zip(self.optimizers, children):
            opt.load_state_dict(sd)
        self.param_groups = self._children_groups()
