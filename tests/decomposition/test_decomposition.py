"""Tests of the trajectory decomposition core (spec §4.2 and §4.6)."""

import numpy as np
import pytest
import torch

from hptransfer.decomposition.accumulator import ParamSpec, SpectrumAccumulator, param_specs
from hptransfer.decomposition.samplewise import mean_component_index, per_sample_components
from hptransfer.decomposition.spectra import alignment_eigenvalues, alignment_eigh

torch.set_num_threads(1)


def _rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)


def _inner64(G, dW):
    return float((G.double() * dW.double()).sum())


def _explicit_spectrum(G, dW, row):
    """Reference: build S literally from the spec formula, full eigvalsh, sort by |λ|."""
    G, dW = G.double(), dW.double()
    S = 0.5 * (G @ dW.T + dW @ G.T) if row else 0.5 * (G.T @ dW + dW.T @ G)
    lam = torch.linalg.eigvalsh(S)
    return lam[torch.argsort(lam.abs(), descending=True)]


# ---------------------------------------------------------------- alignment spectra


@pytest.mark.parametrize("row", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(24, 16), (16, 24), (3, 40)])  # (3, 40): low-rank path for row=False
def test_eigenvalues_sum_to_inner_product(row, dtype, shape):
    G, dW = _rand(*shape, seed=1, dtype=dtype), _rand(*shape, seed=2, dtype=dtype)
    lam = alignment_eigenvalues(G, dW, row=row)
    assert lam.dtype == torch.float64
    assert lam.shape == (shape[0] if row else shape[1],)
    scale = float(G.double().norm() * dW.double().norm())
    assert abs(float(lam.sum()) - _inner64(G, dW)) <= 1e-13 * scale


def test_low_rank_alignment_reports_exact_zeros_beyond_rank():
    # a 2×40 readout: S is 40×40 of rank ≤ 4, solved as a 4×4 problem, the rest exactly 0
    G, dW = _rand(2, 40, seed=12), _rand(2, 40, seed=13)
    lam = alignment_eigenvalues(G, dW)
    assert lam.shape == (40,) and torch.all(lam[4:] == 0) and torch.all(lam[:4] != 0)
    assert torch.allclose(lam, _explicit_spectrum(G, dW, row=False), atol=1e-12)


def test_bfloat16_inputs_are_computed_in_float64():
    G, dW = _rand(8, 12, seed=3, dtype=torch.bfloat16), _rand(8, 12, seed=4, dtype=torch.bfloat16)
    lam = alignment_eigenvalues(G, dW)
    assert lam.dtype == torch.float64
    # the bf16 values are exact in float64, so the trace identity holds to float64 precision
    assert float(lam.sum()) == pytest.approx(_inner64(G, dW), rel=1e-12, abs=1e-12)


def test_row_and_normal_versions_share_the_trace_but_not_the_spectrum():
    G, dW = _rand(10, 6, seed=5), _rand(10, 6, seed=6)
    normal, rowv = alignment_eigenvalues(G, dW), alignment_eigenvalues(G, dW, row=True)
    assert normal.shape == (6,) and rowv.shape == (10,)
    assert float(normal.sum()) == pytest.approx(float(rowv.sum()), rel=1e-12)
    assert not torch.allclose(normal[:3], rowv[:3])


@pytest.mark.parametrize("row", [False, True])
@pytest.mark.parametrize("factor", [-0.3, 2.0])
def test_step_proportional_to_gradient_gives_squared_singular_values(row, factor):
    G = _rand(12, 9, seed=7)
    lam = alignment_eigenvalues(G, factor * G, row=row)
    sigma2 = torch.linalg.svdvals(G) ** 2  # descending
    k = torch.arange(1, 6)
    top = lam.cumsum(0)[k - 1]
    assert torch.allclose(top, factor * sigma2.cumsum(0)[k - 1], rtol=1e-12)
    assert torch.all(torch.sign(lam[: len(sigma2)]) == np.sign(factor))


def test_sorted_by_magnitude_with_signs_kept():
    # G = I, δW = diag(d) makes S = diag(d): eigenvalues are d, in a known |·| order
    d = torch.tensor([1.0, -3.0, 2.0, -0.5, 0.25], dtype=torch.float64)
    lam = alignment_eigenvalues(torch.eye(5), torch.diag(d))
    assert lam.tolist() == pytest.approx([-3.0, 2.0, 1.0, -0.5, 0.25], abs=1e-14)


@pytest.mark.parametrize("row", [False, True])
@pytest.mark.parametrize("shape", [(7, 5), (2, 9)])
def test_matches_explicit_formula_and_batches(row, shape):
    G, dW = _rand(3, 2, *shape, seed=8), _rand(3, 2, *shape, seed=9)
    batched = alignment_eigenvalues(G, dW, row=row)
    for i in range(3):
        for j in range(2):
            one = alignment_eigenvalues(G[i, j], dW[i, j], row=row)
            ref = _explicit_spectrum(G[i, j], dW[i, j], row)
            assert torch.allclose(batched[i, j], one, rtol=1e-12, atol=1e-13)
            assert torch.allclose(one, ref, rtol=1e-10, atol=1e-12)


def test_eigh_matches_eigenvalues_and_is_orthonormal():
    G, dW = _rand(9, 6, seed=10), _rand(9, 6, seed=11)
    for row in (False, True):
        lam, U = alignment_eigh(G, dW, row=row)
        assert torch.allclose(lam, alignment_eigenvalues(G, dW, row=row), atol=1e-12)
        S = 0.5 * (G @ dW.T + dW @ G.T) if row else 0.5 * (G.T @ dW + dW.T @ G)
        assert torch.allclose(U.T @ U, torch.eye(U.shape[0], dtype=torch.float64), atol=1e-12)
        assert torch.allclose(S @ U, U * lam, atol=1e-12)


# ---------------------------------------------------------------- accumulator


def _toy_params(width=6, seed=0):
    """Shapes like a tiny transformer block: normal, row-version, embedding, low-rank readout, vectors."""
    shapes = {
        "wq": (width, width),
        "up": (4 * width, width),
        "down": (width, 4 * width),
        "emb": (11, width),
        "head": (2, width),
        "gain": (width,),
        "bias": (3,),
    }
    grads = {k: _rand(*s, seed=seed * 100 + i) for i, (k, s) in enumerate(shapes.items())}
    deltas = {k: _rand(*s, seed=seed * 100 + 50 + i) for i, (k, s) in enumerate(shapes.items())}
    specs = [
        ParamSpec("wq"),
        ParamSpec("up"),
        ParamSpec("down", row=True),
        ParamSpec("emb"),
        ParamSpec("head"),
        ParamSpec("gain", "vector"),
        ParamSpec("bias", "vector"),
    ]
    return specs, grads, deltas


def _reference_curve(specs, grads, deltas, width):
    total = np.zeros(width)
    for s in specs:
        if s.kind == "vector":
            total += _inner64(grads[s.name], deltas[s.name])
        else:
            c = alignment_eigenvalues(grads[s.name], deltas[s.name], s.row).cumsum(0).numpy()
            total += np.concatenate([c, np.full(width - len(c), c[-1])])
    return total


def test_accumulator_sums_layers_and_steps():
    width = 6
    acc = SpectrumAccumulator(width, _toy_params(width)[0], topk=[2, 6, 9])
    expected_phi_k, expected_phi = np.zeros(width), 0.0
    for t in range(4):
        specs, grads, deltas = _toy_params(width, seed=t)
        step = acc.update(grads, deltas)
        exact = sum(_inner64(grads[k], deltas[k]) for k in grads)
        assert step.dphi == step.dphi_k[-1]
        assert step.dphi == pytest.approx(exact, rel=1e-12)
        ref = _reference_curve(specs, grads, deltas, width)
        assert np.allclose(step.dphi_k, ref, rtol=1e-10, atol=1e-12)
        assert step.dphi_topk[:2] == pytest.approx([step.dphi_k[1], step.dphi_k[5]])
        assert np.isnan(step.dphi_topk[2])  # k = 9 > width
        expected_phi_k += step.dphi_k
        expected_phi += exact
    assert acc.n_steps == 4
    assert np.allclose(acc.phi_k, expected_phi_k, rtol=1e-14)
    assert acc.phi_k[-1] == pytest.approx(expected_phi, rel=1e-12)
    assert acc.phi_k[-1] == pytest.approx(acc.dphi_log.sum(), rel=1e-14)
    assert acc.phi_topk_log.shape == (4, 3)
    assert acc.phi_topk_log[-1, 0] == acc.phi_k[1]
    assert acc.phi_log[-1] == pytest.approx(acc.phi_k[-1], rel=1e-14)


def test_vector_parameters_count_in_every_k():
    width = 5
    G, dW = _rand(width, width, seed=20), _rand(width, width, seed=21)
    g, v = _rand(7, seed=22), _rand(7, seed=23)
    only_matrix = SpectrumAccumulator(width, [ParamSpec("w")]).update({"w": G}, {"w": dW})
    only_vector = SpectrumAccumulator(width, [ParamSpec("b", "vector")]).update({"b": g}, {"b": v})
    both = SpectrumAccumulator(width, [ParamSpec("w"), ParamSpec("b", "vector")]).update(
        {"w": G, "b": g}, {"w": dW, "b": v}
    )
    assert np.all(only_vector.dphi_k == _inner64(g, v))
    assert np.allclose(both.dphi_k - only_matrix.dphi_k, _inner64(g, v), rtol=0, atol=1e-14)


def test_smaller_alignment_matrix_is_padded_with_its_total():
    width = 8
    G, dW = _rand(10, 5, seed=30), _rand(10, 5, seed=31)  # S is 5×5 < width (like a per-head matrix)
    step = SpectrumAccumulator(width, [ParamSpec("head0")]).update({"head0": G}, {"head0": dW})
    cums = alignment_eigenvalues(G, dW).cumsum(0).numpy()
    assert np.allclose(step.dphi_k[:4], cums[:4], rtol=1e-12)
    assert np.all(step.dphi_k[4:] == step.dphi_k[-1])
    assert step.dphi_k[-1] == pytest.approx(_inner64(G, dW), rel=1e-13)


def test_larger_alignment_matrix_is_an_error_naming_the_parameter():
    width = 4
    G = _rand(10, width, seed=32)  # an embedding V×n decomposed on the wrong (vocabulary) side
    acc = SpectrumAccumulator(width, [ParamSpec("tok_embedding", row=True)])
    with pytest.raises(ValueError, match=r"'tok_embedding'.*10×10.*width 4.*row=False"):
        acc.update({"tok_embedding": G}, {"tok_embedding": G})
    assert acc.n_steps == 0 and np.all(acc.phi_k == 0)


def test_keys_must_match_specs():
    acc = SpectrumAccumulator(3, [ParamSpec("w")])
    w = torch.ones(3, 3)
    with pytest.raises(ValueError, match="missing.*'w'"):
        acc.update({}, {"w": w})
    with pytest.raises(ValueError, match="unexpected.*'extra'"):
        acc.update({"w": w, "extra": w}, {"w": w})


def test_batch_splitting_does_not_change_the_result():
    width = 6
    specs, grads, deltas = _toy_params(width, seed=3)
    big = SpectrumAccumulator(width, specs).update(grads, deltas)
    tiny = SpectrumAccumulator(width, specs, max_batch_bytes=1).update(grads, deltas)
    assert np.allclose(big.dphi_k, tiny.dphi_k, rtol=1e-13, atol=1e-15)


def test_state_dict_round_trip_continues_exactly(tmp_path):
    width = 6
    specs = _toy_params(width)[0]
    straight = SpectrumAccumulator(width, specs, topk=[3])
    first = SpectrumAccumulator(width, specs, topk=[3])
    for t in range(3):
        straight.update(*_toy_params(width, seed=t)[1:])
        first.update(*_toy_params(width, seed=t)[1:])
    torch.save(first.state_dict(), tmp_path / "acc.pt")
    resumed = SpectrumAccumulator(width, specs, topk=[3])
    resumed.load_state_dict(torch.load(tmp_path / "acc.pt", weights_only=True))
    for t in range(3, 6):
        straight.update(*_toy_params(width, seed=t)[1:])
        resumed.update(*_toy_params(width, seed=t)[1:])
    assert np.array_equal(resumed.phi_k, straight.phi_k)
    assert np.array_equal(resumed.dphi_log, straight.dphi_log)
    assert np.array_equal(resumed.phi_topk_log, straight.phi_topk_log)
    with pytest.raises(ValueError, match="topk"):
        SpectrumAccumulator(width, specs, topk=[4]).load_state_dict(first.state_dict())


def test_param_specs_follow_the_width_side_rule():
    width = 8
    shapes = [("q", (8, 8)), ("up", (32, 8)), ("down", (8, 32)), ("emb", (100, 8)), ("norm", (8,))]
    specs = {s.name: s for s in param_specs(shapes, width)}
    assert specs["q"].row is False and specs["up"].row is False and specs["emb"].row is False
    assert specs["down"] == ParamSpec("down", "matrix", row=True)
    assert specs["norm"].kind == "vector"
    with pytest.raises(ValueError, match="'odd'"):
        param_specs([("odd", (3, 5))], width)


# ---------------------------------------------------------------- sample-wise decomposition


class _MLP(torch.nn.Module):
    """CIFAR-style two-layer MLP without biases: first layer n×d (row version), readout c×n."""

    def __init__(self, d=7, n=5, c=3):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(d, n, bias=False, dtype=torch.float64)
        self.fc2 = torch.nn.Linear(n, c, bias=False, dtype=torch.float64)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def _per_sample_grads(model, x, y):
    """Explicit per-sample gradients via torch.func: {name: (P, out, in)}."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        out = torch.func.functional_call(model, p, (xi[None],))
        return torch.nn.functional.cross_entropy(out, yi[None])

    return torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)


def _layer_signals(model, x, y):
    """Layer inputs x_i and e_i = ∂ℓ_i/∂y_i for both layers (backprop of Σ_i ℓ_i, not the mean)."""
    captured = {}

    def keep(name):
        def hook(module, inputs, output):
            output.retain_grad()
            captured[name] = (inputs[0].detach(), output)

        return hook

    handles = [model.fc1.register_forward_hook(keep("fc1")), model.fc2.register_forward_hook(keep("fc2"))]
    torch.nn.functional.cross_entropy(model(x), y, reduction="sum").backward()
    for h in handles:
        h.remove()
    return {k: (xin, out.grad.detach()) for k, (xin, out) in captured.items()}


@pytest.mark.parametrize("layer,row", [("fc1", True), ("fc2", False), ("fc1", False)])
def test_factorised_components_equal_explicit_per_sample_gradients(layer, row):
    P = 9
    model = _MLP()
    x, y = _rand(P, 7, seed=40), torch.arange(P) % 3
    Gi = _per_sample_grads(model, x, y)[f"{layer}.weight"]  # (P, out, in)
    G = Gi.mean(0)
    dW = -0.1 * G + 0.05 * _rand(*G.shape, seed=41)  # a step aligned with, but not ∝, the gradient
    lam, U = alignment_eigh(G, dW, row)
    s = U.shape[0]
    # explicit (δψ)_ij = u_jᵀ G_iᵀ δW u_j, or u_jᵀ G_i δWᵀ u_j for the row version
    M = Gi @ dW.T if row else Gi.mT @ dW
    explicit = torch.einsum("sj,pst,tj->pj", U, M, U)

    xin, e = _layer_signals(model, x, y)[layer]
    psi = per_sample_components(xin, e, dW, row=row, n_components=s)
    assert psi.shape == (P, s) and psi.dtype == torch.float64
    assert torch.allclose(psi, explicit, rtol=1e-10, atol=1e-13)
    # components average to the eigenvalues, and all of them to the layer's ⟨G, δW⟩
    assert torch.allclose(psi.mean(0), lam, atol=1e-13)
    assert float(psi.sum(1).mean()) == pytest.approx(_inner64(G, dW), rel=1e-11)
    # truncation keeps the leading columns; precomputed eigenvectors give the same answer
    top = per_sample_components(xin, e, dW, row=row, n_components=2)
    assert torch.allclose(top, psi[:, :2], atol=1e-13)
    given = per_sample_components(xin, e, dW, row=row, n_components=2, eigvecs=U)
    assert torch.allclose(given, psi[:, :2], atol=1e-13)


def test_token_dimension_sums_inside_each_sample():
    P, T, d_in, d_out = 4, 3, 5, 6
    x, e, dW = _rand(P, T, d_in, seed=50), _rand(P, T, d_out, seed=51), _rand(d_out, d_in, seed=52)
    Gi = torch.einsum("pto,pti->poi", e, x)
    G = Gi.mean(0)
    for row in (False, True):
        _, U = alignment_eigh(G, dW, row)
        M = Gi @ dW.T if row else Gi.mT @ dW
        explicit = torch.einsum("sj,pst,tj->pj", U, M, U)
        assert torch.allclose(per_sample_components(x, e, dW, row, U.shape[0]), explicit, atol=1e-12)


def test_mean_component_index():
    psi = _rand(20, 6, seed=60)
    mci = mean_component_index(psi)
    assert mci.shape == (20,) and torch.all((mci >= 1) & (mci <= 6))
    first_only = torch.zeros(3, 6, dtype=torch.float64)
    first_only[:, 0] = torch.tensor([2.0, -1.0, 1e-3])
    assert torch.all(mean_component_index(first_only) == 1.0)
    last_only = torch.zeros(1, 6)
    last_only[0, -1] = -4.0
    assert float(mean_component_index(last_only)[0]) == 6.0
    assert float(mean_component_index(np.array([[1.0, -1.0, 0.0]]))[0]) == pytest.approx(1.5)
    assert float(mean_component_index(np.array([[1.0, 0.0, 3.0]]))[0]) == pytest.approx(2.5)
