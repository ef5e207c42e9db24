"""Sample-wise decomposition (paper §4.6): the factorised per-example components against explicit
per-example gradients, their sums against the layer's δφ, the image data path, the end-to-end
run dataset, resumption, the MCI analyses and figures, and the LM training path left unchanged."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xarray as xr

from hptransfer.analysis import analyze_transfer
from hptransfer.analysis.samplewise import (
    analyze_samplewise,
    extreme_indices,
    overlap_matrices,
    reference_run,
    settings_of,
    subset_sweep,
)
from hptransfer.collect import collect_study
from hptransfer.config.errors import ConfigError
from hptransfer.config.load import load_config
from hptransfer.config.run import Parametrization
from hptransfer.config.runs import RunKey, format_value
from hptransfer.data.images import digits_arrays, load_images, read_cifar_batch
from hptransfer.decomposition.accumulator import ParamSpec
from hptransfer.decomposition.samplewise import (
    EigenvectorAccumulator,
    capture_linear_io,
    compact_alignment_eigh,
    mean_component_index,
    per_sample_components,
    per_sample_total,
)
from hptransfer.decomposition.spectra import alignment_eigh
from hptransfer.io import open_dataset, write_dataset
from hptransfer.models import build_two_layer
from hptransfer.parametrization.tables import MUP
from hptransfer.studies import run_config
from hptransfer.train.job import make_run, train_run
from hptransfer.train.samplewise import SamplewiseRun
from hptransfer.train.tasks import ImageTask

torch.set_num_threads(1)

# A sample-wise study at toy scale: digits, 100 validation images, widths 8/16, 30 steps.
TINY = {
    "kind": "samplewise",
    "dataset": {"source": "digits", "val_size": 100, "augment": {"mixup_alpha": 0.2, "crop_scale": [0.5, 1.0]}},
    "grid": [0.05, 0.1, 0.2],
    "widths": [8, 16],
    "seeds": [0, 1],
    "model": {"base_width": 8},
    "training": {"steps": 30, "batch_size": 32, "log_every": 10, "checkpoint_every": 10},
    "ema": {"window_start": 2, "window_end": 10, "ramp_steps": 10, "tau_start": 1, "tau_end": 3},
    "decomposition": {"enabled": True, "topk": [4], "max_components": 12},
    "analysis": {"bootstrap": {"n": 20, "level": 0.9, "seed": 0}},
    "samplewise": {"examples": 2, "example_components": 6},
}


def tiny_cfg(**study) -> dict:
    from hptransfer.config.defaults import deep_merge

    return load_config({"corpora": {}, "studies": {"s": deep_merge(TINY, study)}})


def tiny_run_cfg(width=16, lr=0.1, seed=0, **study) -> dict:
    cfg = tiny_cfg(**study)
    return run_config(cfg, RunKey("s", "mup", width, "lr", format_value(lr), seed))


# ------------------------------------------------------------------------ the two checks (item 6)


def _tiny_model_and_data(d_in=3, width=8, classes=3, P=7, seed=0):
    torch.manual_seed(seed)
    net = build_two_layer(d_in, width, classes, False, Parametrization.from_dict(MUP), 4, seed).double()
    x = torch.randn(P, d_in, dtype=torch.float64)
    y = torch.randint(0, classes, (P,))
    return net, x, y


def _captured(net, x, y):
    """(x_i, e_i) per layer from ONE backward pass of the mean loss, e scaled by P, and G = ∇L."""
    net.zero_grad()
    with capture_linear_io(net) as store:
        loss = F.cross_entropy(net(x), y)
        loss.backward()
    io = {name: (inp, out.grad * x.shape[0]) for name, (inp, out) in store.items()}
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    return io, grads


def _explicit_per_sample_grads(net, x, y):
    """G_i for every parameter by a loop of per-example backward passes."""
    out = {n: [] for n, _ in net.named_parameters()}
    for i in range(x.shape[0]):
        net.zero_grad()
        F.cross_entropy(net(x[i : i + 1]), y[i : i + 1]).backward()
        for n, p in net.named_parameters():
            out[n].append(p.grad.clone())
    return {n: torch.stack(v) for n, v in out.items()}


@pytest.mark.parametrize("name", ["fc1.weight", "fc2.weight"])
def test_factorised_components_equal_explicit_per_sample_gradient_form(name):
    net, x, y = _tiny_model_and_data()
    io, grads = _captured(net, x, y)
    G_i = _explicit_per_sample_grads(net, x, y)[name]  # (P, out, in)
    assert torch.allclose(G_i.mean(0), grads[name], atol=1e-12)
    row = net.row_version(name)
    dW = torch.randn_like(grads[name])
    _, U = alignment_eigh(grads[name], dW, row)  # full orthonormal basis
    s = U.shape[0]
    if row:  # u_jᵀ G_i δWᵀ u_j
        explicit = torch.einsum("aj,pab,cb,cj->pj", U, G_i, dW, U)
    else:  # u_jᵀ G_iᵀ δW u_j
        explicit = torch.einsum("bj,pab,ac,cj->pj", U, G_i, dW, U)
    x_l, e_l = io[name]
    fact = per_sample_components(x_l, e_l, dW, row, s, eigvecs=U)
    torch.testing.assert_close(fact, explicit, rtol=1e-10, atol=1e-12)
    # the compact eigenbasis (span of G and δW) gives the same components, zeros beyond it
    _, Uc = compact_alignment_eigh(grads[name], dW, row)
    compact = per_sample_components(x_l, e_l, dW, row, Uc.shape[1], eigvecs=Uc)
    torch.testing.assert_close(compact, explicit[:, : Uc.shape[1]], rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(
        explicit[:, Uc.shape[1] :], torch.zeros_like(explicit[:, Uc.shape[1] :]), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("name", ["fc1.weight", "fc2.weight"])
def test_sum_over_components_averaged_over_samples_is_the_layer_dphi(name):
    net, x, y = _tiny_model_and_data(seed=3)
    io, grads = _captured(net, x, y)
    dW = torch.randn_like(grads[name])
    row = net.row_version(name)
    lam, U = alignment_eigh(grads[name], dW, row)
    x_l, e_l = io[name]
    dpsi = per_sample_components(x_l, e_l, dW, row, U.shape[1], eigvecs=U)
    dphi = float((grads[name] * dW).sum())
    assert float(dpsi.sum(1).mean()) == pytest.approx(dphi, rel=1e-10, abs=1e-14)
    # per component: (1/P) Σ_i (δψ)_ij = λ_j; all components at once: per_sample_total
    torch.testing.assert_close(dpsi.mean(0), lam, rtol=1e-9, atol=1e-13)
    torch.testing.assert_close(per_sample_total(x_l, e_l, dW), dpsi.sum(1), rtol=1e-9, atol=1e-13)


def test_eigenvector_accumulator_keeps_phi_and_gives_the_eigenvectors():
    from hptransfer.decomposition.accumulator import SpectrumAccumulator

    net, x, y = _tiny_model_and_data(d_in=3, width=10, seed=5)
    _, grads = _captured(net, x, y)
    deltas = {n: torch.randn_like(g) for n, g in grads.items()}
    specs = [ParamSpec(n, "matrix", net.row_version(n)) for n in grads]
    plain, mine = SpectrumAccumulator(10, specs), EigenvectorAccumulator(10, specs)
    plain.update(grads, deltas)
    mine.update(grads, deltas)
    np.testing.assert_allclose(mine.phi_k, plain.phi_k, rtol=1e-10, atol=1e-14)
    for spec in specs:
        lam, U = compact_alignment_eigh(grads[spec.name], deltas[spec.name], spec.row)
        V = mine.eigvecs[spec.name]
        assert V.shape == U.shape
        torch.testing.assert_close(V.mT @ V, torch.eye(V.shape[1], dtype=V.dtype), rtol=0, atol=1e-10)
        # same directions up to sign: |<u_j, v_j>| = 1 (distinct |λ| for random data)
        torch.testing.assert_close((U * V).sum(0).abs(), torch.ones(U.shape[1], dtype=U.dtype), rtol=0, atol=1e-8)


def test_mci_bounds():
    psi = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, -2.0], [1, 1, 1, 1]])
    np.testing.assert_allclose(mean_component_index(psi).numpy(), [1.0, 4.0, 2.5])


# ------------------------------------------------------------------------------------------ data


def test_digits_split_is_deterministic_disjoint_and_normalised():
    ds = {"source": "digits", "val_size": 300, "split_seed": 0}
    a, b = load_images(ds), load_images(ds)
    for name in ("train_x", "train_y", "val_x", "val_y", "mean", "std"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.val_x.shape == (300, 1, 8, 8) and a.train_x.shape == (1497, 1, 8, 8)
    assert a.d_in == 64 and a.n_classes == 10
    assert abs(float(a.train_x.mean())) < 1e-5 and float(a.train_x.std()) == pytest.approx(1.0, rel=1e-4)
    other = load_images({**ds, "split_seed": 1})
    assert not np.array_equal(other.val_y, a.val_y)
    raw = a.raw_val([0, 1])
    assert raw.shape == (2, 8, 8, 1) and raw.min() >= 0 and raw.max() <= 1


def test_digits_file_equals_sklearn_load_digits():
    from sklearn.datasets import load_digits

    images, target = digits_arrays()
    d = load_digits()
    np.testing.assert_array_equal(images, d.images)
    np.testing.assert_array_equal(target, d.target)


def _write_cifar(root, n=6, seed=0):
    rng = np.random.default_rng(seed)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{i}_{j}.png".encode() for j in range(n)],
        }
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def test_cifar_batches_load_without_network(tmp_path):
    _write_cifar(tmp_path)
    data = load_images({"source": "cifar10", "path": str(tmp_path), "val_size": 4})
    assert data.train_x.shape == (30, 3, 32, 32) and data.val_x.shape == (4, 3, 32, 32)
    assert data.d_in == 3072 and data.classes[0] == "airplane"
    x, y = read_cifar_batch(tmp_path / "test_batch")
    # channel-major rows: the first 1024 bytes are the red plane
    with open(tmp_path / "test_batch", "rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    np.testing.assert_allclose(x[0, 0].ravel(), raw[b"data"][0, :1024] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(data.raw_val([0])[0], np.moveaxis(x[0], 0, -1), atol=1e-5)


def test_cifar_loader_refuses_foreign_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("boo",))

    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        read_cifar_batch(tmp_path / "test_batch")


def test_training_batches_depend_on_seed_and_step_only():
    cfg = tiny_run_cfg()
    a, b = ImageTask(cfg), ImageTask(cfg)
    for step in (0, 5, 3):  # out of order: no hidden state
        xa, ta = a.training_batch(step)
        xb, tb = b.training_batch(step)
        torch.testing.assert_close(xa, xb, rtol=0, atol=0)
        torch.testing.assert_close(ta, tb, rtol=0, atol=0)
    assert not torch.equal(a.training_batch(0)[0], a.training_batch(1)[0])
    x, t = a.training_batch(2)
    assert x.shape == (32, 64) and t.shape == (32, 10)
    torch.testing.assert_close(t.sum(1), torch.ones(32))  # mixup targets are probabilities
    # one epoch visits distinct images; the validation batch is clean and fixed
    idx = torch.cat([a._indices(s) for s in range(a.steps_per_epoch)])
    assert len(torch.unique(idx)) == len(idx)
    plain = ImageTask(tiny_run_cfg(dataset={"augment": {"mixup_alpha": 0, "crop_scale": None}}))
    x0, t0 = plain.training_batch(0)
    torch.testing.assert_close(x0, plain.train_x[plain._indices(0)], rtol=0, atol=0)
    assert set(t0.unique().tolist()) == {0.0, 1.0}


# ---------------------------------------------------------------------------------------- config


def test_samplewise_config_defaults_and_run_config():
    cfg = tiny_cfg()
    s = cfg["studies"]["s"]
    assert s["optimizer"]["name"] == "sgd" and s["optimizer"]["momentum"] == 0.9
    assert s["training"]["schedule"] == {"kind": "wsd", "warmup": 0.04, "cooldown": 0.2}
    rc = tiny_run_cfg(width=8, lr=0.2)
    assert rc.corpus is None and rc.dataset.source == "digits" and rc.is_image_run
    assert rc.model.to_dict() == {"width": 8, "base_width": 8, "init_std": 1.0, "depth": 1, "base_depth": 1}
    assert rc.optimizer.lr == 0.2 and rc.decomposition.max_components == 12


@pytest.mark.parametrize(
    "study, key",
    [
        ({"dataset": {"source": "cifar10"}}, "studies.s.dataset.path"),
        ({"dataset": {"source": "cifar10", "path": "/nonexistent"}}, "studies.s.dataset.path"),
        ({"samplewise": {"reference_lr": 0.3}}, "studies.s.samplewise.reference_lr"),
        ({"samplewise": {"reference_width": 32}}, "studies.s.samplewise.reference_width"),
        ({"optimizer": {"name": "muon"}}, "studies.s.optimizer.name"),
        ({"dataset": {"source": "mnist"}}, "studies.s.dataset.source"),
        ({"decomposition": {"max_comps": 3}}, "studies.s.decomposition.max_comps"),
        ({"parametrizations": ["nope"]}, "studies.s.parametrizations: unknown table 'nope'"),
    ],
)
def test_bad_samplewise_config_names_the_key(study, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tiny_cfg(**study)


def test_disabled_cifar_study_may_name_a_missing_path(tmp_path):
    cfg = tiny_cfg(enabled=False, dataset={"source": "cifar10", "path": str(tmp_path / "later")})
    assert cfg["studies"]["s"]["dataset"]["path"].endswith("later")
    _write_cifar(tmp_path)
    cfg = tiny_cfg(dataset={"source": "cifar10", "path": str(tmp_path)})
    assert run_config(cfg, RunKey("s", "mup", 8, "lr", "0.1", 0)).dataset.path == str(tmp_path)


# ------------------------------------------------------------------------------- end-to-end runs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sw") / "run.nc"
    return train_run(tiny_run_cfg(), "", out), out


def test_run_dataset_holds_components_and_checks_hold(tiny_run):
    ds, path = tiny_run
    assert ds.attrs["status"] == "ok" and ds.attrs["dataset"] == "digits"
    assert ds["psi"].dims == ("sample", "component") and ds["psi"].shape == (100, 12)
    assert ds["loss_val_ema"].attrs["units"] == "nats/example"
    mci = ds["mci"].values
    assert np.all((mci >= 1) & (mci <= 12)) and np.all(mci <= ds.attrs["width"])
    phi = ds["phi_k"].isel(analysis_step=-1).values
    # mean over samples of the all-component per-sample change is the run's φ (= φ^n) ...
    assert float(ds["psi_total"].mean()) == pytest.approx(phi[-1], rel=1e-6)
    # ... and the running sum over components of the sample mean of ψ is φ^j
    np.testing.assert_allclose(np.cumsum(ds["psi"].mean("sample").values), phi[:12], rtol=1e-6, atol=1e-9)
    assert float(ds["val_loss_per_sample"].mean()) == pytest.approx(float(ds["final_loss_ema"]), rel=1e-5)
    assert open_dataset(path)["psi"].shape == (100, 12)


def test_resumed_run_is_bit_identical(tmp_path, tiny_run):
    cfg = tiny_run_cfg()
    ck = tmp_path / "checkpoint.pt"

    class Stop(Exception):
        pass

    run = make_run(cfg, "", torch.device("cpu"))
    original = run.train_step

    def train_step(step):
        if step == 17:  # after the checkpoint at step 10, mid-way between EMA points
            raise Stop
        return original(step)

    run.train_step = train_step
    with pytest.raises(Stop):
        run.fit(ck)
    assert ck.exists()
    resumed = make_run(cfg, "", torch.device("cpu"))
    assert isinstance(resumed, SamplewiseRun) and resumed.try_resume(ck) and resumed.step == 10
    resumed.fit(ck)
    xr.testing.assert_identical(resumed.to_dataset(), tiny_run[0])


def test_no_decomposition_still_stores_per_sample_losses(tmp_path):
    cfg = tiny_run_cfg(decomposition={"enabled": False})
    ds = train_run(cfg, "", tmp_path / "run.nc")
    assert not {"psi", "mci", "phi_k", "component"} & set(ds.variables)
    assert ds["val_loss_per_sample"].shape == (100,)
    assert float(ds["val_loss_per_sample"].mean()) == pytest.approx(float(ds["final_loss_ema"]), rel=1e-5)


# ------------------------------------------------------------------------------------- analyses


def _mci_array(values: np.ndarray, widths=(8, 16), lrs=(0.1,), seeds=(0, 1)) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=("width", "lr", "seed", "sample"),
        coords={"width": list(widths), "lr": list(lrs), "seed": list(seeds), "sample": np.arange(values.shape[-1])},
    )


def test_overlap_metric_on_planted_sets():
    P = 100  # 5% → 5 examples
    rng = np.random.default_rng(0)
    base = rng.uniform(2, 3, P)
    v = np.empty((2, 1, 2, P))
    # width 8, both seeds: examples 0-4 hardest, 95-99 easiest
    for s in range(2):
        m = base.copy()
        m[:5], m[95:] = 10 + np.arange(5), 0.5
        v[0, 0, s] = m
    # width 16 seed 0: same hard set; seed 1: hard set 10-14 (disjoint); easiest sets identical
    m = base.copy()
    m[:5], m[95:] = 10, 0.5
    v[1, 0, 0] = m
    m = base.copy()
    m[10:15], m[95:] = 10, 0.5
    v[1, 0, 1] = m
    ov = overlap_matrices(_mci_array(v), 0.05).isel(lr=0)
    hard, easy, pairs = ov["overlap_hard"].values, ov["overlap_easy"].values, ov["overlap_pairs"].values
    assert hard[0, 0] == 1.0 and pairs[0, 0] == 2  # same width: only s1 != s2 pairs
    assert hard[1, 1] == 0.0  # width 16 seeds 0, 1 disjoint
    assert hard[0, 1] == hard[1, 0] == 0.5  # (0,0),(1,0) overlap; (0,1),(1,1) not
    assert pairs[0, 1] == 4
    np.testing.assert_array_equal(easy, np.ones((2, 2)))
    # one seed: no pair at equal widths
    one = overlap_matrices(_mci_array(v[:, :, :1], seeds=(0,)), 0.05).isel(lr=0)
    assert np.isnan(one["overlap_hard"].values[0, 0]) and one["overlap_hard"].values[0, 1] == 1.0
    # NaN MCI (diverged run) is left out
    v2 = v.copy()
    v2[1, 0, 1] = np.nan
    ov2 = overlap_matrices(_mci_array(v2), 0.05).isel(lr=0)
    assert ov2["overlap_pairs"].values[0, 1] == 2 and ov2["overlap_hard"].values[0, 1] == 1.0


def test_extreme_indices_sizes_and_ties():
    mci = np.array([3.0, 1.0, 1.0, 5.0, np.nan, 2.0, 5.0, 4.0])
    np.testing.assert_array_equal(extreme_indices(mci, 0.25, "low"), [1, 2])
    np.testing.assert_array_equal(extreme_indices(mci, 0.25, "high"), [3, 6])
    assert extreme_indices(mci, 0.01, "high").size == 1


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Every run of TINY (2 widths × 3 LRs × 2 seeds), collected into a sweep."""
    root = tmp_path_factory.mktemp("study")
    cfg = tiny_cfg()
    study = cfg["studies"]["s"]
    paths = []
    for w in study["widths"]:
        for lr in study["grid"]:
            for s in study["seeds"]:
                key = RunKey("s", "mup", w, "lr", format_value(lr), s)
                paths.append(root / f"n{w}_lr{lr}_s{s}.nc")
                train_run(run_config(cfg, key), "", paths[-1])
    sweep = collect_study(paths, "s", study)
    return sweep, paths, study, root


def test_collect_stacks_per_sample_variables(tiny_study):
    sweep, _, _, _ = tiny_study
    assert sweep["mci"].dims == ("width", "lr", "seed", "sample")
    assert sweep["val_loss_per_sample"].shape == (2, 3, 2, 100)
    assert "psi" not in sweep  # stays in the run datasets (sample × component per run)


def test_samplewise_analysis_subsets_and_figures(tiny_study, tmp_path):
    import importlib
    import io

    import matplotlib.pyplot as plt

    from hptransfer.analysis import analyze_kappa
    from hptransfer.analysis.samplewise import reference_run_path
    from hptransfer.figures.style import figure_style

    sweep, paths, study, _ = tiny_study
    settings = settings_of(study)
    width, lr, seed = reference_run(sweep, settings)
    assert width == 8 and seed == 0
    ref = open_dataset(reference_run_path([str(p) for p in paths], sweep, settings))
    assert int(ref.attrs["width"]) == 8 and float(ref.attrs["hp_value"]) == lr
    data = load_images(study["dataset"] | {"val_size": 100})
    out = analyze_samplewise(sweep, ref, settings, data.raw_val)
    sw = out["samplewise"]
    assert int(sw["easy"].sum()) == 25 and int(sw["hard"].sum()) == 5
    easy_mci, hard_mci = sw["mci_reference"].values[sw["easy"].values], sw["mci_reference"].values[sw["hard"].values]
    assert easy_mci.max() <= np.sort(sw["mci_reference"].values)[24] and hard_mci.min() >= easy_mci.max()
    assert sw["example_image"].shape == (2, 2, 8, 8, 1) and sw["example_psi"].shape == (2, 2, 6)
    assert sw["example_mci"].values[0].max() <= sw["example_mci"].values[1].min()
    assert sw["overlap_hard"].dims == ("lr", "width_a", "width_b")
    # the subset metric is the subset mean of the per-example final loss
    easy = out["sweep_easy"]
    idx = np.flatnonzero(sw["easy"].values)
    expected = sweep["val_loss_per_sample"].isel(sample=idx).mean("sample")
    np.testing.assert_allclose(easy["final_loss_ema"].values, expected.where(~sweep["diverged"]).values)
    assert easy.attrs["hp"] == "lr" and easy.attrs["metric"] == "final_loss_ema"

    files = {
        "sweep": sweep,
        "transfer": analyze_transfer(sweep, study["analysis"]),
        "kappa": analyze_kappa(sweep, study["analysis"]),
        **out,
    }
    for subset in ("easy", "hard"):
        files[f"transfer_{subset}"] = analyze_transfer(out[f"sweep_{subset}"], study["analysis"])
    for name, ds in files.items():
        write_dataset(ds, tmp_path / f"{name}.nc")
    figures = {
        "sweep_scaling": ("sweep", "transfer"),
        "mci_histogram": ("samplewise",),
        "mci_examples": ("samplewise",),
        "subset_sweep_scaling": ("sweep_easy", "transfer_easy", "sweep_hard", "transfer_hard"),
        "kappa": ("kappa", "sweep"),
        "topk_curves": ("kappa", "sweep"),
        "residual_curves": ("kappa", "sweep"),
    }
    for module, names in figures.items():  # drawn from the files, as the figure rules do (PNG only)
        drawer = importlib.import_module(f"hptransfer.figures.{module}")
        inputs = {n: open_dataset(tmp_path / f"{n}.nc") for n in names}
        with figure_style():
            fig = drawer.draw(inputs, {})
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=40)
        plt.close(fig)
        assert len(buf.getvalue()) > 1000
        # the report caption's statements compute on the same files
        lines = drawer.findings(inputs, {}) if hasattr(drawer, "findings") else ["(none)"]
        assert lines and all(isinstance(line, str) and line for line in lines), (module, lines)


def test_subset_sweep_marks_diverged_runs_nan(tiny_study):
    sweep, _, _, _ = tiny_study
    sw = sweep.copy()
    sw["diverged"] = sw["diverged"].copy()
    sw["diverged"][0, 0, 0] = True
    sub = subset_sweep(sw, np.arange(10), "hard", widths=[16], fraction=0.1)
    assert list(sub["width"].values) == [16]
    sub = subset_sweep(sw, np.arange(10), "hard")
    assert np.isnan(sub["final_loss_ema"].values[0, 0, 0])


# ----------------------------------------------------------------------------- LM path unchanged

# Values of the tiny LM run (conftest TINY_STUDY/TINY_CORPUS, Adam, decomposition on) recorded
# before the engine learned about tasks; its run.nc was byte-identical before and after. Update
# these only for an intended change of the LM training path.
LM_GOLDEN = {
    "loss_train": [6.170536518096924, 6.080285549163818, 4.108422756195068],
    "final_loss_ema": 4.372914791107178,
    "phi_k": [-1.4455622402780188, -1.7590075753751444, -1.9004636642110102],
    "loss_val_ema_5": 5.897453308105469,
}


def test_lm_training_path_unchanged(tiny_corpus, make_run_config, tmp_path):
    ds = train_run(make_run_config(), tiny_corpus, tmp_path / "run.nc")
    assert ds["loss_train"].attrs["units"] == "nats/token" and "vocab_size" in ds.attrs
    assert not {"psi", "mci", "val_loss_per_sample", "sample"} & set(ds.variables)
    assert list(ds.attrs) == [
        "status",
        "diverged_step",
        "width",
        "depth",
        "seed",
        "parametrization",
        "optimizer",
        "lr",
        "hp",
        "hp_value",
        "vocab_size",
        "precision",
        "compile",
        "config",
    ]
    assert (ds.attrs["precision"], ds.attrs["compile"]) == ("fp32", "off")  # what "auto" means on a CPU
    np.testing.assert_allclose(ds["loss_train"].values[[0, 1, 29]], LM_GOLDEN["loss_train"], rtol=1e-5)
    np.testing.assert_allclose(float(ds["final_loss_ema"]), LM_GOLDEN["final_loss_ema"], rtol=1e-5)
    np.testing.assert_allclose(ds["phi_k"].isel(analysis_step=-1).values[[0, 3, -1]], LM_GOLDEN["phi_k"], rtol=1e-4)
    np.testing.assert_allclose(float(ds["loss_val_ema"][5]), LM_GOLDEN["loss_val_ema_5"], rtol=1e-5)
