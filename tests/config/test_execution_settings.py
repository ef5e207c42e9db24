"""training.precision and training.compile: checked before any job, normalised in the run config
(left out at their default, so existing runs keep their identity)."""

from __future__ import annotations

import re

import pytest
from tiny import REPO, raw_config

from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config, read_config_file
from hptransfer.config.runs import RunKey
from hptransfer.studies import run_config


@pytest.mark.parametrize(
    "training, key",
    [
        ({"precision": "fp16"}, "studies.s.training.precision"),
        ({"compile": "yes"}, "studies.s.training.compile"),
        ({"precision": 16}, "studies.s.training.precision"),
    ],
)
def test_invalid_precision_or_compile_fails_naming_the_key(training, key):
    with pytest.raises(ConfigError, match=re.escape(key) + ": .* is not one of"):
        load_config(raw_config({"training": training}))


def _training(**settings) -> dict:
    cfg = load_config(raw_config({"training": settings}))
    return run_config(cfg, RunKey("s", "mup", 16, "lr", "0.01", 0)).to_dict()["training"]


def test_defaults_are_left_out_of_the_run_config():
    assert "precision" not in _training() and "compile" not in _training()
    assert _training(precision="auto", compile="auto") == _training()


def test_explicit_settings_reach_the_run_config_and_yaml_booleans_read_as_on_off(tmp_path):
    assert _training(precision="bf16", compile="off")["precision"] == "bf16"
    assert _training(compile=True)["compile"] == "on"
    path = tmp_path / "c.yaml"
    path.write_text("studies: {s: {training: {compile: off}}}\n")
    assert read_config_file(path)["studies"]["s"]["training"]["compile"] is False  # YAML 1.1
    assert _training(compile=False)["compile"] == "off"


def test_the_configs_that_predate_the_settings_keep_their_run_configs():
    """The default and the presets that existed before these settings set neither, so adding the
    settings changed none of their runs' identities (gpu-hour.yaml, newer, turns compile off)."""
    presets = ("smoke", "workstation", "paper")
    for path in [REPO / "config.yaml", *(REPO / "workflow" / "presets" / f"{p}.yaml" for p in presets)]:
        for study in read_config_file(path)["studies"].values():
            assert not {"precision", "compile"} & set(study.get("training", {})), path
