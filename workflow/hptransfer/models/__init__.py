"""Models built by the engine, initialised from a parametrization table."""

from __future__ import annotations

import torch
from torch import nn

from ..config.run import Parametrization, TransformerModel
from ..parametrization.apply import forward_multipliers, init_parameters
from .mlp import TwoLayerConfig, TwoLayerNet
from .transformer import Transformer, TransformerConfig

__all__ = ["Transformer", "TransformerConfig", "TwoLayerNet", "TwoLayerConfig", "build_transformer", "build_two_layer"]


def build_transformer(model: TransformerModel, table: Parametrization, vocab_size: int, seed: int) -> Transformer:
    """The Transformer of a run config's ``model`` block, initialised deterministically from ``seed``."""
    width, base = model.width, model.base_width
    mults = forward_multipliers(table, width, base, heads=model.heads)
    cfg = TransformerConfig(
        vocab_size=vocab_size,
        width=width,
        depth=model.depth,
        heads=model.heads,
        context=model.context,
        block=model.block,
        rope_theta=model.rope_theta,
        readout_mult=mults["readout_mult"],
        attn_scale=mults["attn_scale"],
    )
    net = Transformer(cfg)
    _init(net, table, width, base, model.init_std, model.embedding_std, seed)
    return net


def build_two_layer(
    d_in: int,
    width: int,
    d_out: int,
    bias: bool,
    table: Parametrization,
    base_width: int,
    seed: int,
    init_std: float = 1.0,
) -> TwoLayerNet:
    mults = forward_multipliers(table, width, base_width)
    net = TwoLayerNet(TwoLayerConfig(d_in, width, d_out, bias, mults["second_layer_mult"]))
    _init(net, table, width, base_width, init_std, 1.0, seed)
    return net


def _init(net: nn.Module, table: Parametrization, width: int, base: int, init_std: float, emb_std: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    init_parameters(net, net.roles(), table, width, base, init_std, emb_std, gen)
