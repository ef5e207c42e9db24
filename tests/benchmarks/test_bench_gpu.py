"""The GPU benchmark runs end to end on a CPU at tiny sizes (so it cannot rot between the sessions
that have a GPU to run it on) and reports every figure the docs quote."""

from __future__ import annotations

import importlib.util
import json

from tiny import REPO


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_gpu_tiny_on_a_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    result = load_benchmark().main(["--tiny", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    (row,) = result["widths"]
    assert row["width"] == 32 and row["precision"] == "fp32" and row["compile"] == "off"
    for key in ("engine_step_s", "bare_step_s", "engine_tflops", "ema_point_s"):
        assert row[key] > 0, key
    assert 0 <= row["ema_share_at_paper_cadence"] < 1
    assert 7 < result["paper_cadence_steps_per_point"] < 8.5  # the paper preset: 927 points in 7185 steps
    agreement = result["agreement"]
    assert agreement["cpu_vs_device_fp32_rel_diff"] == 0.0  # the device is the CPU here
    assert agreement["resumed_steps_equal"] and agreement["resumed_final_loss_rel_diff"] == 0.0
