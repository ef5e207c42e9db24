"""Two-layer ReLU studies (paper.md §3): batched training equals one-at-a-time training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import xarray as xr

from hptransfer.synthetic import twolayer as tl
from hptransfer.train import batched

torch.set_num_threads(1)

STEPS, BATCH, WIDTH = 40, 32, 48


def _cfg(task: str, **extra) -> dict:
    return {"task": task, "d": 16, "k": 5, "val_size": 512, "base_width": 32, "n_log": 3, **extra}


@pytest.mark.parametrize("task,extra", [("kindex", {}), ("sphere", {}), ("kindex", {"second_layer_lr_factor": 0.02})])
def test_batched_equals_single_models(task, extra):
    cfg = _cfg(task, dtype="float64", **extra)
    lrs, seeds = [3e-3, 3e-2], [0, 5]
    ds = batched.train_batched(cfg, WIDTH, lrs, seeds, STEPS, BATCH)
    for lr in lrs:
        for seed in seeds:
            alone = batched.train_single(cfg, WIDTH, lr, seed, STEPS, BATCH)
            together = ds.loss_val.sel(lr=lr, seed=seed).values
            np.testing.assert_allclose(together, alone["loss_val"], rtol=1e-10, atol=0)
            assert not alone["diverged"] and not bool(ds.diverged.sel(lr=lr, seed=seed))
    # Training moved the models (the comparison is not between two untouched initialisations).
    assert np.all(ds.loss_val.isel(step=-1).values < ds.loss_val.isel(step=0).values)
    # Different learning rates and seeds give different results.
    assert len(np.unique(ds.final_loss_val.values)) == 4


@pytest.mark.parametrize("task", ["sphere", "kindex"])
def test_hand_written_gradients_equal_autograd(task):
    cfg = tl.merge_task_config(_cfg(task, dtype="float64"))
    t = tl.make_task(cfg)
    model = batched.StackedTwoLayer(t.d, WIDTH, [0, 1], 3, torch.float64, "cpu")
    gen = torch.Generator().manual_seed(0)
    # Move the models off their shared initialisation (b = 0, equal across learning rates).
    for p in model.parameters():
        p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * p.std().clamp_min(0.1))
    x, y = batched.seed_batches(t, [0, 1], 7, BATCH, torch.float64, "cpu")
    losses, grads = model.losses_and_gradients(t, x, y)
    expected_losses, expected_grads = batched.autograd_losses_and_gradients(model, t, x, y)
    torch.testing.assert_close(losses, expected_losses, rtol=1e-12, atol=0)
    for grad, expected, p in zip(grads, expected_grads, model.parameters()):
        assert grad.shape == p.shape
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-14)
    # the ReLU mask is not trivial: some units are off for some inputs
    assert 0 < float((x[:, None] @ model.W + model.b > 0).double().mean()) < 1


def test_batched_equals_single_in_float32():
    cfg = _cfg("kindex")
    ds = batched.train_batched(cfg, WIDTH, [1e-2], [2, 3], STEPS, BATCH)
    for seed in (2, 3):
        alone = batched.train_single(cfg, WIDTH, 1e-2, seed, STEPS, BATCH)
        np.testing.assert_allclose(ds.loss_val.sel(lr=1e-2, seed=seed).values, alone["loss_val"], rtol=1e-5)


def test_results_do_not_depend_on_batch_composition():
    cfg = _cfg("sphere", dtype="float64")
    together = batched.train_batched(cfg, WIDTH, [1e-3, 1e-2, 1e-1], [0, 1], STEPS, BATCH)
    apart = batched.train_batched(cfg, WIDTH, [1e-2], [1], STEPS, BATCH)
    np.testing.assert_allclose(together.loss_val.sel(lr=[1e-2], seed=[1]).values, apart.loss_val.values, rtol=1e-10)


def test_divergence_is_recorded_and_isolated():
    cfg = _cfg("kindex")
    lrs = [1e-2, 1e4]
    lines = []
    ds = batched.train_batched(cfg, WIDTH, lrs, [0, 1], STEPS, BATCH, progress=lines.append)
    assert ds.diverged.sel(lr=1e4).values.all()
    # one progress line per logged step, the last counting the diverged models
    assert len(lines) == ds.step.size and lines[0].startswith(f"width {WIDTH}: step 0/{STEPS}, ")
    assert lines[-1].endswith("2 of 4 models diverged")
    assert np.isnan(ds.final_loss_val.sel(lr=1e4).values).all()
    assert (ds.diverged_step.sel(lr=1e4).values >= 0).all()
    assert not ds.diverged.sel(lr=1e-2).values.any()
    assert np.isfinite(ds.final_loss_val.sel(lr=1e-2).values).all()
    # The healthy models are exactly what they are when trained without the diverging ones.
    healthy = batched.train_batched(cfg, WIDTH, [1e-2], [0, 1], STEPS, BATCH)
    np.testing.assert_allclose(ds.loss_val.sel(lr=[1e-2]).values, healthy.loss_val.values, rtol=1e-6)
    # The single-model reference agrees on the verdict.
    assert batched.train_single(cfg, WIDTH, 1e4, 0, STEPS, BATCH)["diverged"]


def test_sphere_labels_are_balanced():
    task = tl.make_task({"task": "sphere", "d": 64, "k": 15})
    x, y = task.sample(torch.Generator().manual_seed(0), 2**16, torch.float64)
    assert x.shape == (2**16, 64)
    # sd of the mean of 65536 fair coins is 0.002
    assert y.mean().item() == pytest.approx(0.5, abs=0.008)
    assert set(torch.unique(y).tolist()) == {0.0, 1.0}


def test_kindex_target_has_unit_second_moment():
    task = tl.make_task({"task": "kindex", "d": 64, "k": 15})
    x, y = task.sample(torch.Generator().manual_seed(0), 2**16, torch.float64)
    # Var(y²) = 2/k, so the mean of 65536 samples has sd ≈ 0.0014.
    assert (y**2).mean().item() == pytest.approx(1.0, abs=0.006)
    # x ~ N(0, (4/d) I)
    assert x.var().item() == pytest.approx(4 / 64, rel=0.01)


def test_mup_initialisation_and_learning_rates():
    W, b, a = tl.init_params(64, 2048, seed=0, dtype=torch.float64)
    assert W.var().item() == pytest.approx(1 / 64, rel=0.02)
    assert a.var().item() == pytest.approx(1 / 2048**2, rel=0.1)
    assert torch.count_nonzero(b) == 0
    cfg = tl.merge_task_config({"base_width": 128, "second_layer_lr_factor": 0.02})
    assert tl.output_lr_multiplier(128, cfg) == pytest.approx(0.02)
    assert tl.output_lr_multiplier(1024, cfg) == pytest.approx(0.02 / 8)
    # Same seed, different width: different init; same (seed, width): identical.
    assert torch.equal(tl.init_params(16, 32, 3, torch.float32)[0], tl.init_params(16, 32, 3, torch.float32)[0])


def test_dataset_layout():
    ds = batched.train_batched(_cfg("sphere", n_log=4), 16, [1e-3, 1e-2], [0, 1, 2], 9, 8)
    assert ds.final_loss_val.dims == ("lr", "seed")
    assert ds.diverged.dims == ("lr", "seed") and ds.diverged.dtype == bool
    assert ds.loss_val.dims == ("step", "lr", "seed")
    assert ds.step.values.tolist() == [0, 3, 6, 9]
    np.testing.assert_array_equal(ds.loss_val.isel(step=-1).values, ds.final_loss_val.values)
    # All learning rates of a seed share the initialisation; seeds differ.
    initial = ds.loss_val.isel(step=0).values
    np.testing.assert_array_equal(initial[0], initial[1])
    assert len(np.unique(initial[0])) == 3
    # The µP logit is O(1/√n) at init (a ~ N(0, 1/n²)), so the BCE is near ln 2 (n = 16 here).
    np.testing.assert_allclose(initial, math.log(2), atol=0.1)
    assert ds.attrs["task"] == "sphere" and ds.attrs["width"] == 16 and "muP" in ds.attrs["parametrization"]


def test_unknown_task_is_rejected():
    with pytest.raises(ValueError, match="task"):
        batched.train_batched({"task": "spiral"}, 8, [1e-3], [0], 1, 4)


class _Killed(Exception):
    pass


def test_interrupted_width_job_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    cfg, lrs, seeds = _cfg("sphere"), [1e-2, 1e4], [0, 1]  # 1e4 diverges: its state must survive too
    fresh = batched.train_batched(cfg, WIDTH, lrs, seeds, STEPS, BATCH)
    checkpoint = tmp_path / "checkpoint.pt"

    def kill_at_step_20(line: str) -> None:
        if "step 20/" in line:
            raise _Killed

    with pytest.raises(_Killed):
        batched.train_batched(
            cfg, WIDTH, lrs, seeds, STEPS, BATCH, progress=kill_at_step_20, checkpoint=checkpoint, checkpoint_every=8
        )
    assert torch.load(checkpoint, weights_only=True)["step"] == 16  # the last one before the kill
    lines = []
    resumed = batched.train_batched(
        cfg, WIDTH, lrs, seeds, STEPS, BATCH, progress=lines.append, checkpoint=checkpoint, checkpoint_every=8
    )
    assert lines[0] == f"width {WIDTH}: resumed at step 16/{STEPS} from {checkpoint}"
    xr.testing.assert_identical(resumed, fresh)
    # another job's checkpoint is not resumed from
    other = batched.train_batched(cfg, WIDTH, [1e-2], seeds, STEPS, BATCH, checkpoint=checkpoint)
    xr.testing.assert_identical(other, fresh.sel(lr=[1e-2]))
