"""Every variable and coordinate of every dataset the workflow writes carries a non-empty ``long_name``
and ``units`` (docs/outputs.md, "Properties shared by every dataset"): each dataset builder on a tiny
input, written and read back as the next rule reads it; sweeps collected from runs written before
every variable was described; the analyses on planted sweeps. The smoke run's datasets are walked
in tests/workflow/test_described_outputs.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from sweeps import make_sweep, mark_diverged
from tiny import raw_config

from hptransfer.analysis import advise, analyze_comparison, analyze_kappa, analyze_transfer
from hptransfer.analysis.samplewise import analyze_samplewise, reference_run_path, settings_of
from hptransfer.collect import collect_batched, collect_study, with_metric_at_step
from hptransfer.config.load import load_config
from hptransfer.config.runs import RunKey, format_value
from hptransfer.data.corpus import load_token_arrays
from hptransfer.data.images import load_images
from hptransfer.io import open_dataset, undescribed, write_dataset
from hptransfer.parametrization.coordcheck import study_coordcheck
from hptransfer.studies import run_config
from hptransfer.studies.lm import coordcheck_settings
from hptransfer.synthetic.rf import rf_study
from hptransfer.train.batched import train_batched
from hptransfer.train.job import train_run

torch.set_num_threads(1)


def assert_described(ds: xr.Dataset, what: str) -> None:
    missing = undescribed(ds)
    assert not missing, f"{what}: {', '.join(missing)}"


def round_trip(ds: xr.Dataset, path) -> xr.Dataset:
    write_dataset(ds, path)
    return open_dataset(path)


def strip(ds: xr.Dataset, names: dict[str, tuple[str, ...]]) -> xr.Dataset:
    """``ds`` without the attributes ``names`` gives per variable (a dataset of an earlier version)."""
    ds = ds.copy()
    for name, keys in names.items():
        for key in keys:
            ds.variables[name].attrs.pop(key, None)
    return ds


# ------------------------------------------------------------------------ run.nc, sweep.nc (LM)

LM_STUDY = {"grid": [0.01, 0.02], "widths": [16], "seeds": [0], "training": {"steps": 20}}
# what run.nc lacked before every variable and coordinate was described
OLD_RUN = {
    "diverged": ("units",),
    "phi_topk": ("units",),
    "phi_k": ("units",),
    "linearization_gap": ("units",),
    "step": ("units",),
    "eval_step": ("units",),
    "topk": ("long_name", "units"),
    "analysis_step": ("long_name", "units"),
    "k": ("long_name", "units"),
}


@pytest.fixture(scope="module")
def lm_study(tiny_corpus, tmp_path_factory):
    """The tiny LM study's runs (two learning rates, decomposition on), written as the train rule does."""
    cfg = load_config(raw_config(LM_STUDY))
    study = cfg["studies"]["s"]
    root = tmp_path_factory.mktemp("lm")
    paths = []
    for lr in study["grid"]:
        paths.append(root / f"lr{lr}.nc")
        train_run(run_config(cfg, RunKey("s", "mup", 16, "lr", format_value(lr), 0)), tiny_corpus, paths[-1])
    return study, paths


def test_run_dataset_is_described(lm_study):
    _, paths = lm_study
    run = open_dataset(paths[0])
    assert {"phi_k", "phi_topk", "linearization_gap", "k", "topk", "analysis_step"} <= set(run.variables)
    assert_described(run, "run.nc")
    assert run["phi_k"].attrs["units"] == run["loss_train"].attrs["units"] == "nats/token"
    assert run["step"].attrs["units"] == run["eval_step"].attrs["units"] == "steps"
    assert run["diverged"].attrs["units"] == run["linearization_gap"].attrs["units"] == "1"


def test_sweep_is_described_and_keeps_the_runs_descriptions(lm_study, tmp_path):
    study, paths = lm_study
    sweep = round_trip(collect_study(paths, "s", study), tmp_path / "sweep.nc")
    assert_described(sweep, "sweep.nc")
    run = open_dataset(paths[0])
    for name in ("eval_step", "k", "loss_val_ema", "phi_k"):
        assert sweep[name].attrs["long_name"] == run[name].attrs["long_name"], name
    assert sweep["lr"].attrs["units"] == sweep["width"].attrs["units"] == sweep["seed"].attrs["units"] == "1"
    assert_described(with_metric_at_step(sweep, int(sweep["eval_step"][-1])), "sweep.nc with analysis.step")


def test_runs_written_before_every_variable_was_described_collect_into_a_described_sweep(lm_study, tmp_path):
    study, paths = lm_study
    old = []
    for i, path in enumerate(paths):
        old.append(tmp_path / f"old{i}.nc")
        write_dataset(strip(open_dataset(path), OLD_RUN), old[-1])
    assert undescribed(open_dataset(old[0]))  # the emulation lacks what the old runs lacked
    sweep = collect_study(old, "s", study)
    assert_described(sweep, "sweep.nc of old runs")
    xr.testing.assert_identical(sweep, collect_study(paths, "s", study))  # nothing but attributes differs


# ------------------------------------------------------------------------------- sample-wise study

SAMPLEWISE = {
    "kind": "samplewise",
    "dataset": {"source": "digits", "val_size": 60},
    "grid": [0.05, 0.1],
    "widths": [8, 16],
    "seeds": [0, 1],
    "model": {"base_width": 8},
    "training": {"steps": 20, "batch_size": 32, "log_every": 10, "checkpoint_every": 10},
    "ema": {"window_start": 2, "window_end": 10, "ramp_steps": 10, "tau_start": 1, "tau_end": 3},
    "decomposition": {"enabled": True, "topk": [4], "max_components": 6},
    "analysis": {"bootstrap": {"n": 20, "level": 0.9, "seed": 0}},
    "samplewise": {"examples": 2, "example_components": 4},
}


@pytest.fixture(scope="module")
def samplewise_study(tmp_path_factory):
    cfg = load_config({"corpora": {}, "studies": {"s": SAMPLEWISE}})
    study = cfg["studies"]["s"]
    root = tmp_path_factory.mktemp("samplewise")
    paths = []
    for w in study["widths"]:
        for lr in study["grid"]:
            for s in study["seeds"]:
                paths.append(root / f"n{w}_lr{lr}_s{s}.nc")
                train_run(run_config(cfg, RunKey("s", "mup", w, "lr", format_value(lr), s)), "", paths[-1])
    return study, paths


def test_samplewise_run_sweep_and_analysis_are_described(samplewise_study, tmp_path):
    study, paths = samplewise_study
    run = open_dataset(paths[0])
    assert {"psi", "mci", "val_label", "sample", "component"} <= set(run.variables)
    assert_described(run, "sample-wise run.nc")
    assert run["phi_k"].attrs["units"] == "nats/example"
    sweep = round_trip(collect_study(paths, "s", study), tmp_path / "sweep.nc")
    assert_described(sweep, "sample-wise sweep.nc")
    settings = settings_of(study)
    reference = open_dataset(reference_run_path([str(p) for p in paths], sweep, settings))
    images = load_images(study["dataset"]).raw_val
    out = analyze_samplewise(sweep, reference, settings, images)
    for name, ds in out.items():
        written = round_trip(ds, tmp_path / f"{name}.nc")
        assert_described(written, f"{name}.nc")
        if name != "samplewise":
            assert_described(analyze_transfer(written, study["analysis"]), f"transfer_{name.split('_')[1]}.nc")


# --------------------------------------------------------------------------- batch.nc, its sweep

OLD_BATCH = {
    "final_loss_val": ("units",),
    "loss_val": ("units",),
    "diverged_step": ("units",),
    "diverged": ("long_name", "units"),
    "lr": ("units",),
    "seed": ("long_name", "units"),
    "step": ("long_name", "units"),
}


@pytest.mark.parametrize("task,units", [("sphere", "nats/example"), ("kindex", "1")])
def test_batch_dataset_and_its_sweep_are_described(task, units, tmp_path):
    cfg = {"task": task, "d": 8, "k": 3, "val_size": 64, "base_width": 16, "n_log": 3}
    paths = []
    for width in (8, 16):
        ds = train_batched(cfg, width, [1e-3, 1e-1], [0, 1], 4, 8)
        paths.append(tmp_path / f"n{width}.nc")
        batch = round_trip(ds, paths[-1])
        assert_described(batch, "batch.nc")
        assert batch["loss_val"].attrs["units"] == batch["final_loss_val"].attrs["units"] == units
    study = {"kind": "twolayer", "task": task}
    sweep = round_trip(collect_batched(paths, "s", study), tmp_path / "sweep.nc")
    assert_described(sweep, "two-layer sweep.nc")
    assert sweep["final_loss_val"].attrs["units"] == units and sweep["width"].attrs["units"] == "1"
    old = []
    for i, path in enumerate(paths):
        old.append(tmp_path / f"old{i}.nc")
        write_dataset(strip(open_dataset(path), OLD_BATCH), old[-1])
    from_old = collect_batched(old, "s", study)
    assert_described(from_old, "two-layer sweep.nc of old batch.nc")
    xr.testing.assert_equal(from_old, sweep)


# ------------------------------------------------------------------------------ rf.nc, coordcheck.nc


def test_rf_dataset_is_described(tmp_path):
    cfg = {
        "psi2_curves": [4.0, 8.0],
        "psi2_rates": [4.0, 8.0, 16.0],
        "lam": [0.1, 0.35, 1.0],
        "asymptotic_psi2": [1024.0, 2048.0],
        "simulation": {"d": 20, "n_draws": 2, "psi2": [4.0], "lam": [0.2, 0.4], "seed": 1},
    }
    assert_described(round_trip(rf_study(cfg), tmp_path / "rf.nc"), "rf.nc")


def test_coordcheck_dataset_is_described(tiny_corpus, tmp_path):
    study = {
        "widths": [16, 32],
        "model": {"depth": 1, "heads": 2, "context": 8, "base_width": 16},
        "coordcheck": {"enabled": True, "steps": 2, "seeds": 1, "lr": 0.01, "batch_size": 4},
    }
    settings = coordcheck_settings(load_config(raw_config(study)), "s")
    train, _, meta = load_token_arrays(tiny_corpus)
    ds = round_trip(study_coordcheck(settings, train, meta["vocab_size"]), tmp_path / "coordcheck.nc")
    assert {"activation_slope", "change_slope", "layer", "parametrization"} <= set(ds.variables)
    assert_described(ds, "coordcheck.nc")


# ---------------------------------------------------------------------- analyses on planted sweeps

QUICK = {"bootstrap": {"n": 50, "level": 0.9, "seed": 0}}


def bowl(n, lr):
    """The optimum drifts as 2^-6 n^-0.2 (a law the rate fits find)."""
    return 0.5 * (np.log2(lr) + 6 + 0.2 * np.log2(n / 32)) ** 2 + 3.0 + 4.0 / n


@pytest.mark.parametrize("hp", ["lr", "beta1"])
def test_transfer_and_advice_are_described(hp, tmp_path):
    if hp == "lr":
        sweep = make_sweep(bowl, widths=(32, 64, 128, 256), grid=2.0 ** np.arange(-10.0, -2.0), seeds=3, noise=1e-3)
        mark_diverged(sweep, width=3, lr=slice(-1, None))
    else:
        grid = 1 - 2.0 ** -np.arange(1.0, 8.0)
        sweep = make_sweep(
            lambda n, b: 0.3 * (-np.log2(1 - b) - 4 - 0.2 * np.log2(n / 32)) ** 2 + 3.0 + 4.0 / n,
            widths=(32, 64, 128, 256),
            grid=grid,
            seeds=2,
            hp="beta1",
            noise=1e-3,
        )
    transfer = round_trip(analyze_transfer(sweep, QUICK), tmp_path / "transfer.nc")
    assert_described(transfer, "transfer.nc")
    assert_described(round_trip(advise(transfer, [1024, 4096]), tmp_path / "advice.nc"), "advice.nc")


def test_analyses_of_several_parametrizations_are_described(tmp_path):
    laws = {
        p: (lambda x: lambda n, lr: 0.5 * (np.log2(lr) + 6 + x * np.log2(n / 32)) ** 2 + 3.0 + 4.0 / n)(x)
        for p, x in [("sp", 1.0), ("mup", 0.1), ("adaptive", 0.0)]
    }
    sweep = make_sweep(
        laws,
        widths=(32, 64, 128, 256),
        grid=2.0 ** np.arange(-10.0, -3.9, 0.5),
        seeds=3,
        noise=1e-3,
        depths=[2] * 4,
        kind="compare",
        config={
            "model": {"depth": 2, "base_width": 32, "depth_rule": {"rule": "fixed"}},
            "optimizer": {"name": "adam"},
        },
    )
    transfer = round_trip(analyze_transfer(sweep, QUICK), tmp_path / "transfer.nc")
    assert_described(transfer, "transfer.nc (param)")
    assert transfer["param"].attrs["units"] == "1"
    assert_described(round_trip(advise(transfer, [1024]), tmp_path / "advice.nc"), "advice.nc (param)")
    comparison = round_trip(analyze_comparison(sweep, QUICK), tmp_path / "comparison.nc")
    assert_described(comparison, "comparison.nc")


def test_kappa_is_described(tmp_path):
    widths, nu, seeds = (16, 32, 64), np.arange(8) * 0.5, 2
    n_max = max(widths)
    phi = np.full((len(widths), nu.size, seeds, 1, n_max), np.nan)
    for w, n in enumerate(widths):
        k = np.arange(1, n + 1)
        # a loss change that saturates in k, deepest at the middle of the grid
        curve = -(1 - np.exp(-k / 4.0))[None, :] * (1 + 0.1 * (nu[:, None] - 2.0) ** 2) ** -1
        phi[w, :, :, 0, :n] = curve[:, None, :]
    sweep = make_sweep(
        widths=widths,
        grid=2.0 ** (nu - 9),
        seeds=seeds,
        variables={"phi_k": (("width", "lr", "seed", "analysis_step", "k"), phi)},
        coords={"analysis_step": [20]},
    )
    assert_described(round_trip(analyze_kappa(sweep, {}), tmp_path / "kappa.nc"), "kappa.nc")


def test_analyses_carry_the_sweeps_loss_units_and_dimensionless_hp_values(tmp_path):
    """transfer.nc, advice.nc, comparison.nc and kappa.nc say what sweep.nc says: losses in the task's
    units (here nats/token), hyperparameter values "1", a curvature in loss units per nu squared."""
    sweep = make_sweep(bowl, widths=(32, 64, 128, 256), grid=2.0 ** np.arange(-10.0, -2.0), seeds=3, noise=1e-3)
    sweep["final_loss_ema"].attrs["units"] = "nats/token"
    transfer = round_trip(analyze_transfer(sweep, QUICK), tmp_path / "transfer.nc")
    advice = round_trip(advise(transfer, [1024]), tmp_path / "advice.nc")
    for ds, losses, values in [
        (transfer, ("loss_star", "loss_star_lo", "a_n", "c_n", "loss_curve", "fit_opt_A"), ("lr", "hp_star")),
        (advice, ("loss_gap", "direct_loss", "loss_law_L_inf"), ("hp_advised", "hp_advised_hi")),
    ]:
        for name in losses:
            assert ds[name].attrs["units"] == "nats/token", name
        for name in values:
            assert ds[name].attrs["units"] == "1", name
        assert ds["nu_star" if "nu_star" in ds else "nu_advised"].attrs["units"] == "log2(lr)"
    curvature = [v.attrs["units"] for v in advice.variables.values() if "log2(lr))^2" in v.attrs["units"]]
    assert curvature and set(curvature) == {"(nats/token)/(log2(lr))^2"}
    # a sweep whose metric has no units keeps the builders' generic label
    bare = analyze_transfer(make_sweep(bowl, widths=(32, 64), grid=2.0 ** np.arange(-9.0, -3.0), seeds=2), QUICK)
    assert bare["loss_star"].attrs["units"] == "loss" and bare["hp_star"].attrs["units"] == "1"
