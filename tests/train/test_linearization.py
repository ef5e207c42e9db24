"""decomposition.linearization: the left-point rule of the paper and the trapezoid rule; the
trapezoid is exact where the loss is quadratic along a step, and at the default's scale it brings
the linearised loss to the EMA loss."""

from __future__ import annotations

import numpy as np
import pytest
from tiny import tiny_run_config

from hptransfer.train.job import train_run


def test_trapezoid_rule_is_exact_for_a_quadratic_loss():
    """⟨(g(w0) + g(w1))/2, w1 − w0⟩ = L(w1) − L(w0) for L(w) = ½ wᵀAw + bᵀw, whatever the step."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    A = A @ A.T
    b, w0, w1 = rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal(6)
    loss = lambda w: 0.5 * w @ A @ w + b @ w  # noqa: E731
    grad = lambda w: A @ w + b  # noqa: E731
    trapezoid = 0.5 * (grad(w0) + grad(w1)) @ (w1 - w0)
    left = grad(w0) @ (w1 - w0)
    assert trapezoid == pytest.approx(loss(w1) - loss(w0), rel=1e-12)
    assert abs(left - (loss(w1) - loss(w0))) > 1e-3  # the left rule is not (the test can fail)


@pytest.fixture(scope="module")
def both_rules(tiny_corpus, tmp_path_factory):
    out = {}
    for rule in ("left", "trapezoid"):
        cfg = tiny_run_config(lr=0.03, study={"training": {"steps": 40}, "decomposition": {"linearization": rule}})
        out[rule] = train_run(cfg, tiny_corpus, tmp_path_factory.mktemp(rule) / "run.nc")
    return out


def test_the_rule_is_in_the_run_config_only_when_it_is_not_the_papers(both_rules):
    import json

    assert "linearization" not in json.loads(both_rules["left"].attrs["config"])["decomposition"]
    assert json.loads(both_rules["trapezoid"].attrs["config"])["decomposition"]["linearization"] == "trapezoid"


def test_trapezoid_linearised_loss_tracks_the_ema_loss_better(both_rules):
    left, trapezoid = (float(both_rules[r].linearization_gap) for r in ("left", "trapezoid"))
    assert trapezoid < 0.05 and trapezoid < left / 2
    # same training, same EMA: only the decomposition differs
    for name in ("loss_train", "loss_val_ema"):
        assert (both_rules["left"][name].values == both_rules["trapezoid"][name].values).all()


def test_trapezoid_keeps_the_decomposition_identities(both_rules):
    ds = both_rules["trapezoid"]
    phi = ds.phi_k.isel(analysis_step=-1).values
    assert phi[-1] == pytest.approx(float(ds.loss_linearized[-1] - ds.loss_val_ema[0]), rel=1e-9)
    assert np.all(np.isfinite(phi))


def test_trapezoid_sample_wise_components_still_average_to_phi(tmp_path):
    from hptransfer.config.load import load_config
    from hptransfer.config.runs import RunKey, format_value
    from hptransfer.studies import run_config

    study = {
        "kind": "samplewise",
        "dataset": {"source": "digits", "val_size": 100},
        "grid": [0.1],
        "widths": [16],
        "seeds": [0],
        "model": {"base_width": 16},
        "training": {"steps": 12, "batch_size": 32, "log_every": 6, "checkpoint_every": 100},
        "ema": {"window_start": 2, "window_end": 4, "ramp_steps": 4, "tau_start": 2, "tau_end": 2},
        "decomposition": {"topk": [4], "max_components": 16, "linearization": "trapezoid"},
    }
    cfg = load_config({"corpora": {}, "studies": {"s": study}})
    ds = train_run(run_config(cfg, RunKey("s", "mup", 16, "lr", format_value(0.1), 0)), "", tmp_path / "run.nc")
    phi = ds["phi_k"].isel(analysis_step=-1).values
    assert float(ds["psi_total"].mean()) == pytest.approx(phi[-1], rel=1e-6)
    np.testing.assert_allclose(np.cumsum(ds["psi"].mean("sample").values), phi[:16], rtol=1e-6, atol=1e-9)
