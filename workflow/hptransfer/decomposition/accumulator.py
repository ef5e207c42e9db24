"""Φ[k]: the EMA-linearised top-k loss change summed over layers and analysed steps (paper §4.2).

The training loop calls :class:`SpectrumAccumulator` once per EMA sample point with the gradient g_t
at the left point and the step δw_t = w_{t+1} − w_t; it sums δφ^k over layers and time into
Φ[k−1] = φ^k (length = model width), in float64.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from .spectra import F64, alignment_operands, eigen_problem, eigen_problem_size, magnitude_order, pad_last

KINDS = ("matrix", "vector")


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """How one parameter enters the decomposition.

    kind "matrix": a 2-D weight decomposed through its alignment spectrum; `row` picks the row
    version so that S is width×width (spec §4.2: down projections and the CIFAR first layer).
    kind "vector": norm gains, biases, … — never decomposed; ⟨g, δv⟩ counts in every φ^k.
    """

    name: str
    kind: str = "matrix"
    row: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ParamSpec {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")


def param_specs(
    named_shapes: Iterable[tuple[str, torch.Size | Sequence[int] | torch.Tensor]], width: int
) -> list[ParamSpec]:
    """Default specs from (name, shape-or-tensor) pairs, e.g. ``model.named_parameters()``.

    Rule (spec §7, "row-version assignment"): < 2 dims → vector; otherwise decompose over the side
    equal to the width — the input side (normal version) if W.shape[1] == width, else the output side
    (row version) if W.shape[0] == width. A matrix with no side equal to the width is an error:
    choose its spec by hand.
    """
    specs = []
    for name, shape in named_shapes:
        shape = tuple(shape.shape) if isinstance(shape, torch.Tensor) else tuple(shape)
        if len(shape) < 2:
            specs.append(ParamSpec(name, "vector"))
        elif len(shape) != 2:
            raise ValueError(f"parameter {name!r} has shape {shape}: only matrices and vectors are supported")
        elif shape[1] == width:
            specs.append(ParamSpec(name, "matrix", row=False))
        elif shape[0] == width:
            specs.append(ParamSpec(name, "matrix", row=True))
        else:
            raise ValueError(
                f"parameter {name!r} of shape {shape} has no side equal to width {width}; give its ParamSpec explicitly"
            )
    return specs


@dataclasses.dataclass(frozen=True)
class StepDecomposition:
    """One analysed step: dphi = ⟨g, δw⟩ over all parameters; dphi_k[k-1] = δφ^k; dphi_k[-1] == dphi.

    dphi_topk holds dphi_k at the accumulator's `topk` values (NaN for k > width).
    """

    dphi: float
    dphi_k: np.ndarray
    dphi_topk: np.ndarray


def _inner(g: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return (g.to(F64) * d.to(F64)).sum()


def cumulative_curves(lam: torch.Tensor, traces: torch.Tensor, width: int) -> torch.Tensor:
    """(b, d) eigenvalues → (b, width) top-k curves.

    Each curve is the |λ|-sorted cumsum, padded with its total up to the width: a matrix with fewer
    than `width` eigen-directions (per-head matrices, a compressed low-rank S whose remaining
    eigenvalues are exactly 0) has nothing left to add beyond its own spectrum. From the last
    eigenvalue on, the curve is set to the exact trace ⟨G, δW⟩ so that φ^n == φ holds exactly rather
    than up to eigensolver rounding.
    """
    lam = lam.gather(-1, magnitude_order(lam))
    return pad_last(lam.cumsum(-1)[:, :-1], width, traces)


class SpectrumAccumulator:
    """Φ[k−1] = φ^k = Σ_t Σ_layers δφ^k, accumulated in float64 over analysed (EMA) steps.

    width: the model width n (length of Φ); specs: one ParamSpec per parameter, which must cover
    exactly the keys passed to `update`; topk: the k values whose per-step δφ^k is logged (e.g. [60]
    for Figure 1). `max_batch_bytes` bounds the float64 stack of alignment matrices sent to a single
    batched eigvalsh call (larger groups are split).
    """

    def __init__(self, width: int, specs: Sequence[ParamSpec], topk: Sequence[int] = (), max_batch_bytes: int = 2**31):
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in specs: {sorted({n for n in names if names.count(n) > 1})}")
        if any(int(k) < 1 for k in topk):
            raise ValueError(f"topk values must be ≥ 1, got {list(topk)}")
        self.width = int(width)
        self.specs = list(specs)
        self.topk = [int(k) for k in topk]
        self.max_batch_bytes = int(max_batch_bytes)
        self._phi_k = torch.zeros(self.width, dtype=F64)
        self._dphi_log: list[float] = []
        self._dphi_topk_log: list[list[float]] = []

    # -- public state ------------------------------------------------------------------------------
    @property
    def phi_k(self) -> np.ndarray:
        """Φ (length width): Φ[k−1] = φ^k summed over all steps so far; Φ[-1] = φ."""
        return self._phi_k.numpy().copy()

    @property
    def n_steps(self) -> int:
        return len(self._dphi_log)

    @property
    def dphi_log(self) -> np.ndarray:
        """δφ per analysed step, shape (n_steps,)."""
        return np.asarray(self._dphi_log, dtype=np.float64)

    @property
    def dphi_topk_log(self) -> np.ndarray:
        """δφ^k per analysed step at the `topk` values, shape (n_steps, len(topk))."""
        return np.asarray(self._dphi_topk_log, dtype=np.float64).reshape(-1, len(self.topk))

    @property
    def phi_log(self) -> np.ndarray:
        """Cumulative φ after each analysed step (the running linearised ΔL)."""
        return np.cumsum(self.dphi_log)

    @property
    def phi_topk_log(self) -> np.ndarray:
        """Cumulative φ^k after each analysed step at the `topk` values, shape (n_steps, len(topk))."""
        return np.cumsum(self.dphi_topk_log, axis=0)

    # -- the per-EMA-point computation ------------------------------------------------------------
    def update(self, grads: Mapping[str, torch.Tensor], deltas: Mapping[str, torch.Tensor]) -> StepDecomposition:
        """Decompose one analysed step (g_t, δw_t) and add it to Φ and to the logs."""
        self._check_keys(grads, deltas)
        device = next(iter(grads.values())).device if grads else torch.device("cpu")
        total = torch.zeros(self.width, dtype=F64, device=device)
        for d, group in self._eigen_groups(grads):
            for chunk in self._chunks(d, group):
                total += self._group_curves(d, chunk, grads, deltas).sum(0)
        for spec in self.specs:
            if spec.kind == "vector":
                total += _inner(grads[spec.name], deltas[spec.name]).to(device)
        dphi_k = total.cpu()  # the one device→host sync per update
        self._phi_k += dphi_k
        return self._record(dphi_k.numpy())

    def _check_keys(self, grads: Mapping[str, torch.Tensor], deltas: Mapping[str, torch.Tensor]) -> None:
        expected = {s.name for s in self.specs}
        for what, d in (("grads", grads), ("deltas", deltas)):
            missing, extra = expected - set(d), set(d) - expected
            if missing or extra:
                raise ValueError(
                    f"{what} keys do not match the specs: missing {sorted(missing)}, unexpected {sorted(extra)}"
                )

    def _alignment_size(self, spec: ParamSpec, shape: torch.Size) -> int:
        """Side length s of S for this matrix, validated against the width."""
        if len(shape) != 2:
            raise ValueError(f"parameter {spec.name!r}: kind 'matrix' needs a 2-D tensor, got shape {tuple(shape)}")
        s = shape[0] if spec.row else shape[1]
        if s > self.width:
            other = shape[1] if spec.row else shape[0]
            hint = f"; the other side is {other}, use row={not spec.row}" if other <= self.width else ""
            raise ValueError(
                f"parameter {spec.name!r} of shape {tuple(shape)} with row={spec.row} gives a "
                f"{s}×{s} alignment matrix, larger than the width {self.width}{hint}"
            )
        return s

    def _eigen_groups(self, grads: Mapping[str, torch.Tensor]) -> list[tuple[int, list[ParamSpec]]]:
        """Matrix specs grouped by the size d of the eigenproblem actually solved, as (d, specs).

        Grouping by eigenproblem size (not by weight shape) lets q/k/v/o, gate/up, the row-version
        down projection and the embeddings of a Llama block share one batched eigvalsh call: they are
        all width×width.
        """
        groups: dict[int, list[ParamSpec]] = {}
        for spec in self.specs:
            if spec.kind != "matrix":
                continue
            shape = grads[spec.name].shape
            s = self._alignment_size(spec, shape)
            r = shape[1] if spec.row else shape[0]
            groups.setdefault(eigen_problem_size(r, s), []).append(spec)
        return sorted(groups.items())

    def _chunks(self, d: int, group: list[ParamSpec]) -> Iterable[list[ParamSpec]]:
        """Split a group so that its float64 stack of d×d matrices stays under max_batch_bytes."""
        per_chunk = max(1, self.max_batch_bytes // (8 * d * d))
        for start in range(0, len(group), per_chunk):
            yield group[start : start + per_chunk]

    def _group_curves(self, d: int, group: list[ParamSpec], grads, deltas) -> torch.Tensor:
        """(len(group), width) top-k curves of d×d eigenproblems, solved by one batched eigvalsh."""
        device = grads[group[0].name].device
        problems = torch.empty((len(group), d, d), dtype=F64, device=device)
        traces = torch.empty(len(group), dtype=F64, device=device)
        for i, spec in enumerate(group):
            A, B = alignment_operands(grads[spec.name], deltas[spec.name], spec.row)
            problems[i] = eigen_problem(A, B)
            traces[i] = (A * B).sum()
        return cumulative_curves(torch.linalg.eigvalsh(problems), traces, self.width)

    def _record(self, dphi_k: np.ndarray) -> StepDecomposition:
        dphi_k = dphi_k.astype(np.float64, copy=True)
        topk = np.array([dphi_k[k - 1] if k <= self.width else np.nan for k in self.topk], dtype=np.float64)
        dphi = float(dphi_k[-1])
        self._dphi_log.append(dphi)
        self._dphi_topk_log.append(topk.tolist())
        return StepDecomposition(dphi=dphi, dphi_k=dphi_k, dphi_topk=topk)

    # -- checkpointing -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain tensors, ints, strings and lists: loadable with torch.load(weights_only=True)."""
        return {
            "version": 1,
            "width": self.width,
            "topk": list(self.topk),
            "specs": [[s.name, s.kind, bool(s.row)] for s in self.specs],
            "phi_k": self._phi_k.clone(),
            "dphi_log": torch.tensor(self._dphi_log, dtype=F64),
            "dphi_topk_log": torch.tensor(self._dphi_topk_log, dtype=F64).reshape(-1, len(self.topk)),
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore an exact continuation; the width, topk and specs must match this accumulator's."""
        mine = self.state_dict()
        for key in ("width", "topk", "specs"):
            theirs = [list(x) for x in state[key]] if key == "specs" else state[key]
            if theirs != mine[key]:
                raise ValueError(f"state_dict {key} {theirs!r} does not match this accumulator's {mine[key]!r}")
        self._phi_k = state["phi_k"].to(device="cpu", dtype=F64).clone()
        self._dphi_log = [float(x) for x in state["dphi_log"].tolist()]
        self._dphi_topk_log = [list(map(float, row)) for row in state["dphi_topk_log"].tolist()]
