"""Several optimizers driven as one (a matrix optimizer on the hidden matrices + Adam on the rest)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Combined"]


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
            raise ValueError(f"state dict holds {len(children)} optimizers, this Combined has {len(self.optimizers)}")
        for opt, sd in zip(self.optimizers, children):
            opt.load_state_dict(sd)
        self.param_groups = self._children_groups()
