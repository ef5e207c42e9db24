"""Training throughput of the engine against a bare PyTorch loop of the same model, side by side.

The bare loop is forward, backward and an Adam step on the same model, batches and learning rates;
the engine adds the parametrization's parameter groups, the schedule, the EMA of all weights and
the bookkeeping (spectra and evaluation points off, as the issue asks). Prints tokens/s of both
and their ratio per width, measured alternately in one run so that machine load hits both alike.

    python benchmarks/bench_engine.py --widths 64 128 256 512 --steps 30 --threads 1
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from hptransfer.config import RunKey, load_config, run_config
from hptransfer.data import prepare_corpus
from hptransfer.train import Run, loss_on, training_batch


def engine_config(width: int, steps: int, batch: int, context: int) -> dict:
    cfg = load_config({
        "corpora": {"c": {"source": "shakespeare", "vocab_size": 1024, "max_train_chars": 300000}},
        "studies": {"s": {"kind": "lm", "corpus": "c", "hp": "lr", "grid": [0.004], "widths": [width],
                          "seeds": [0], "model": {"depth": 4, "heads": 4, "context": context, "base_width": 64},
                          "training": {"steps": steps, "batch_size": batch, "checkpoint_every": 10**9},
                          "decomposition": {"enabled": False}}},
    })
    return run_config(cfg, RunKey("s", "mup", width, "lr", "0.004", 0))


def time_engine(run: Run, steps: int) -> float:
    t0 = time.perf_counter()
    for step in range(steps):
        run.train_step(step)
    return time.perf_counter() - t0


def time_bare(run: Run, steps: int) -> float:
    """The same model and batches with nothing but forward, backward and torch.optim.Adam."""
    model = run.model
    opt = torch.optim.Adam([{"params": g["params"], "lr": g["base_lr"]} for g in run.optimizer.param_groups],
                           betas=(0.9, 0.999), foreach=True)
    cfg = run.cfg
    t0 = time.perf_counter()
    for step in range(steps):
        batch = training_batch(run.train_tokens, cfg["seed"], step, cfg["training"]["batch_size"],
                               cfg["model"]["context"])
        opt.zero_grad(set_to_none=True)
        loss_on(model, batch).backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as data:
        prepare_corpus({"source": "shakespeare", "vocab_size": 1024, "val_works": ["tempest"],
                        "max_train_chars": 300000}, data)
        print(f"{'width':>6} {'bare tok/s':>11} {'engine tok/s':>13} {'engine/bare':>12}")
        for width in args.widths:
            run = Run(engine_config(width, args.steps, args.batch, args.context), data, torch.device("cpu"))
            time_bare(run, 3)  # warm-up: allocator, kernels
            bare, engine = [], []
            for _ in range(args.repeats):  # alternate, so load drifts hit both
                bare.append(time_bare(run, args.steps))
                engine.append(time_engine(run, args.steps))
            tokens = args.steps * args.batch * args.context
            b, e = tokens / np.median(bare), tokens / np.median(engine)
            print(f"{width:>6} {b:>11.0f} {e:>13.0f} {e / b:>12.3f}")


if __name__ == "__main__":
    main()
