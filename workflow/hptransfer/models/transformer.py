"""The paper's Transformers, readable top to bottom (after nanoGPT's model.py).

Two blocks share one skeleton:

* ``llama`` (paper §5.1, Table 2): pre-RMSNorm, rotary position embeddings (θ = 10⁴), SwiGLU MLP with
  hidden size 4n, no biases, untied embeddings, a final RMSNorm;
* ``gpt2`` (§5.4, Table 3): learned position embeddings, pre-RMSNorm, GeLU MLP with hidden size 4n.

Width enters only through the plain multipliers the parametrization table computes
(``readout_mult``, ``attn_scale``) and through initialisation (``hptransfer.parametrization.apply``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TransformerConfig:
    vocab_size: int
    width: int
    depth: int
    heads: int
    context: int
    block: str = "llama"
    rope_theta: float = 10000.0
    readout_mult: float = 1.0
    attn_scale: float | None = None  # None: 1/sqrt(d_head)

    @property
    def head_dim(self) -> int:
        return self.width // self.heads


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


def rotary_tables(context: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    freqs = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(context, dtype=torch.float64), freqs)
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of x (batch, heads, time, head_dim)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    t = x.shape[-2]
    cos, sin = cos[:t], sin[:t]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        n = cfg.width
        self.heads, self.rotary = cfg.heads, cfg.block == "llama"
        self.scale = cfg.attn_scale if cfg.attn_scale is not None else 1.0 / math.sqrt(cfg.head_dim)
        self.q = nn.Linear(n, n, bias=False)
        self.k = nn.Linear(n, n, bias=False)
        self.v = nn.Linear(n, n, bias=False)
        self.o = nn.Linear(n, n, bias=False)
        if self.rotary:
            cos, sin = rotary_tables(cfg.context, cfg.head_dim, cfg.rope_theta)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n = x.shape
        q, k, v = (proj(x).view(b, t, self.heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v))
        if self.rotary:
            q, k = apply_rotary(q, self.cos, self.sin), apply_rotary(k, self.cos, self.sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.o(y.transpose(1, 2).reshape(b, t, n))


class SwiGLU(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gate = nn.Linear(width, 4 * width, bias=False)
        self.up = nn.Linear(width, 4 * width, bias=False)
        self.down = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GeluMLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.up = nn.Linear(width, 4 * width, bias=False)
        self.down = nn.Linear(4 * width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.width)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.width)
        self.mlp = SwiGLU(cfg.width) if cfg.block == "llama" else GeluMLP(cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.block not in ("llama", "gpt2"):
            raise ValueError(f"unknown block {cfg.block!r} (llama or gpt2)")
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.width)
        self.pos_emb = nn.Embedding(cfg.context, cfg.width) if cfg.block == "gpt2" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = RMSNorm(cfg.width)
        self.lm_head = nn.Linear(cfg.width, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm(x)) * self.cfg.readout_mult
        if targets is None:
            return logits
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())

    def roles(self) -> dict[str, str]:
        """Parametrization role of every parameter (see hptransfer.parametrization.apply)."""
        out = {}
        for name, p in self.named_parameters():
            if p.ndim == 1:
                out[name] = "vector"
            elif name.startswith(("tok_emb", "pos_emb")):
                out[name] = "embedding"
            elif name.startswith("lm_head"):
                out[name] = "readout"
            else:
                out[name] = "hidden"
        return out

    def row_version(self, name: str) -> bool:
        """Whether the alignment matrix of this parameter is taken over rows (paper §4.2): the MLP
        down projection (width × 4·width, stored out × in) is the one whose width side is the rows."""
        return name.endswith("mlp.down.weight")
