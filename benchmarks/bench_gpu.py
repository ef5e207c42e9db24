"""The training engine on the device it is built for, per width of the paper's Llama shape (the
paper preset's llama_adam_lr: depth 4, 8 heads, context 128, batch 128; vocabulary 1,024).

Prints, per width, measured side by side in one process:
  - the engine's step (its precision and compilation on their defaults: bf16 autocast and
    torch.compile on CUDA) against a bare loop of the same model (autocast, compiled, fused Adam):
    their times and ratio;
  - the engine's TFLOP/s against a matrix-product peak measured here (bf16 on CUDA);
  - one EMA point (validation loss and gradient of the EMA weights, and the decomposition, whose
    eigenvalues are computed in a background thread on CUDA) and the EMA points' share of a run at the
    paper preset's cadence, from timed stretches of training with and without them;
  - the eigenvalue work of one point by solver (cuSOLVER, MAGMA) and dtype (float64, float32), with
    the float32 error of Φ against float64 (CUDA only);
and once: the final EMA loss of a short run on the CPU against the device (fp32 and bf16), of a
bf16 against an fp32 run of ``--check-steps`` steps at the first width, and of a run killed after
its first checkpoint and resumed against an uninterrupted one.

    python benchmarks/bench_gpu.py --out results/benchmarks/gpu.json           # a GPU node
    python benchmarks/bench_gpu.py --tiny                                       # a CPU check (CI)

Run with the package importable (the repository's .venv, or PYTHONPATH=workflow).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hptransfer.config import defaults
from hptransfer.config.defaults import deep_merge
from hptransfer.config.load import read_config_file
from hptransfer.config.run import RunConfig
from hptransfer.config.runs import RunKey, format_value
from hptransfer.decomposition.spectra import alignment_operands, eigen_problem
from hptransfer.io import open_dataset, write_bytes, write_text
from hptransfer.models import build_transformer
from hptransfer.optim.schedules import ema_sample_steps
from hptransfer.parametrization.tables import BUILTIN_TABLES
from hptransfer.studies.lm import run_config as lm_run_config
from hptransfer.train.checkpoint import CHECKPOINT_NAME
from hptransfer.train.device import autocast, measured_matmul_flops, resolve_device, synchronize
from hptransfer.train.engine import Run
from hptransfer.train.job import train_run

REPO = Path(__file__).resolve().parents[1]
LR = 0.004


# ------------------------------------------------------------------------------------------ set-up


def paper_study() -> dict:
    """The paper preset's Llama + Adam study block over the LM defaults (read, not validated: the
    preset's corpora are local files a benchmark does not need)."""
    block = read_config_file(REPO / "workflow" / "presets" / "paper.yaml")["studies"]["llama_adam_lr"]
    return deep_merge(defaults.LM_STUDY, block)


def tiny_study() -> dict:
    return deep_merge(
        paper_study(),
        {"model": {"depth": 1, "heads": 2, "context": 16}, "training": {"batch_size": 4, "val_sequences": 4}},
    )


def synthetic_corpus(out: Path, vocab: int, tokens: int = 1 << 20) -> Path:
    """Uniform random tokens in the layout prepare_data writes: the speed of a step does not depend
    on what the tokens say."""
    rng = np.random.default_rng(0)
    for name, size in (("train.bin", tokens), ("val.bin", tokens // 8)):
        write_bytes(rng.integers(0, vocab, size, dtype=np.uint16).tobytes(), out / name)
    write_text(json.dumps({"vocab_size": vocab, "dtype": "uint16", "source": "synthetic"}), out / "meta.json")
    return out


def run_config(study: dict, width: int, **training) -> RunConfig:
    """The run config of one (µP, width, lr) run of ``study`` with its training block overridden."""
    study = deep_merge(
        study,
        {"kind": "lm", "corpus": "c", "hp": "lr", "grid": [LR], "widths": [width], "seeds": [0], "training": training},
    )
    cfg = {
        "studies": {"bench": study},
        "parametrizations": BUILTIN_TABLES,
        "corpora": {"c": {"source": "synthetic", "vocab_size": defaults.CORPORA["shakespeare"]["vocab_size"]}},
    }
    return RunConfig.from_dict(lm_run_config(cfg, RunKey("bench", "mup", width, "lr", format_value(LR), 0)))


def seconds_per_call(fn, device: torch.device, calls: int) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


# -------------------------------------------------------------------------------- measurements


def bare_loop(run: Run, compile_model: bool):
    """Forward, backward and an Adam step of the same model and batches, nothing else: autocast
    under the run's precision, compiled where the engine compiles, fused Adam on CUDA."""
    model = build_transformer(run.cfg.model, run.cfg.parametrization, run.task.meta["vocab_size"], 0).to(run.device)
    forward = torch.compile(model) if compile_model else model
    kernels = {"fused": True} if run.device.type == "cuda" else {"foreach": True}
    opt = torch.optim.Adam([{"params": g["params"], "lr": g["base_lr"]} for g in _groups_of(model, run)], **kernels)
    batches = [run.task.training_batch(s) for s in range(4)]
    state = {"i": 0}

    def step() -> None:
        batch = batches[state["i"] % len(batches)]
        state["i"] += 1
        opt.zero_grad(set_to_none=True)
        with autocast(run.device, run.precision):
            loss = forward(batch[:, :-1], batch[:, 1:])
        loss.backward()
        opt.step()

    return step


def _groups_of(model, run: Run) -> list[dict]:
    by_name = dict(model.named_parameters())
    return [{"params": [by_name[n] for n in g["names"]], "base_lr": g["base_lr"]} for g in run.optimizer.param_groups]


def measure_width(study: dict, width: int, data: Path, device: torch.device, steps: int, cadence: float) -> dict:
    run = Run(run_config(study, width, steps=10**6, checkpoint_every=10**9), data, device)
    state = {"step": 0}

    def engine_step() -> None:
        run.train_step(state["step"])
        state["step"] += 1

    warm = time.perf_counter()
    for _ in range(3):  # compilation, allocator, kernel selection
        engine_step()
    synchronize(device)
    compile_s = time.perf_counter() - warm
    engine = seconds_per_call(engine_step, device, steps)
    bare_step = bare_loop(run, run.compiled.compiled)
    for _ in range(3):
        bare_step()
    bare = seconds_per_call(bare_step, device, steps)
    tokens = run.task.items_per_step
    flops = run.task.flops_per_item(run.model) * tokens
    point = seconds_per_call(lambda: run.evaluate_point(state["step"]), device, 3)
    run.collect_decomposition(wait_all=True)
    share = ema_share(study, width, data, device, cadence, steps)
    out = {
        "width": width,
        "precision": run.precision,
        "compile": run.compiled.status,
        "first_steps_s": compile_s,
        "engine_step_s": engine,
        "bare_step_s": bare,
        "engine_over_bare": bare / engine,
        "engine_tflops": flops / engine / 1e12,
        "ema_point_s": point,
        **share,
    }
    if device.type == "cuda":
        out["eig"] = eig_solvers(run)
    run.close()
    return out


def ema_share(study: dict, width: int, data: Path, device: torch.device, cadence: float, steps: int) -> dict:
    """Wall time of ``steps`` training steps with an EMA point every ``cadence`` steps (the
    decomposition on), against the same steps with EMA points only at both ends."""
    tau = max(1, round(cadence))
    timed = {}
    for name, ema in (
        ("with", {"tau_start": tau, "tau_end": tau}),
        ("without", {"tau_start": steps, "tau_end": steps}),
    ):
        cfg = run_config(study, width, steps=steps, checkpoint_every=10**9, log_every=10**9)
        cfg = replace(cfg, ema=replace(cfg.ema, ramp_steps=0, **ema))
        run = Run(cfg, data, device)
        run.train_step(0)  # compile outside the timing (the step's update is undone by a fresh run)
        run = Run(cfg, data, device)
        run.compiled.first_call = False
        synchronize(device)
        start = time.perf_counter()
        run.fit(data / "unused.pt")
        synchronize(device)
        timed[name] = time.perf_counter() - start
        run.close()
    return {
        "ema_share_at_paper_cadence": max(0.0, 1 - timed["without"] / timed["with"]),
        "stretch_steps": steps,
        "stretch_with_points_s": timed["with"],
        "stretch_without_points_s": timed["without"],
    }


def eig_solvers(run: Run) -> dict:
    """The eigenvalue work of one EMA point by solver and dtype, and float32's error of Φ."""
    grads, _ = run.ema_loss_and_grad()
    deltas = {n: torch.randn_like(g) * 1e-3 for n, g in grads.items()}
    specs = [s for s in run.accumulator.specs if s.kind == "matrix"]
    problems = [eigen_problem(*alignment_operands(grads[s.name], deltas[s.name], s.row)) for s in specs]
    sizes = {p.shape[-1] for p in problems}
    stacks = [torch.stack([p for p in problems if p.shape[-1] == d]) for d in sorted(sizes)]
    reference = [torch.linalg.eigvalsh(s) for s in stacks]
    out = {"matrices": len(problems)}
    for library in ("cusolver", "magma"):
        torch.backends.cuda.preferred_linalg_library(library)
        for dtype in (torch.float64, torch.float32):
            cast = [s.to(dtype) for s in stacks]
            key = f"{library}_{str(dtype).split('.')[-1]}_s"
            out[key] = seconds_per_call(lambda c=cast: [torch.linalg.eigvalsh(s) for s in c], run.device, 3)
    torch.backends.cuda.preferred_linalg_library("default")
    approx = [torch.linalg.eigvalsh(s.float()).double() for s in stacks]
    phi = lambda lams: torch.cat([lam.abs().sort(-1, descending=True).values for lam in lams], -1).cumsum(-1)  # noqa: E731
    ref, got = phi(reference), phi(approx)
    out["float32_phi_max_rel_error"] = float(((got - ref).abs() / ref.abs().clamp_min(1e-300)).max())
    return out


# ------------------------------------------------------------------------------- agreement


def agreement(study: dict, width: int, data: Path, device: torch.device, steps: int, check_steps: int) -> dict:
    """Final EMA losses: CPU fp32 against the device (fp32, bf16); bf16 against fp32 over
    ``check_steps`` steps on the device; a killed-and-resumed device run against an uninterrupted one."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short = run_config(study, width, steps=steps, checkpoint_every=10**9)
        cpu = final_loss(short, data, tmp / "cpu.nc", "cpu", precision="fp32")
        for precision in ("fp32", "bf16"):
            dev = final_loss(short, data, tmp / f"dev_{precision}.nc", device.type, precision=precision)
            out[f"cpu_vs_device_{precision}_rel_diff"] = abs(dev - cpu) / abs(cpu)
        long = run_config(study, width, steps=check_steps, checkpoint_every=10**9)
        fp32 = final_loss(long, data, tmp / "long_fp32.nc", device.type, precision="fp32")
        bf16 = final_loss(long, data, tmp / "long_bf16.nc", device.type, precision="bf16")
        out[f"bf16_vs_fp32_{check_steps}_steps_rel_diff"] = abs(bf16 - fp32) / abs(fp32)
        out.update(kill_and_resume(study, width, data, device, tmp, check_steps))
    return out


def final_loss(cfg: RunConfig, data: Path, out: Path, device: str, **training) -> float:
    cfg = replace(cfg, training=replace(cfg.training, **training))
    return float(train_run(cfg, data, out, device=device).final_loss_ema)


def kill_and_resume(study: dict, width: int, data: Path, device: torch.device, tmp: Path, steps: int) -> dict:
    cfg = run_config(study, width, steps=steps, checkpoint_every=max(1, steps // 4))
    reference = train_run(cfg, data, tmp / "uninterrupted" / "run.nc", device=device.type)
    config = tmp / "run.json"
    config.write_text(cfg.to_json())
    out = tmp / "killed" / "run.nc"
    command = [
        sys.executable,
        "-m",
        "hptransfer",
        "train",
        "--config",
        str(config),
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        device.type,
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (out.parent / CHECKPOINT_NAME).exists() and proc.poll() is None:
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resumed = open_dataset(out)
    a, b = float(reference.final_loss_ema), float(resumed.final_loss_ema)
    return {
        "killed_mid_run": killed,
        "resumed_steps_equal": resumed.sizes["step"] == reference.sizes["step"],
        "resumed_final_loss_rel_diff": abs(a - b) / abs(a),
    }


# ------------------------------------------------------------------------------------- report


def paper_cadence(study: dict) -> tuple[float, int, int]:
    steps = study["training"]["steps"]
    ema = run_config(study, study["widths"][0] if "widths" in study else 128).ema
    points = len(ema_sample_steps(steps, ema)) - 1
    return steps / points, points, steps


def table(rows: list[dict], peak: float) -> str:
    head = (
        f"{'width':>6} {'engine ms':>10} {'bare ms':>8} {'bare/eng':>9} {'TFLOP/s':>8} {'of peak':>8} "
        f"{'EMA pt s':>9} {'EMA share':>10}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['width']:>6} {1e3 * r['engine_step_s']:>10.2f} {1e3 * r['bare_step_s']:>8.2f} "
            f"{r['engine_over_bare']:>9.3f} {r['engine_tflops']:>8.2f} {1e12 * r['engine_tflops'] / peak:>8.1%} "
            f"{r['ema_point_s']:>9.3f} {r['ema_share_at_paper_cadence']:>10.1%}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    ap.add_argument("--stretch", type=int, default=64, help="steps of the EMA-share stretches")
    ap.add_argument("--agreement-steps", type=int, default=60, help="steps of the CPU-vs-device run")
    ap.add_argument("--check-steps", type=int, default=400, help="steps of the bf16-vs-fp32 and resume runs")
    ap.add_argument("--no-agreement", action="store_true", help="skip the agreement and resume checks")
    ap.add_argument("--tiny", action="store_true", help="a minute on a CPU: width 32, depth 1, a few steps")
    ap.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    study = paper_study()
    cadence, points, total = paper_cadence(study)
    if args.tiny:
        study = tiny_study()
        args.widths, args.steps, args.stretch, args.agreement_steps, args.check_steps = [32], 3, 8, 8, 12
    torch.set_num_threads(min(os.cpu_count() or 1, 8))
    peak_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = measured_matmul_flops(device, peak_dtype, size=4096 if device.type == "cuda" else 512)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}, torch {torch.__version__}; {str(peak_dtype).split('.')[-1]} matmul peak "
        f"{peak / 1e12:.1f} TFLOP/s; paper cadence: {points} EMA points in {total} steps (one per {cadence:.2f})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_corpus(Path(tmp) / "corpus", defaults.CORPORA["shakespeare"]["vocab_size"])
        rows = [measure_width(study, w, data, device, args.steps, cadence) for w in args.widths]
        print(table(rows, peak))
        for r in rows:
            if "eig" in r:
                print(f"width {r['width']} eigenvalues of one point: " + json.dumps(r["eig"]))
        result = {
            "device": name,
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
            "matmul_peak_flops": peak,
            "paper_cadence_steps_per_point": cadence,
            "widths": rows,
        }
        if not args.no_agreement:
            result["agreement"] = agreement(study, args.widths[0], data, device, args.agreement_steps, args.check_steps)
            print("agreement: " + json.dumps(result["agreement"]))
    if args.out:
        write_text(json.dumps(result, indent=2) + "\n", args.out)
    return result


if __name__ == "__main__":
    main()
