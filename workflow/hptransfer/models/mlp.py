"""Two-layer networks: the ReLU net of paper §3 (with biases) and the bias-free CIFAR MLP of §5.6."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TwoLayerConfig:
    d_in: int
    width: int
    d_out: int = 1
    bias: bool = False
    second_layer_mult: float = 1.0


class TwoLayerNet(nn.Module):
    """f(x) = mult · W2 relu(W1 x (+ b1)): first_layer and second_layer roles of the tables."""

    def __init__(self, cfg: TwoLayerConfig):
        super().__init__()
        self.cfg = cfg
        self.fc1 = nn.Linear(cfg.d_in, cfg.width, bias=cfg.bias)
        self.fc2 = nn.Linear(cfg.width, cfg.d_out, bias=False)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.hidden(x)) * self.cfg.second_layer_mult

    def roles(self) -> dict[str, str]:
        return {
            name: ("vector" if p.ndim == 1 else "first_layer" if name.startswith("fc1") else "second_layer")
            for name, p in self.named_parameters()
        }

    def row_version(self, name: str) -> bool:
        """The first layer (width × d_in, stored out × in) has the width on its rows (paper §4.2)."""
        return name == "fc1.weight"
