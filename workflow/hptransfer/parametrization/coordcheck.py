"""Coordinate check: do activations and their updates stay Θ(1) as the width grows?

The test of a parametrization popularised by the `mup` package (Yang et al., Tensor Programs V,
Fig. 5): train the same small Transformer at several widths for a few steps with one learning rate and
record, per layer and step, the root-mean-square size of

* the layer's output on a fixed probe batch (``activation_rms``), and
* the change of that output since initialisation (``change_rms``), which is what one optimizer
  update does to the layer's features.

Under µP both stay width-independent (a fitted log-log slope against width of ≈ 0) once training has
started; under the standard parametrization with Adam one update of a fan-in-n matrix moves its output
∝ n (slope ≥ 1 per layer, compounding across layers), which is why SP's optimal learning rate shrinks
with width. Measured numbers and tolerances: tests/parametrization/test_tables_and_models.py.

Layers (forward hooks, nothing in the model changes):

* ``embedding``: the token embedding output;
* ``block{i}.attn`` / ``block{i}.mlp``: the residual branches (attention and MLP sublayer outputs);
* ``block{i}``: the residual stream after block i;
* ``logits``: the model output, readout multiplier included.

Step 0 is the initialisation (``change_rms`` is 0 there). The logits at initialisation are *not*
width-independent under µP: the 1/m readout multiplier makes them shrink ∝ 1/m, like the zero readout
of Tensor Programs V; they become Θ(1) as soon as the first update has been applied.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Callable, Sequence

import numpy as np
import torch
import xarray as xr

from ..config import defaults
from ..config.run import Optimizer, Parametrization, TransformerModel
from ..models import build_transformer
from ..optim.factory import build_optimizer
from .apply import build_param_groups
from .tables import BUILTIN_TABLES

# the engine's optimizer defaults at the check's own learning rate (a study passes its optimizer)
OPTIMIZER_DEFAULTS = {**defaults.OPTIMIZER, "lr": 1e-2, "adam_lr": 1e-2}


def markov_tokens(vocab: int, length: int, seed: int = 0, concentration: float = 0.1) -> np.ndarray:
    """A learnable synthetic token stream: a first-order Markov chain with sparse random transitions."""
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.full(vocab, concentration), size=vocab)
    cum = np.cumsum(trans, axis=1)
    u = rng.random(length)
    out = np.empty(length, dtype=np.int64)
    state = int(rng.integers(vocab))
    for i in range(length):
        state = min(int(np.searchsorted(cum[state], u[i])), vocab - 1)
        out[i] = state
    return out


def _batch(tokens: np.ndarray, rng: np.random.Generator, batch: int, context: int) -> torch.Tensor:
    starts = rng.integers(0, len(tokens) - context - 1, size=batch)
    return torch.from_numpy(np.stack([tokens[s : s + context + 1] for s in starts]).astype(np.int64))


def _layer_names(depth: int) -> list[str]:
    names = ["embedding"]
    for i in range(depth):
        names += [f"block{i}.attn", f"block{i}.mlp", f"block{i}"]
    return names + ["logits"]


def _hooked_modules(model) -> dict[str, torch.nn.Module]:
    mods = {"embedding": model.tok_emb, "logits": model}
    for i, block in enumerate(model.blocks):
        mods[f"block{i}.attn"] = block.attn
        mods[f"block{i}.mlp"] = block.mlp
        mods[f"block{i}"] = block
    return mods


@torch.no_grad()
def _layer_outputs(model, probe: torch.Tensor) -> dict[str, torch.Tensor]:
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        mod.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().clone()))
        for name, mod in _hooked_modules(model).items()
    ]
    try:
        model(probe[:, :-1])
    finally:
        for h in handles:
            h.remove()
    return outputs


def _rms(x: torch.Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt())


def coordinate_check(
    table: str | dict,
    widths: Sequence[int],
    steps: int = 10,
    lr: float = 1e-2,
    seed: int = 0,
    *,
    n_seeds: int = 1,
    optimizer: str | dict = "adam",
    base_width: int | None = None,
    block: str = "llama",
    depth: int = 2,
    heads: int = 4,
    context: int = 16,
    batch: int = 16,
    vocab: int = 64,
    tokens: np.ndarray | None = None,
    threads: int | None = None,
    model_options: dict | None = None,
) -> xr.Dataset:
    """Per-layer RMS of activations and of their change since init, over widths and steps.

    table: a built-in parametrization name (``sp``, ``mup``, ``adaptive``) or a table dict.
    widths: model widths (each divisible by ``heads`` with an even head dimension).
    steps: optimizer steps; measurements are taken at steps 0 (init) … ``steps``.
    lr: peak learning rate (constant schedule, no warmup), scaled per role by the table.
    seed, n_seeds: seeds ``seed … seed + n_seeds − 1`` (initialisation and batches); the RMS values are
        averaged over seeds (in log space, i.e. a geometric mean) to reduce the noise of small widths.
    optimizer: optimizer name or a partial optimizer block (as in a study's ``optimizer``).
    base_width: the parametrization's base width (default: the smallest width).
    tokens: a 1-D token stream to train on (default: a synthetic Markov chain over ``vocab`` tokens);
        its vocabulary is ``max(tokens) + 1`` (at least ``vocab``).
    model_options: ``init_std``, ``embedding_std``, ``rope_theta`` of a study's model block (default 1, 1, 1e4).

    Returns a Dataset with ``activation_rms(width, step, layer)`` and ``change_rms(width, step, layer)``
    (float64) and ``loss(width, step)`` (training loss of the batch at each step, seed mean).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    name = table if isinstance(table, str) else table.get("name", "custom")
    table = Parametrization.from_dict(BUILTIN_TABLES[table] if isinstance(table, str) else table, "table")
    widths = sorted(int(w) for w in widths)
    base_width = int(base_width or widths[0])
    opt = Optimizer.from_dict(
        {**OPTIMIZER_DEFAULTS, **({"name": optimizer} if isinstance(optimizer, str) else optimizer), "lr": float(lr)},
        "optimizer",
    )
    if tokens is None:
        tokens = markov_tokens(vocab, 20_000, seed=12345)
    tokens = np.asarray(tokens, dtype=np.int64)
    vocab = max(int(vocab), int(tokens.max()) + 1)
    layers = _layer_names(depth)

    act = np.zeros((len(widths), steps + 1, len(layers)))
    chg = np.zeros_like(act)
    loss = np.zeros((len(widths), steps + 1))
    model_block = {"init_std": 1.0, "embedding_std": 1.0, "rope_theta": 1e4, **(model_options or {})}
    for s in range(seed, seed + n_seeds):
        probe = _batch(tokens, np.random.default_rng([s, 2**31 - 1]), batch, context)
        for wi, width in enumerate(widths):
            model_cfg = TransformerModel(
                width=width,
                depth=depth,
                base_width=base_width,
                base_depth=depth,
                block=block,
                heads=heads,
                context=context,
                **model_block,
            )
            model = build_transformer(model_cfg, table, vocab, s)
            groups = build_param_groups(
                model.named_parameters(), model.roles(), table, opt, width, base_width, depth, depth
            )
            optim = build_optimizer(opt, groups, width, s)
            rng = np.random.default_rng([s, width])
            next_batch = partial(_batch, tokens, rng, batch, context)
            log_act, log_chg, losses = _trajectory(model, optim, probe, next_batch, layers, steps)
            # seed means in log space (a geometric mean of the RMS values)
            act[wi] += log_act / n_seeds
            chg[wi] += log_chg / n_seeds
            loss[wi] += losses / n_seeds
    attrs = {
        "parametrization": name,
        "optimizer": opt.name,
        "lr": float(lr),
        "base_width": base_width,
        "block": block,
        "depth": depth,
        "heads": heads,
        "seed": seed,
        "n_seeds": n_seeds,
    }
    return _coordcheck_dataset(np.exp(act), np.exp(chg), loss, widths, layers, attrs)


def _trajectory(model, optim, probe: torch.Tensor, next_batch: Callable[[], torch.Tensor], layers, steps: int):
    """One model trained ``steps`` steps on ``next_batch()``: at steps 0 … ``steps``, the log RMS of each
    layer's output on ``probe`` and of its change since initialisation (−inf for none), and the loss
    of the step's batch. Arrays (steps + 1, layers), (steps + 1, layers), (steps + 1)."""
    log_act = np.zeros((steps + 1, len(layers)))
    log_chg = np.zeros_like(log_act)
    losses = np.zeros(steps + 1)
    init = _layer_outputs(model, probe)
    for t in range(steps + 1):
        out = init if t == 0 else _layer_outputs(model, probe)
        for li, layer in enumerate(layers):
            log_act[t, li] = np.log(_rms(out[layer]))
            diff = _rms(out[layer] - init[layer])
            log_chg[t, li] = np.log(diff) if diff > 0 else -np.inf
        tokens_t = next_batch()
        optim.zero_grad(set_to_none=True)
        batch_loss = model(tokens_t[:, :-1], tokens_t[:, 1:])
        losses[t] = float(batch_loss.detach())
        if t < steps:
            batch_loss.backward()
            optim.step()
    return log_act, log_chg, losses


def _coordcheck_dataset(act, chg, loss, widths, layers, attrs: dict) -> xr.Dataset:
    return xr.Dataset(
        {
            "activation_rms": (
                ("width", "step", "layer"),
                act,
                {"long_name": "RMS of the layer output on a fixed probe batch", "units": "1"},
            ),
            "change_rms": (
                ("width", "step", "layer"),
                chg,
                {"long_name": "RMS of the change of the layer output since initialisation", "units": "1"},
            ),
            "loss": (
                ("width", "step"),
                loss,
                {"long_name": "training loss of the step's batch", "units": "nats/token"},
            ),
        },
        coords={
            "width": ("width", np.asarray(widths, dtype=np.int64), {"long_name": "width n", "units": "1"}),
            "step": ("step", np.arange(loss.shape[1]), {"long_name": "optimizer steps done", "units": "steps"}),
            "layer": ("layer", np.asarray(layers, dtype=object), {"long_name": "layer (module name)", "units": "1"}),
        },
        attrs=attrs,
    )


def fitted_slopes(ds: xr.Dataset) -> xr.Dataset:
    """Least-squares slope of log(RMS) against log(width), per layer and step.

    Returns ``activation_slope(step, layer)`` and ``change_slope(step, layer)``; a slope is NaN where
    an RMS is zero or not finite (the change at step 0, a blown-up run).
    """
    x = np.log(ds["width"].values.astype(np.float64))
    x = x - x.mean()

    def slope(da: xr.DataArray) -> xr.DataArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(da.transpose("width", ...).values)
        ok = np.isfinite(y).all(axis=0)
        y = np.where(np.isfinite(y), y, 0.0)
        b = np.tensordot(x, y - y.mean(axis=0), axes=(0, 0)) / (x @ x)
        b = np.where(ok, b, np.nan)
        dims = [d for d in da.transpose("width", ...).dims if d != "width"]
        return xr.DataArray(
            b,
            dims=dims,
            coords={d: ds[d] for d in dims},
            attrs={"long_name": f"least-squares slope of log {da.name} against log width", "units": "1"},
        )

    return xr.Dataset(
        {"activation_slope": slope(ds["activation_rms"]), "change_slope": slope(ds["change_rms"])}, attrs=dict(ds.attrs)
    )


# The study's training stream, cut to its first tokens: a few steps of small batches need no more,
# and converting a WikiText-scale memmap whole to int64 would take gigabytes.
STUDY_TOKENS = 1 << 20
MODEL_OPTIONS = ("init_std", "embedding_std", "rope_theta")


def study_coordcheck(settings: dict, tokens: np.ndarray, vocab: int, threads: int | None = None) -> xr.Dataset:
    """The coordinate check of an LM study (``settings`` from :func:`hptransfer.studies.lm.coordcheck_settings`)
    on its training tokens: :func:`coordinate_check` per parametrization, stacked along
    ``parametrization``, with the :func:`fitted_slopes` beside the sizes so a figure needs no torch."""
    model = settings["model"]
    checks = []
    for table in settings["tables"].values():
        ds = coordinate_check(
            table,
            settings["widths"],
            settings["steps"],
            settings["lr"],
            settings["seed"],
            n_seeds=settings["seeds"],
            optimizer=settings["optimizer"],
            base_width=model["base_width"],
            block=model["block"],
            depth=model["depth"],
            heads=model["heads"],
            context=model["context"],
            batch=settings["batch_size"],
            vocab=vocab,
            tokens=np.asarray(tokens[:STUDY_TOKENS]),
            threads=threads,
            model_options={k: model[k] for k in MODEL_OPTIONS if k in model},
        )
        checks.append(ds.merge(fitted_slopes(ds)))
    names = list(settings["tables"])
    out = xr.concat(checks, dim="parametrization", combine_attrs="drop_conflicts")
    out = out.assign_coords(
        parametrization=(
            "parametrization",
            np.asarray(names, dtype=object),
            {"long_name": "parametrization (scheme)", "units": "1"},
        )
    )
    out.attrs["config"] = json.dumps(settings, sort_keys=True, default=float)  # what produced it
    return out
