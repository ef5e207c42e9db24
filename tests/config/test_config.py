"""Configuration: schema validation with key-naming errors, defaults, canonical paths, run sharing."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import yaml
from tiny import REPO, TINY_STUDY, raw_config
from workflow_utils import placeholder_paper_data

from hptransfer.config.defaults import deep_merge
from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config, read_config_file
from hptransfer.config.runs import RunKey, format_value, grid_value, study_run_keys
from hptransfer.studies import run_config, run_owner


def _named(cfg: dict, study_name: str = "llama_adam_lr") -> dict:
    """Rename the tiny study so that messages can be compared with the documented form."""
    cfg["studies"] = {study_name: cfg["studies"].pop("s")}
    return cfg


def _error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return str(info.value)


# ------------------------------------------------------------------------- invalid configs


def _set(path: str, value):
    """A mutation that sets a dotted key path (study name `S`) in a raw config."""

    def mutate(cfg):
        node = cfg
        parts = path.replace("S", "llama_adam_lr").split(".")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value

    return mutate


BAD = [
    # (mutation, key path that the message must name, a fragment that says what is wrong)
    (_set("bogus", 1), "bogus", "unknown key"),
    (_set("studies.S.bogus", 1), "studies.llama_adam_lr.bogus", "unknown key"),
    (_set("studies.S.training.bogus", 1), "studies.llama_adam_lr.training.bogus", "unknown key"),
    (_set("studies.S.training.schedule.bogus", 1), "studies.llama_adam_lr.training.schedule.bogus", "unknown key"),
    (_set("studies.S.model.bogus", 1), "studies.llama_adam_lr.model.bogus", "unknown key"),
    (_set("corpora.tiny.bogus", 1), "corpora.tiny.bogus", "unknown key"),
    (_set("studies.S.widths", ["a"]), "studies.llama_adam_lr.widths[0]", "integer"),
    (_set("studies.S.training.steps", "10"), "studies.llama_adam_lr.training.steps", "integer"),
    (_set("studies.S.training.keep_checkpoint", "yes"), "studies.llama_adam_lr.training.keep_checkpoint", "boolean"),
    (_set("studies.S.widths", [0]), "studies.llama_adam_lr.widths[0]", "minimum"),
    (_set("studies.S.widths", [16, -32]), "studies.llama_adam_lr.widths[1]", "minimum"),
    (_set("studies.S.grid", []), "studies.llama_adam_lr.grid", "must not be empty"),
    (_set("studies.S.widths", []), "studies.llama_adam_lr.widths", "must not be empty"),
    (_set("studies.S.seeds", []), "studies.llama_adam_lr.seeds", "must not be empty"),
    (_set("studies.S.optimizer.lr", 0), "studies.llama_adam_lr.optimizer.lr", "minimum"),
    (_set("studies.S.optimizer.lr", -1e-3), "studies.llama_adam_lr.optimizer.lr", "minimum"),
    (_set("studies.S.grid", [0.01, 0.0]), "studies.llama_adam_lr.grid[1]", "minimum"),
    (_set("studies.S.grid", [0.01, -0.02]), "studies.llama_adam_lr.grid[1]", "minimum"),
    (_set("studies.S.corpus", "nope"), "studies.llama_adam_lr.corpus", "unknown corpus 'nope'"),
    (
        _set("studies.S.parametrizations", ["mup", "nope"]),
        "studies.llama_adam_lr.parametrizations",
        "unknown table 'nope'",
    ),
    (
        _set("studies.S.widths", [16, 15]),
        "studies.llama_adam_lr.widths[1]",
        "not divisible by studies.llama_adam_lr.model.heads = 2",
    ),
    (_set("studies.S.widths", [16, 18]), "studies.llama_adam_lr.widths[1]", "odd head dimension"),
    (_set("studies.S.kind", "nope"), "studies.llama_adam_lr.kind", "is not one of"),
    (_set("studies.S.optimizer.name", "rmsprop"), "studies.llama_adam_lr.optimizer.name", "is not one of"),
    (
        _set("parametrizations", {"t": {"roles": {"hidden": {"init": 0.5}, "bogus": {}}}}),
        "parametrizations.t.roles.bogus",
        "unknown key",
    ),
    (
        _set("parametrizations", {"t": {"roles": {"hidden": {"lr": {"adamw": 1.0}}}}}),
        "parametrizations.t.roles.hidden.lr.adamw",
        "unknown key",
    ),
    # the tiny study trains 30 steps and records no intermediate analysis step
    (
        _set("studies.S.analysis", {"step": 20}),
        "studies.llama_adam_lr.analysis.step",
        "add it to studies.llama_adam_lr.decomposition.analysis_steps",
    ),
    (
        _set("studies.S.analysis", {"step": 31}),
        "studies.llama_adam_lr.analysis.step",
        "after the end of training (training.steps = 30)",
    ),
    (
        _set("studies.S.analysis", {"kappa": {"analysis_step": 20}}),
        "studies.llama_adam_lr.analysis.kappa.analysis_step",
        "not recorded by the runs",
    ),
    (_set("studies.S.analysis", {"step": 0}), "studies.llama_adam_lr.analysis.step", "minimum"),
    (
        _set("studies.S.optimizer.rank_cap", 16),
        "studies.llama_adam_lr.optimizer.rank_cap",
        "only Dion's bounded rank rule has a cap (optimizer 'adam'",
    ),
    (
        _set("studies.S.optimizer", {"name": "dion", "rank_rule": "proportional", "rank_cap": 16}),
        "studies.llama_adam_lr.optimizer.rank_cap",
        "rank_rule 'proportional'",
    ),
    (
        _set("studies.S.optimizer", {"name": "dion", "rank_cap": 0}),
        "studies.llama_adam_lr.optimizer.rank_cap",
        "minimum",
    ),
    # values that passed the schema and failed later (MissingInputException, PeriodicWildcardError,
    # a run config that refuses 16.0, an analysis that fails after every run has trained)
    (_set("studies.S.grid", [float("nan"), 0.01]), "studies.llama_adam_lr.grid[0]", "not a finite number"),
    (_set("studies.S.grid", [float("inf"), 0.01]), "studies.llama_adam_lr.grid[0]", "not a finite number"),
    (_set("studies.S.grid", [1e308, 0.01]), "studies.llama_adam_lr.grid[0]", "beyond the largest magnitude"),
    (_set("studies.S.grid", [0.01, 5e6]), "studies.llama_adam_lr.grid[1]", "maximum"),
    (_set("studies.S.widths", [16, 1e12]), "studies.llama_adam_lr.widths[1]", "integer"),
    (_set("studies.S.widths", [16, 2**30]), "studies.llama_adam_lr.widths[1]", "maximum"),
    (_set("studies.S.widths", [16.0]), "studies.llama_adam_lr.widths[0]", "integer"),
    (_set("studies.S.training.steps", 1e15), "studies.llama_adam_lr.training.steps", "beyond the largest magnitude"),
    (_set("studies.S.training.steps", 10**9), "studies.llama_adam_lr.training.steps", "maximum"),
    (_set("studies.S.seeds", [0, -1]), "studies.llama_adam_lr.seeds[1]", "minimum"),
    (
        _set("studies.S.ema", {"window_start": 20, "window_end": 10}),
        "studies.llama_adam_lr.ema.window_start",
        "is above studies.llama_adam_lr.ema.window_end = 10",
    ),
    (
        _set("studies.S.training.schedule", {"kind": "wsd", "warmup": 0.6, "cooldown": 0.5}),
        "studies.llama_adam_lr.training.schedule",
        "warmup 0.6 + cooldown 0.5 exceed the whole run",
    ),
    (_set("studies.S.training.batch_size", 2**40), "studies.llama_adam_lr.training.batch_size", "maximum"),
    (_set("studies.S.model.context", 2**30), "studies.llama_adam_lr.model.context", "maximum"),
    (_set("studies.S.training.log_every", 10**12), "studies.llama_adam_lr.training.log_every", "maximum"),
    (
        _set("studies.S.analysis", {"reference_width": 7}),
        "studies.llama_adam_lr.analysis.reference_width",
        "7 is not one of the widths [16]",
    ),
    (
        _set("figures", {"fig06_llama_adam_lr": {"ylimm": [3, 6], "enabeld": False}}),
        "figures.fig06_llama_adam_lr.enabeld",
        "unknown key (allowed: dpi, enabled, height_in, linearized, width_in)",
    ),
    (
        _set("figures", {"fig06_llama_adam_lr": {"linearized": "yes"}}),
        "figures.fig06_llama_adam_lr.linearized",
        "is not of type 'boolean'",
    ),
    (
        _set("figures", {"fig10_llama_adam_lr": {"beta1": 0.9}}),  # the study sweeps lr
        "figures.fig10_llama_adam_lr.beta1",
        "unknown key",
    ),
    (_set("figures", {"fig6_llama_adam_lr": {}}), "figures.fig6_llama_adam_lr", "did you mean fig06_llama_adam_lr"),
    (
        _set("parametrizations", {"mup": {"roles": {"hidden": {"init": 0.5}}}}),
        "parametrizations.mup",
        "'mup' is a built-in table",
    ),
    (_set("parametrizations", {"t": {"attention": 0.5}}), "parametrizations.t", "'roles' is a required property"),
    (_set("corpora.tiny.path", "somewhere"), "corpora.tiny.path", "not read by source 'shakespeare'"),
    (_set("corpora.tiny.val_works", ["tempestt"]), "corpora.tiny.val_works", "unknown works ['tempestt']"),
    (_set("corpora", {1: {"source": "shakespeare"}}), "corpora.1", "is not a string"),
]


@pytest.mark.parametrize("mutate, key, what", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_invalid_config_names_the_key(mutate, key, what):
    cfg = _named(raw_config())
    mutate(cfg)
    msg = _error(cfg)
    lines = [ln.strip() for ln in msg.splitlines()[1:]]
    # the key path starts the line that describes the problem, and that line says what is wrong
    assert any(ln.startswith(key + ":") or ln.startswith(key + ",") for ln in lines), msg
    assert what in msg, msg


def test_unknown_key_message_does_not_blame_valid_keys():
    """A pattern-keyed block (roles) must report only the unknown role, not the valid ones beside it."""
    cfg = raw_config(parametrizations={"t": {"roles": {"hidden": {"init": 0.5}, "bogus": {}}}})
    msg = _error(cfg)
    assert "parametrizations.t.roles.bogus" in msg
    assert "roles.hidden" not in msg


def test_all_problems_reported_at_once():
    cfg = raw_config({"widths": [0], "training": {"bogus": 1}})
    msg = _error(cfg)
    assert "studies.s.widths[0]" in msg and "studies.s.training.bogus" in msg


def test_analysis_step_recorded_or_final_is_valid():
    load_config(raw_config({"decomposition": {"analysis_steps": [20]}, "analysis": {"step": 20}}))
    load_config(raw_config({"analysis": {"step": 30, "kappa": {"analysis_step": 30}}}))


def test_analysis_step_is_for_language_model_studies_only():
    cfg = raw_config()
    cfg["studies"]["sphere"] = {
        "kind": "twolayer",
        "task": "sphere",
        "grid": [0.01],
        "widths": [8],
        "seeds": [0],
        "analysis": {"step": 10},
    }
    msg = _error(cfg)
    assert "studies.sphere.analysis.step: only language-model studies" in msg


def test_adam_beta_grid_must_be_below_one():
    cfg = raw_config({"hp": "beta1", "grid": [0.9, 1.0]})
    msg = _error(cfg)
    assert "studies.s.grid" in msg and "beta1" in msg


def test_rf_ridge_values_are_finite():
    cfg = raw_config()
    cfg["studies"]["rf"] = {"kind": "rf_ridge", "psi1": float("inf")}
    assert "studies.rf.psi1: inf is not a finite number" in _error(cfg)


def test_a_recursive_yaml_alias_is_an_error_not_a_recursion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw_config()) + "x-loop: &loop [*loop]\nthreads: &t {train: 1, self: *t}\n")
    assert "threads.self: contains itself" in _error(read_config_file(path))


def test_paper_preset_names_its_missing_corpora_before_any_job(tmp_path, monkeypatch):
    """WikiText-103 and FineWeb are local files: a dry run must fail on them, not prepare_data on SLURM."""
    monkeypatch.chdir(tmp_path)
    msg = _error(read_config_file(REPO / "workflow/presets/paper.yaml"))
    assert "corpora.wikitext103.path: 'data/wikitext-103-raw' has no wiki.train.raw or wiki.valid.raw" in msg
    assert "corpora.fineweb.train_glob: no files match 'data/fineweb/train/*.txt'" in msg
    # a disabled study's data is not looked for
    cfg = read_config_file(REPO / "workflow/presets/paper.yaml")
    for study in cfg["studies"].values():
        study["enabled"] = study.get("corpus") not in ("wikitext103", "fineweb")
    load_config(cfg)


def test_textfiles_corpus_needs_both_globs(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    cfg = raw_config()
    cfg["corpora"]["tiny"] = {"source": "textfiles", "train_glob": str(tmp_path / "*.txt")}
    assert "corpora.tiny.val_glob: required for source textfiles" in _error(cfg)
    cfg["corpora"]["tiny"]["val_glob"] = str(tmp_path / "a.txt")
    cfg["corpora"]["tiny"]["tokenizer"] = str(tmp_path / "missing.json")
    assert "corpora.tiny.tokenizer: no such file" in _error(cfg)
    del cfg["corpora"]["tiny"]["tokenizer"]
    load_config(cfg)


def test_missing_required_study_key():
    cfg = raw_config()
    del cfg["studies"]["s"]["widths"]
    assert "widths" in _error(cfg)


# ------------------------------------------------------------------------ valid configs


def test_defaults_filled_and_input_not_mutated():
    raw = raw_config()
    before = copy.deepcopy(raw)
    cfg = load_config(raw)
    assert raw == before
    s = cfg["studies"]["s"]
    assert s["training"]["divergence_factor"] == 2.0  # default
    assert s["model"]["rope_theta"] == 10000.0  # default inside a given block
    assert s["model"]["heads"] == 2  # given value wins
    assert s["training"]["schedule"]["warmup"] == 0.1
    assert set(cfg["parametrizations"]) >= {"sp", "mup", "adaptive"}
    assert cfg["corpora"]["tiny"]["val_works"] == ["tempest"]


def _config_files():
    return [REPO / "config.yaml"] + sorted((REPO / "workflow" / "presets").glob("*.yaml"))


@pytest.mark.parametrize("path", _config_files(), ids=lambda p: p.name)
def test_shipped_configs_validate(path, tmp_path, monkeypatch):
    monkeypatch.chdir(placeholder_paper_data(tmp_path))  # data paths are relative to the checkout
    cfg = load_config(read_config_file(path))
    # every run of every enabled LM study has a run config that serialises
    for name, study in cfg["studies"].items():
        if study["kind"] not in ("lm", "compare"):
            continue
        keys = list(study_run_keys(cfg, name))
        assert len(keys) == (
            len(study["parametrizations"]) * len(study["widths"]) * len(study["grid"]) * len(study["seeds"])
        )
        for key in keys[:50]:
            rc = run_config(cfg, key)
            json.dumps(rc.to_dict())
            assert rc.model.width == key.width


def test_validate_config_cli(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(raw_config()))
    bad_cfg = _named(raw_config())
    bad_cfg["studies"]["llama_adam_lr"]["widths"] = [16, 0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_cfg))
    cmd = [sys.executable, "-m", "hptransfer", "validate-config"]
    ok = subprocess.run(cmd + [str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    res = subprocess.run(cmd + [str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "studies.llama_adam_lr.widths[1]" in res.stderr
    assert "Traceback" not in res.stderr


def test_yaml_exponent_without_dot_is_float(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 1e-8\nb: 1.0e-8\nc: -2E+3\nd: 1e3\ne: 12\nf: 0.004\ng: '1e-8'\n")
    data = read_config_file(path)
    assert data == {"a": 1e-8, "b": 1e-8, "c": -2000.0, "d": 1000.0, "e": 12, "f": 0.004, "g": "1e-8"}
    assert all(isinstance(data[k], float) for k in "abcdf")
    assert isinstance(data["e"], int) and isinstance(data["g"], str)
    # plain PyYAML (YAML 1.1) would have read it as a string, which the schema then rejects
    assert isinstance(yaml.safe_load("a: 1e-8")["a"], str)


def test_yaml_exponent_passes_schema(tmp_path):
    raw = raw_config()
    text = yaml.safe_dump(raw).replace("eps: 1.0e-08", "eps: 1e-8")
    assert "eps: 1e-8" in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    cfg = load_config(read_config_file(path))
    assert cfg["studies"]["s"]["optimizer"]["eps"] == 1e-8


@pytest.mark.parametrize(
    "value, text",
    [
        (0.004, "0.004"),
        (1.0, "1"),
        (2, "2"),
        (0.9995, "0.9995"),
        (1e-8, "0.00000001"),
        (0.0625, "0.0625"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1.4e-3, "0.0014"),
        (128.0, "128"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text
    assert float(text) == float(value)  # round trip


def test_grid_value_round_trip():
    study = {"grid": [0.004, 1.0, 0.9995, 0.00028]}
    for v in study["grid"]:
        assert grid_value(study, format_value(v)) == v
    with pytest.raises(ConfigError):
        grid_value(study, "0.005")


def test_run_paths_are_canonical():
    cfg = load_config(raw_config({"grid": [0.004, 1.0], "widths": [16, 32], "seeds": [0, 3]}))
    paths = {k.path for k in study_run_keys(cfg, "s")}
    assert "results/runs/s/mup/n16/lr0.004/s0/run.nc" in paths
    assert "results/runs/s/mup/n32/lr1/s3/run.nc" in paths
    assert len(paths) == 8


# --------------------------------------------------------------------------- run configs


def test_run_config_applies_hp_and_omits_study_name():
    cfg = load_config(raw_config({"hp": "beta1", "grid": [0.8, 0.95], "optimizer": {"lr": 0.003}}))
    rc = run_config(cfg, RunKey("s", "mup", 16, "beta1", "0.8", 0))
    assert rc.optimizer.betas == (0.8, 0.999)
    assert rc.optimizer.lr == 0.003
    assert rc.hp == "beta1" and rc.hp_value == 0.8
    assert '"s"' not in json.dumps(rc.model.to_dict())
    assert "study" not in rc.to_dict()
    assert rc.parametrization.name == "mup"
    assert rc.parametrization.roles["hidden"].lr.adam == 1.0
    lr_rc = run_config(load_config(raw_config({"grid": [0.02]})), RunKey("s", "mup", 16, "lr", "0.02", 0))
    assert lr_rc.optimizer.lr == 0.02


def test_run_config_depth_rule():
    cfg = load_config(
        raw_config({"widths": [16, 64], "model": {"depth": 2, "depth_rule": {"rule": "grow", "exponent": 0.5}}})
    )
    d16 = run_config(cfg, RunKey("s", "mup", 16, "lr", "0.01", 0)).model
    d64 = run_config(cfg, RunKey("s", "mup", 64, "lr", "0.01", 0)).model
    assert (d16.depth, d64.depth) == (2, 4)
    assert d16.base_depth == d64.base_depth == 2
    assert "depth_rule" not in d16.to_dict()


def _two_studies(**second) -> dict:
    first = deep_merge(TINY_STUDY, {"grid": [0.01, 0.02], "widths": [16, 32], "seeds": [0, 1]})
    other = deep_merge(first, {"grid": [0.02, 0.04]})
    other = deep_merge(other, second)
    corpora = {**raw_config()["corpora"], "other": {"source": "shakespeare"}}
    return load_config({"corpora": corpora, "studies": {"first": first, "second": other}})


def test_run_owner_shares_identical_runs():
    cfg = _two_studies(description="the same runs under another name")
    key = RunKey("second", "mup", 32, "lr", "0.02", 1)
    assert run_owner(cfg, key) == RunKey("first", "mup", 32, "lr", "0.02", 1)
    # a value only the second study has is trained by the second study
    only = RunKey("second", "mup", 32, "lr", "0.04", 1)
    assert run_owner(cfg, only) == only
    # the first study owns its own runs
    mine = RunKey("first", "mup", 16, "lr", "0.02", 0)
    assert run_owner(cfg, mine) == mine
    assert run_config(cfg, key) == run_config(cfg, run_owner(cfg, key))


@pytest.mark.parametrize(
    "change",
    [
        {"training": {"steps": 31}},
        {"training": {"batch_size": 4}},
        {"training": {"schedule": {"cooldown": 0.3}}},
        {"ema": {"window_end": 11}},
        {"decomposition": {"topk": [2]}},
        {"optimizer": {"eps": 1e-6}},
        {"model": {"init_std": 0.5}},
        {"corpus": "other"},
    ],
    ids=lambda c: json.dumps(c),
)
def test_run_owner_does_not_share_when_a_setting_differs(change):
    cfg = _two_studies(**change)
    key = RunKey("second", "mup", 32, "lr", "0.02", 1)
    assert run_owner(cfg, key) == key


def test_run_owner_ignores_disabled_studies():
    cfg = _two_studies()
    cfg["studies"]["first"]["enabled"] = False
    key = RunKey("second", "mup", 32, "lr", "0.02", 1)
    assert run_owner(cfg, key) == key
