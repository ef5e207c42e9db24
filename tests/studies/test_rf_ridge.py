"""The rf_ridge kind's activation/target keys: the schema, the cross-check of an ill-posed pair (an
error naming the key before any job) and the caption phrases."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tiny import REPO, raw_config

from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config
from hptransfer.studies.rf_ridge import describe


def rf_config(**keys) -> dict:
    cfg = raw_config()
    cfg["studies"]["rf"] = {"kind": "rf_ridge", **keys}
    return cfg


def error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    return str(info.value)


def test_every_named_pair_is_accepted_where_well_posed():
    study = load_config(rf_config(activation="erf", target="tanh"))["studies"]["rf"]
    assert (study["activation"], study["target"]) == ("erf", "tanh")
    load_config(rf_config(activation="linear", target="linear"))  # λ*(∞) = σ_ε² > 0
    load_config(rf_config(target="linear", sigma_eps=0.3))  # tanh features need σ_ε > 0.273 here


def test_unknown_function_is_a_schema_error_naming_the_key():
    assert "studies.rf.activation: 'sine' is not one of" in error(rf_config(activation="sine"))
    assert "studies.rf.target: 'softplus' is not one of" in error(rf_config(target="softplus"))


@pytest.mark.parametrize(
    "keys,named",
    [
        ({"target": "linear"}, "target"),  # tanh features: λ*(∞) = μ1²σ_ε² − μ2² < 0 at σ_ε = 0.25
        ({"activation": "relu", "target": "tanh"}, "target"),
        ({"activation": "gelu"}, None),  # GELU features, ReLU target: well posed (λ*(∞) ≈ 0.048)
        ({"activation": "linear", "target": "linear", "sigma_eps": 0.0}, "target"),  # λ*(∞) = σ_ε² = 0
    ],
)
def test_ill_posed_pair_is_a_config_error_naming_the_key(keys, named):
    if named is None:
        load_config(rf_config(**keys))
        return
    message = error(rf_config(**keys))
    assert f"studies.rf.{named}: target {keys['target']!r}" in message
    assert "λ*(∞)" in message and "no optimum to transfer" in message


def test_a_study_naming_only_the_activation_hears_about_the_activation():
    # ReLU features for the default ReLU target: λ*(∞) = σ_ε², not positive without noise.
    assert "studies.rf.activation: target 'relu' with activation 'relu'" in error(
        rf_config(activation="relu", sigma_eps=0.0)
    )


def test_caption_phrases_name_a_pair_only_when_it_is_not_the_papers():
    assert not any("activation" in p for p in describe({"kind": "rf_ridge"}))
    assert not any("activation" in p for p in describe({"kind": "rf_ridge", "activation": "tanh", "target": "relu"}))
    assert "activation erf, target tanh" in describe({"kind": "rf_ridge", "activation": "erf", "target": "tanh"})
    assert "activation tanh, target gelu" in describe({"kind": "rf_ridge", "target": "gelu"})


def test_the_papers_pair_costs_the_config_check_no_scipy():
    """Snakemake validates the config in every job: a study without the keys imports nothing more."""
    code = (
        "import sys; from hptransfer.config.load import load_config, read_config_file; "
        f"load_config(read_config_file({str(REPO / 'config.yaml')!r}), check_data=False); "
        "print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
