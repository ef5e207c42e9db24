"""The cost estimate prices every run a config trains, once, with costs measured on this device."""

from __future__ import annotations

import json

import torch
from tiny import REPO

from hptransfer.config.load import load_config, read_config_file
from hptransfer.train import cost as cost_module
from hptransfer.train.cost import Prices, estimate, report, shape_key


def test_estimate_counts_each_run_once_at_its_owner_and_caches_prices(tmp_path, monkeypatch):
    cfg = load_config(read_config_file(REPO / "workflow" / "presets" / "smoke.yaml"), check_data=False)
    calls = []
    monkeypatch.setattr(cost_module, "measure_run", lambda rc, data, device, steps: calls.append(rc) or (0.5, 2.0))
    monkeypatch.setattr(cost_module, "measure_batched", lambda study, width, device, steps: 0.25)
    cache = tmp_path / "costs.json"
    costs = {c.study: c for c in estimate(cfg, Prices(torch.device("cpu"), cache))}
    lm = cfg["studies"]["llama_adam_lr"]
    runs = len(lm["widths"]) * len(lm["grid"]) * len(lm["seeds"])
    assert costs["llama_adam_lr"].jobs == runs
    assert costs["llama_adam_lr"].train_s == runs * lm["training"]["steps"] * 0.5
    assert costs["llama_adam_lr"].points_s == costs["llama_adam_lr"].points * 2.0
    # param_compare's µP runs are llama_adam_lr's: counted there, not twice
    compare = cfg["studies"]["param_compare"]
    non_mup = [p for p in compare["parametrizations"] if p != "mup"]
    assert costs["param_compare"].jobs == len(non_mup) * len(compare["widths"]) * len(compare["grid"]) * len(
        compare["seeds"]
    )
    sphere = cfg["studies"]["sphere"]
    assert costs["sphere"].train_s == len(sphere["widths"]) * sphere["steps"] * 0.25
    # one measurement per model shape (width), not per run; a second estimate measures nothing
    assert (
        len(calls) == len({shape_key(rc) for rc in calls}) == len(json.loads(cache.read_text())) - len(sphere["widths"])
    )
    calls.clear()
    estimate(cfg, Prices(torch.device("cpu"), cache))
    assert calls == []
    text = report(list(costs.values()), "cuda")
    assert "GPU-h" in text and text.splitlines()[-1].startswith("total")


def test_measured_prices_are_positive(tiny_corpus):
    from tiny import tiny_run_config

    step_s, point_s = cost_module.measure_run(tiny_run_config(), tiny_corpus, torch.device("cpu"), 2)
    assert step_s > 0 and point_s > 0
