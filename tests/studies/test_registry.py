"""The registry of study kinds is the one place that says what a kind is: the schema, the loader, the
rules and collect all ask it."""

from __future__ import annotations

import pytest
from tiny import REPO

from hptransfer.config.load import load_config, load_schema, read_config_file
from hptransfer.config.runs import study_run_keys
from hptransfer.studies import KINDS, kind_of, run_config, run_owner, run_paths, study_outputs


def test_every_kind_names_a_schema_part_and_the_schema_knows_every_kind():
    schema = load_schema()
    kinds = schema["properties"]["studies"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(KINDS)
    for kind in KINDS.values():
        part = schema["$defs"][kind.schema]
        allowed = part["properties"]["kind"]
        assert kind.name in allowed.get("enum", [allowed.get("const")]), kind.name


def test_every_kind_is_complete():
    for name, kind in KINDS.items():
        assert kind.name == name
        assert kind.defaults.get("enabled") is True, name
        # trained one job per run, by the `train` rule: it needs a run config and its data
        if kind.trains_per_run:
            assert kind.run_paths is None and kind.data_files and kind.data_dir and kind.collector, name
        assert kind.figures(), f"{name} feeds no figure"


@pytest.fixture(scope="module")
def default_cfg():
    return load_config(read_config_file(REPO / "config.yaml"))


def test_outputs_of_the_default_studies(default_cfg):
    out = {name: study_outputs(default_cfg, name) for name in default_cfg["studies"]}
    assert out["rf_ridge"] == ["results/studies/rf_ridge/rf.nc"]
    assert out["sphere"] == [
        f"results/studies/sphere/{x}" for x in ("sweep.nc", "transfer.nc", "advice.nc", "summary.md")
    ]
    assert "results/studies/llama_adam_lr/advice.nc" in out["llama_adam_lr"]
    assert "results/studies/param_compare/advice.nc" not in out["param_compare"]  # no summary.md either
    assert "results/studies/llama_adam_lr/kappa.nc" in out["llama_adam_lr"]
    assert "results/studies/llama_adam_lr/coordcheck.nc" in out["llama_adam_lr"]  # enabled in config.yaml
    assert {f"results/studies/param_compare/comparison.{x}" for x in ("nc", "md", "csv")} <= set(out["param_compare"])
    assert "results/studies/param_compare/kappa.nc" not in out["param_compare"]


def test_advice_targets_are_the_studys_or_multiples_of_its_largest_width(default_cfg):
    from hptransfer.config.defaults import ADVISE_WIDTH_FACTORS
    from hptransfer.studies import advice_targets

    sphere = default_cfg["studies"]["sphere"]
    assert advice_targets(sphere) == [f * max(sphere["widths"]) for f in ADVISE_WIDTH_FACTORS]
    assert advice_targets({**sphere, "analysis": {"advise_widths": [8192, 1024]}}) == [1024, 8192]


def test_run_paths_follow_the_kind(default_cfg):
    sphere = default_cfg["studies"]["sphere"]
    assert run_paths(default_cfg, "sphere") == [f"results/runs/sphere/mup/n{w}/batch.nc" for w in sphere["widths"]]
    assert run_paths(default_cfg, "rf_ridge") == []
    # a comparison's µP runs are the lm study's: trained once, at the study listed first
    compare = run_paths(default_cfg, "param_compare")
    shared = [p for p in compare if p.startswith("results/runs/llama_adam_lr/")]
    assert shared and all("/mup/" in p for p in shared)
    assert len(compare) == len(list(study_run_keys(default_cfg, "param_compare")))


def test_a_shared_run_has_the_same_config_under_both_studies(default_cfg):
    for key in study_run_keys(default_cfg, "param_compare"):
        owner = run_owner(default_cfg, key)
        assert run_config(default_cfg, key) == run_config(default_cfg, owner)
        assert (owner.study == "llama_adam_lr") == (key.param == "mup")


def test_kind_of_unknown_kind_is_a_key_error():
    with pytest.raises(KeyError):
        kind_of({"kind": "nope"})
