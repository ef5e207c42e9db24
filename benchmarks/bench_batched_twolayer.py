"""Throughput of batched two-layer training vs training the same models one at a time.

Both are measured in the same run, on the same machine state, with the same models
(the one-at-a-time side trains a subset and reports a rate, since its cost is per model):

    PYTHONPATH=workflow .venv/bin/python benchmarks/bench_batched_twolayer.py [--device cuda] [--width 512]

Prints models·steps/s for each and the ratio batched / one-at-a-time; then the time of one
batched step's gradients by hand (what training uses) and by autograd on the same stacked
parameters, and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hptransfer.synthetic import twolayer
from hptransfer.train import batched


def _timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _compare_gradients(args, cfg: dict, lrs, seeds) -> None:
    """Seconds per step of hand-written vs autograd gradients of the stacked model, side by side."""
    task = twolayer.make_task(twolayer.merge_task_config(cfg))
    model = batched.StackedTwoLayer(task.d, args.width, seeds, len(lrs), torch.float32, args.device)
    x, y = batched.seed_batches(task, seeds, 0, args.batch, torch.float32, args.device)
    hand = lambda: model.losses_and_gradients(task, x, y)  # noqa: E731
    auto = lambda: batched.autograd_losses_and_gradients(model, task, x, y)  # noqa: E731
    hand(), auto()
    repeats = max(1, args.steps // 20)
    hand_s = _timed(lambda: [hand() for _ in range(repeats)]) / repeats
    auto_s = _timed(lambda: [auto() for _ in range(repeats)]) / repeats
    print(
        f"gradients by hand: {hand_s * 1e3:8.1f} ms/step   by autograd: {auto_s * 1e3:8.1f} ms/step   "
        f"ratio autograd / hand: {auto_s / hand_s:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sphere", choices=["sphere", "kindex"])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--lrs", type=int, default=8, help="number of learning rates")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--single-models", type=int, default=4, help="models trained alone for the reference rate")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # A small validation set logged only at the start and the end: this measures training.
    cfg = {"task": args.task, "val_size": 1024, "n_log": 2}
    lrs = list(np.geomspace(1e-4, 1e-2, args.lrs))
    seeds = list(range(args.seeds))
    n_models = len(lrs) * len(seeds)

    # Warm-up (allocator, kernels) so neither side pays first-call costs.
    batched.train_batched(cfg, args.width, lrs[:2], seeds[:1], 3, args.batch, device=args.device)
    batched.train_single(cfg, args.width, lrs[0], seeds[0], 3, args.batch, device=args.device)

    batched_s = _timed(
        lambda: batched.train_batched(cfg, args.width, lrs, seeds, args.steps, args.batch, device=args.device)
    )
    pairs = [(lr, s) for s in seeds for lr in lrs][: args.single_models]
    single_s = _timed(
        lambda: [
            batched.train_single(cfg, args.width, lr, s, args.steps, args.batch, device=args.device) for lr, s in pairs
        ]
    )

    batched_rate = n_models * args.steps / batched_s
    single_rate = len(pairs) * args.steps / single_s
    print(
        f"task={args.task} width={args.width} batch={args.batch} steps={args.steps} device={args.device} "
        f"threads={args.threads}"
    )
    print(f"batched      : {n_models:3d} models  {batched_s:8.2f} s  {batched_rate:10.1f} model-steps/s")
    print(f"one at a time: {len(pairs):3d} models  {single_s:8.2f} s  {single_rate:10.1f} model-steps/s")
    print(f"ratio batched / one-at-a-time: {batched_rate / single_rate:.2f}x")
    _compare_gradients(args, cfg, lrs, seeds)


if __name__ == "__main__":
    main()
