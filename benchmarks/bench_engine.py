"""Training throughput of the engine against a bare PyTorch loop of the same model, side by side.

The bare loop is forward, backward and an Adam step on the same model, batches and learning rates;
the engine adds the parametrization's parameter groups, the schedule, the EMA of all weights and
the bookkeeping (spectra and evaluation points off, as the issue asks). Prints tokens/s of both
and their ratio per width from the median step time of each, the two loops' steps interleaved one
by one (which goes first alternating) so that machine load hits both alike.

    python benchmarks/bench_engine.py --widths 64 128 256 512 --steps 30 --batch 16 --context 64 --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Callable

import numpy as np
import torch

from hptransfer.config.load import load_config
from hptransfer.config.run import RunConfig
from hptransfer.config.runs import RunKey
from hptransfer.data.corpus import prepare_corpus
from hptransfer.studies import run_config
from hptransfer.train.engine import Run
from hptransfer.train.tasks import loss_on, training_batch


def engine_config(width: int, steps: int, batch: int, context: int) -> RunConfig:
    cfg = load_config(
        {
            "corpora": {"c": {"source": "shakespeare", "vocab_size": 1024, "max_train_chars": 300000}},
            "studies": {
                "s": {
                    "kind": "lm",
                    "corpus": "c",
                    "hp": "lr",
                    "grid": [0.004],
                    "widths": [width],
                    "seeds": [0],
                    "model": {"depth": 4, "heads": 4, "context": context, "base_width": 64},
                    "training": {"steps": steps, "batch_size": batch, "checkpoint_every": 10**9},
                    "decomposition": {"enabled": False},
                }
            },
        }
    )
    return run_config(cfg, RunKey("s", "mup", width, "lr", "0.004", 0))


def bare_step(run: Run) -> Callable[[int], None]:
    """One step of the same model and batches with nothing but forward, backward and torch.optim.Adam."""
    model, cfg = run.model, run.cfg
    opt = torch.optim.Adam(
        [{"params": g["params"], "lr": g["base_lr"]} for g in run.optimizer.param_groups],
        betas=(0.9, 0.999),
        foreach=True,
    )

    def step(s: int) -> None:
        batch = training_batch(run.task.train_tokens, cfg.seed, s, cfg.training.batch_size, cfg.model.context)
        opt.zero_grad(set_to_none=True)
        loss_on(model, batch).backward()
        opt.step()

    return step


def step_times(run: Run, steps: int, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of every bare and engine step, interleaved step by step with the order alternating:
    on a shared machine load changes within seconds, so only neighbouring steps see the same load."""
    loops = {"bare": bare_step(run), "engine": run.train_step}
    times: dict[str, list[float]] = {"bare": [], "engine": []}
    for i in range(repeats * steps):
        for name in ("bare", "engine") if i % 2 else ("engine", "bare"):
            t0 = time.perf_counter()
            loops[name](i % steps)
            times[name].append(time.perf_counter() - t0)
    return np.asarray(times["bare"]), np.asarray(times["engine"])


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
        prepare_corpus(
            {"source": "shakespeare", "vocab_size": 1024, "val_works": ["tempest"], "max_train_chars": 300000}, data
        )
        print(f"{'width':>6} {'bare tok/s':>11} {'engine tok/s':>13} {'engine/bare':>12}")
        for width in args.widths:
            run = Run(engine_config(width, args.steps, args.batch, args.context), data, torch.device("cpu"))
            step_times(run, 3, 1)  # warm-up: allocator, kernels
            bare, engine = step_times(run, args.steps, args.repeats)
            # medians of step times: a step slowed by a burst of load elsewhere does not count
            b, e = args.batch * args.context / np.median(bare), args.batch * args.context / np.median(engine)
            print(f"{width:>6} {b:>11.0f} {e:>13.0f} {e / b:>12.3f}")


if __name__ == "__main__":
    main()
