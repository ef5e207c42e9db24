"""Cost of the alignment spectra (one SpectrumAccumulator.update) against one training step.

For the Llama-style 4-layer block (8 heads, SwiGLU 4n, vocabulary V = 1024, context 128) at each
width, this measures in the same run and on the same device:

* one training step: forward + backward + Adam step on a (batch × 128)-token batch;
* one `update()` of the accumulator: every matrix of the model decomposed at one EMA point
  (per layer q, k, v, o n×n, gate/up 4n×n, down n×4n in the row version; embedding and readout
  V×n), all on the same device, float64;
* the same spectra computed one matrix at a time (`alignment_eigenvalues` in a loop), to show what
  batching the eigendecompositions buys.

The model is the project's `hptransfer.models.Transformer` when importable, else a stand-in with
the same parameter shapes defined below. Usage:

    PYTHONPATH=workflow .venv/bin/python benchmarks/bench_spectra.py [--widths 64 128 256 512]
        [--devices cpu cuda] [--batch 8] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from hptransfer.decomposition.accumulator import SpectrumAccumulator, param_specs
from hptransfer.decomposition.spectra import alignment_eigenvalues

VOCAB, DEPTH, HEADS, CONTEXT = 1024, 4, 8, 128


# ------------------------------------------------------------------ stand-in model (same shapes)


class _StandInBlock(nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.attn_norm, self.mlp_norm = nn.RMSNorm(n), nn.RMSNorm(n)
        self.q, self.k, self.v, self.o = (nn.Linear(n, n, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(n, 4 * n, bias=False), nn.Linear(n, 4 * n, bias=False)
        self.down = nn.Linear(4 * n, n, bias=False)

    def forward(self, x):
        b, t, n = x.shape
        h = self.attn_norm(x)
        q, k, v = (p(h).view(b, t, HEADS, -1).transpose(1, 2) for p in (self.q, self.k, self.v))
        x = x + self.o(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, n))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class _StandIn(nn.Module):
    """Llama-shaped stand-in (no rotary embedding: it costs O(tokens·n), not a matrix multiply)."""

    def __init__(self, n: int):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, n)
        self.blocks = nn.ModuleList(_StandInBlock(n) for _ in range(DEPTH))
        self.norm = nn.RMSNorm(n)
        self.lm_head = nn.Linear(n, VOCAB, bias=False)

    def forward(self, idx, targets):
        x = self.tok_emb(idx)
        for blk in self.blocks:
            x = blk(x)
        return F.cross_entropy(self.lm_head(self.norm(x)).flatten(0, 1), targets.flatten())


def build_model(width: int) -> tuple[nn.Module, str]:
    try:
        from hptransfer.models import Transformer, TransformerConfig

        cfg = TransformerConfig(vocab_size=VOCAB, width=width, depth=DEPTH, heads=HEADS, context=CONTEXT, block="llama")
        return Transformer(cfg), "hptransfer.models.Transformer"
    except (ImportError, TypeError, AttributeError):
        return _StandIn(width), "stand-in"


# ------------------------------------------------------------------ timing helpers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels, LAPACK workspaces
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _training_step(model, opt, idx, targets):
    def step():
        opt.zero_grad(set_to_none=True)
        model(idx, targets).backward()
        opt.step()

    return step


def _grads_and_deltas(model, opt, idx, targets):
    """A real (g, δw) pair: the gradient of one batch and the Adam step it produced."""
    opt.zero_grad(set_to_none=True)
    model(idx, targets).backward()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    deltas = {n: p.detach() - before[n] for n, p in model.named_parameters()}
    return grads, deltas


def bench_width(width: int, device: torch.device, batch: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model, source = build_model(width)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    idx = torch.randint(0, VOCAB, (batch, CONTEXT), device=device)
    targets = torch.randint(0, VOCAB, (batch, CONTEXT), device=device)

    t_step = _median_seconds(_training_step(model, opt, idx, targets), device, repeats)

    grads, deltas = _grads_and_deltas(model, opt, idx, targets)
    named = [(n, p) for n, p in model.named_parameters()]
    specs = param_specs(named, width)
    acc = SpectrumAccumulator(width, specs, topk=[min(60, width)])
    t_update = _median_seconds(lambda: acc.update(grads, deltas), device, repeats)

    matrices = [s for s in specs if s.kind == "matrix"]

    def one_by_one():
        for s in matrices:
            alignment_eigenvalues(grads[s.name], deltas[s.name], s.row).cumsum(0)

    t_loop = _median_seconds(one_by_one, device, repeats)

    return {
        "width": width,
        "device": str(device),
        "source": source,
        "matrices": len(matrices),
        "step": t_step,
        "update": t_update,
        "loop": t_loop,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    ap.add_argument("--batch", type=int, default=8, help="sequences per training step (context 128)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (shared machine: 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])

    print(
        f"# torch {torch.__version__}, {args.threads} CPU thread(s), batch {args.batch}×{CONTEXT} tokens, "
        f"V={VOCAB}, depth {DEPTH}, heads {HEADS}; medians of {args.repeats}"
    )
    header = (
        f"{'device':>6} {'width':>5} {'#mat':>4} {'train step':>11} {'update':>9} {'update/step':>11} "
        f"{'/(2·step)':>9} {'/(10·step)':>10} {'1-by-1 loop':>11} {'batching gain':>13}"
    )
    print(header)
    for dev in devices:
        device = torch.device(dev)
        for width in args.widths:
            r = bench_width(width, device, args.batch, args.repeats)
            ratio = r["update"] / r["step"]
            print(
                f"{dev:>6} {width:>5} {r['matrices']:>4} {r['step'] * 1e3:>9.1f}ms {r['update'] * 1e3:>7.1f}ms "
                f"{ratio:>11.3f} {ratio / 2:>9.3f} {ratio / 10:>10.3f} {r['loop'] * 1e3:>9.1f}ms "
                f"{r['loop'] / r['update']:>12.2f}×",
                flush=True,
            )
    print(
        f"# model: {r['source']}. update/(τ·step) is the amortised overhead at EMA subsampling τ "
        "(2 early, 10 after 2000 steps); it excludes the validation gradient the loop also needs."
    )


if __name__ == "__main__":
    main()
