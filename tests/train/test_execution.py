"""How a run executes — precision, compilation, host synchronisation, background decomposition, the
progress line — changes how fast it runs, not what it computes (within bf16's precision for bf16)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from tiny import REPO, tiny_run_config

from hptransfer.config.load import load_config, read_config_file
from hptransfer.config.runs import RunKey
from hptransfer.data.corpus import prepare_corpus
from hptransfer.studies import run_config
from hptransfer.train import device as device_module
from hptransfer.train.engine import Run
from hptransfer.train.job import train_run


def with_training(cfg, **settings):
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, **settings))


def same_bytes(a, b) -> bool:
    return a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------------------------ precision


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory):
    cfg = load_config(read_config_file(REPO / "config.yaml"))
    out = tmp_path_factory.mktemp("shakespeare") / "c"
    prepare_corpus(dict(cfg["corpora"]["shakespeare"]), out)
    return cfg, out


def test_bf16_run_of_the_default_width_64_study_is_within_2_percent_of_fp32(default_corpus, tmp_path):
    cfg, corpus = default_corpus
    rc = run_config(cfg, RunKey("llama_adam_lr", "mup", 64, "lr", "0.032", 0))
    assert rc.training.precision is None  # the default: "auto", fp32 on a CPU
    fp32 = train_run(rc, corpus, tmp_path / "fp32.nc")
    bf16 = train_run(with_training(rc, precision="bf16"), corpus, tmp_path / "bf16.nc")
    assert (fp32.attrs["precision"], bf16.attrs["precision"]) == ("fp32", "bf16")
    assert bf16.attrs["status"] == "ok"
    a, b = float(fp32.final_loss_ema), float(bf16.final_loss_ema)
    assert abs(b - a) / a < 0.02
    assert a != b  # bf16 arithmetic really ran
    # bf16 does not reach the decomposition, which stays float64: φ sums to the linearised loss
    assert float(bf16.linearization_gap) < 1


def test_bf16_keeps_master_weights_ema_and_optimizer_state_in_fp32(tiny_corpus):
    run = Run(
        with_training(tiny_run_config(study={"training": {"steps": 3}}), precision="bf16"),
        tiny_corpus,
        torch.device("cpu"),
    )
    run.fit(tiny_corpus / "unused.pt")
    assert {p.dtype for p in run.model.parameters()} == {torch.float32}
    assert {p.dtype for p in run.ema.parameters()} == {torch.float32}
    states = [s for s in run.optimizer.state.values()]
    assert {t.dtype for s in states for t in s.values() if t.ndim > 0} == {torch.float32}


# ------------------------------------------------------------------------------ host syncs


def test_the_loop_reads_the_device_only_at_its_sync_points(tiny_corpus, tmp_path, monkeypatch):
    """30 steps with EMA points every 10 steps and no log or checkpoint in between: the training
    losses cross to the host three times (once per point), not once per step."""
    cfg = tiny_run_config(
        study={
            "training": {"steps": 30, "log_every": 30, "checkpoint_every": 100},
            "ema": {"tau_start": 10, "tau_end": 10},
            "decomposition": {"enabled": False},
        }
    )
    run = Run(cfg, tiny_corpus, torch.device("cpu"))
    assert run.samples == [0, 10, 20, 30]
    # (torch's CPU Adam reads its host-side step counters with .item(): no device involved)
    reads = {"tolist": 0, "float": 0}
    for name, method in (("tolist", "tolist"), ("float", "__float__")):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, _name=name):
            reads[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, method, counted)
    run.fit(tmp_path / "checkpoint.pt")
    assert len(run.history.loss_train) == 30
    assert reads["tolist"] == 3  # one batch of losses per EMA point
    assert reads["float"] == 2 * len(run.samples)  # the iterate and EMA validation losses of each point


def test_divergence_found_at_a_later_sync_point_is_dated_to_its_step(tiny_corpus, tmp_path):
    """The losses are tested one by one when read: the run diverged at the exact step and its
    dataset holds the steps up to it, as if it had been tested after every step."""
    cfg = tiny_run_config(
        lr=30.0,
        study={
            "training": {"steps": 40, "log_every": 40, "checkpoint_every": 100, "divergence_factor": 1.5},
            "ema": {"tau_start": 10, "tau_end": 10},
        },
    )
    ds = train_run(cfg, tiny_corpus, tmp_path / "run.nc")
    assert ds.attrs["status"] == "diverged"
    step = int(ds.attrs["diverged_step"])
    assert ds.sizes["step"] == step + 1
    losses = ds.loss_train.values
    assert not (losses[:-1] > 1.5 * losses[0]).any() and not losses[-1] <= 1.5 * losses[0]
    assert int(ds.eval_step.max()) <= step


# ------------------------------------------------------------------------------ compilation


def test_a_model_that_fails_to_compile_trains_eagerly_with_a_warning(tiny_corpus, tmp_path, monkeypatch, caplog):
    cfg = tiny_run_config(study={"training": {"steps": 12}})
    eager = train_run(cfg, tiny_corpus, tmp_path / "eager" / "run.nc")

    def broken_compile(module, **kwargs):
        def forward(*args, **kw):
            raise RuntimeError("inductor: no C compiler here")

        return forward

    monkeypatch.setattr(device_module.torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="hptransfer"):
        ds = train_run(with_training(cfg, compile="on"), tiny_corpus, tmp_path / "fallback" / "run.nc")
    assert "torch.compile of the model failed (RuntimeError: inductor: no C compiler here)" in caplog.text
    assert ds.attrs["compile"] == "failed"
    for name in ("loss_train", "loss_val_ema", "phi_k"):
        assert (ds[name].values == eager[name].values).all(), name


def test_compile_is_not_part_of_a_runs_identity():
    base = tiny_run_config()
    on = with_training(base, compile="on")
    assert on.identity() == base.identity() and on.to_json() != base.to_json()
    assert with_training(base, precision="bf16").identity() != base.identity()


@pytest.mark.slow  # torch.compile on a CPU: ~30 s
def test_compiled_run_matches_eager_and_resumes_in_an_eager_one(tiny_corpus, tmp_path):
    cfg = tiny_run_config(study={"training": {"steps": 20, "checkpoint_every": 10, "keep_checkpoint": True}})
    eager = train_run(cfg, tiny_corpus, tmp_path / "eager" / "run.nc")
    compiled_cfg = with_training(cfg, compile="on")
    compiled = train_run(compiled_cfg, tiny_corpus, tmp_path / "compiled" / "run.nc")
    assert compiled.attrs["compile"] == "on"
    torch.testing.assert_close(
        torch.tensor(compiled.loss_train.values), torch.tensor(eager.loss_train.values), rtol=1e-5, atol=1e-6
    )
    # the compiled run's checkpoint (kept) holds the plain module: an eager run resumes from it
    resumed = Run(cfg, tiny_corpus, torch.device("cpu"))
    assert resumed.try_resume(tmp_path / "compiled" / "checkpoint.pt") and resumed.step == 10
    resumed.fit(tmp_path / "compiled" / "checkpoint.pt")
    assert resumed.step == 20 and len(resumed.history.loss_train) == 20


# --------------------------------------------------------------------------- decomposition


def test_background_decomposition_gives_the_same_bytes_as_inline(tiny_corpus, tmp_path):
    cfg = tiny_run_config(
        study={
            "training": {"steps": 30, "checkpoint_every": 10, "keep_checkpoint": True},
            "decomposition": {"topk": [4], "analysis_steps": [10, 20]},
        }
    )
    paths = {}
    for background in (False, True):
        run = Run(cfg, tiny_corpus, torch.device("cpu"), background_decomposition=background)
        assert run.decomposer.background is background
        out = tmp_path / f"background_{background}"
        out.mkdir()
        run.fit(out / "checkpoint.pt")
        from hptransfer.io import write_dataset

        paths[background] = write_dataset(run.to_dataset(), out / "run.nc")
        run.close()
    assert same_bytes(paths[False], paths[True])


# -------------------------------------------------------------------------------- the log


def test_the_log_line_says_what_a_user_watching_a_job_wants(tiny_corpus, tmp_path, caplog):
    cfg = tiny_run_config(study={"training": {"steps": 20, "log_every": 10}})
    with caplog.at_level(logging.INFO, logger="hptransfer"):
        train_run(cfg, tiny_corpus, tmp_path / "run.nc")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [line.split()[1] for line in lines] == ["10/20", "20/20"]
    for field in ("loss ", "lr ", "tokens/s ", "MFU n/a", "EMA points ", "elapsed ", "ETA "):
        assert field in lines[-1], field
    assert lines[-1].endswith("ETA 0m00s")


def test_mfu_is_measured_against_the_devices_peak():
    cpu = torch.device("cpu")
    assert device_module.peak_flops(cpu, "fp32") is None
    assert device_module.measured_matmul_flops(cpu, torch.float32, size=64, repeats=3) > 0
    assert device_module.resolve_precision(None, cpu) == "fp32"
    assert device_module.resolve_precision(None, torch.device("cuda")) == "bf16"
    assert device_module.resolve_compile(None, cpu) is False and device_module.resolve_compile("on", cpu)
