"""Figure modules (Figs 2, 4, 5, 6, 8–12, 17, 18, 23, 26, 32) on small synthetic inputs with the real
schemas, and the catalogue's routing of studies to figures.

Sweeps are built here in the layout of collect.py (LM: collect_study; two-layer: collect_batched);
transfer.nc, kappa.nc and rf.nc come from the real analysis functions run on them, so every
figure sees exactly the variables, dims and attrs the workflow produces. Each figure must draw the
expected panels with lines and stars, and render_figure must write non-empty PDF/PNG files whose
bytes are identical across two renders.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PathCollection
from matplotlib.markers import MarkerStyle
from sweeps import make_sweep

from hptransfer.analysis import analyze_kappa, analyze_transfer
from hptransfer.figures import catalogue
from hptransfer.figures.render import render_figure, save_figure
from hptransfer.figures.style import UNIDENTIFIED, figure_style, new_figure, scaling_law_label
from hptransfer.io import write_dataset
from hptransfer.synthetic.rf import rf_study

BOOTSTRAP = {"bootstrap": {"n": 40, "level": 0.9, "seed": 0}}


# ------------------------------------------------------------------------------- synthetic inputs


def lm_sweep(widths=(16, 32, 64), n_grid: int = 7, seeds=(0, 1, 2), steps=(40, 80)) -> xr.Dataset:
    """An LM sweep like collect_study's: a top-k part that is the same at every width (optimum at
    lr = 2^-8.5) plus a width-dependent residual carried by the directions k in (n/2, n]. Width 16
    diverged at the largest learning rate for seed 2."""
    rng = np.random.default_rng(0)
    grid = 2.0 ** np.linspace(-10, -7, n_grid)
    nu = np.log2(grid)
    n_max = max(widths)
    ks = np.arange(1, n_max + 1)
    W, G, S, A, K = len(widths), grid.size, len(seeds), len(steps), n_max
    phi = np.full((W, G, S, A, K), np.nan)
    for i, n in enumerate(widths):
        weights = ks[:n] ** -1.3 / np.sum(np.arange(1, 4097) ** -1.3)
        for g in range(G):
            top = 1.2 + 0.8 * (nu[g] + 8.5) ** 2  # the top part: convex, minimum at nu = -8.5
            residual = (0.2 + 0.3 * (1 - 16 / n)) * (1 + 0.1 * (nu[g] + 8.5))
            contrib = -(6.0 - top) * weights
            contrib[n // 2 :] += -residual / (n - n // 2)
            for s in range(S):
                noisy = contrib * (1 + 0.01 * rng.standard_normal())
                for a, frac in enumerate(np.asarray(steps) / steps[-1]):
                    phi[i, g, s, a, :n] = np.cumsum(noisy) * frac
    final = 10.8 + np.stack([phi[i, :, :, -1, n - 1] for i, n in enumerate(widths)])
    diverged = np.zeros((W, G, S), bool)
    diverged[0, -1, -1] = True
    phi[diverged] = np.nan
    dims = ("width", "lr", "seed")
    return make_sweep(
        final,
        widths=widths,
        grid=grid,
        seeds=seeds,
        params="mup",
        diverged=diverged,
        depths=np.ones(W, np.int64),
        study="lm_syn",
        variables={
            "final_loss_iterate": (dims, np.where(diverged, np.nan, final + 0.02)),
            "linearization_gap": (dims, np.full(final.shape, 0.01)),
            "phi_k": (dims + ("analysis_step", "k"), phi),
        },
        coords={"analysis_step": np.array(steps, dtype=np.int64)},
        config={"decomposition": {"enabled": True, "topk": [4]}},
    )


def lm_beta_sweep(hp: str) -> xr.Dataset:
    """lm_sweep with the learning rate replaced by an Adam β: β = 1 − 2^-(log2 lr + 11.5), so the
    plotted window (1 − β)^-1 runs over 2^1.5 … 2^4.5 with the optimum at 2^3."""
    sweep = lm_sweep()
    beta = 1.0 - 2.0 ** -(np.log2(sweep["lr"].values) + 11.5)
    cfg = json.loads(sweep.attrs["config"]) | {"hp": hp, "grid": beta.tolist()}
    return (
        sweep.rename({"lr": hp})
        .assign_coords({hp: beta})
        .assign_attrs(study=f"lm_{hp}", hp=hp, config=json.dumps(cfg, sort_keys=True))
    )


def twolayer_sweep(
    task: str, factor: float = 1.0, widths=(16, 32, 64, 128), seeds=(0, 1, 2), name: str | None = None
) -> xr.Dataset:
    """A two-layer sweep like collect_batched's: a bowl in log2(lr) whose minimum and optimum drift
    with width as the paper's fits (φ* = 0.1 + 6 n^-0.74, log2 η* = −6.8 − 7.8 n^-0.39); the
    widest width diverged at the largest learning rate for seed 0."""
    rng = np.random.default_rng(1)
    grid = 2.0 ** np.arange(-11.0, -4.5, 0.5)
    nu = np.log2(grid)
    steps = np.array([0, 10, 20, 30])
    W, G, S = len(widths), grid.size, len(seeds)
    final = np.empty((W, G, S))
    for i, n in enumerate(widths):
        best, where = 0.1 + 6.0 * n**-0.74, -6.8 - 7.8 * n**-0.39
        bowl = best * (1 + 0.15 * (nu - where) ** 2)
        final[i] = bowl[:, None] * (1 + 0.01 * rng.standard_normal((G, S)))
    diverged = np.zeros((W, G, S), bool)
    diverged[-1, -1, 0] = True
    final[diverged] = np.nan
    curve = final[:, None] * (1 + np.array([3.0, 1.5, 1.1, 1.0]))[None, :, None, None]
    sweep = make_sweep(
        final,
        widths=widths,
        grid=grid,
        seeds=seeds,
        diverged=diverged,
        metric="final_loss_val",
        study=name or task,
        kind="twolayer",
        variables={
            "diverged_step": (("width", "lr", "seed"), np.where(diverged, 20, -1).astype(np.int64)),
            "loss_val": (("width", "step", "lr", "seed"), curve),
        },
        coords={"step": steps},
        config={"task": task, "second_layer_lr_factor": factor},
    )
    return sweep.assign_attrs(task=task, parametrization="muP")


RF_CONFIG = {
    "psi2_curves": [4, 8, 16],
    "psi2_rates": [4, 8, 16, 32, 64],
    "lam": [round(0.1 + 0.05 * i, 4) for i in range(19)],
    "slope_fit_min_psi2": 16,
    "asymptotic_psi2": [1024.0, 2048.0],
    "simulation": {"d": 20, "n_draws": 2, "psi2": [4.0], "lam": [0.2, 0.4], "seed": 0},
}


@pytest.fixture(autouse=True)
def close_figures():
    """Every figure a test drew is closed after it, passed or failed."""
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def datasets() -> dict[str, xr.Dataset]:
    lm = lm_sweep()
    kappa = analyze_kappa(lm)
    # a width where Algorithm 1 failed, as kappa.nc records it
    failed = kappa.copy(deep=True)
    failed["failed"][0] = True
    failed["kappa"][0] = -1
    for name in ("phi_n_kappa", "phi_max_kappa", "residual_n", "residual_max"):
        failed[name][0] = np.nan
    kindex = twolayer_sweep("kindex", name="kindex")
    layerwise = twolayer_sweep("kindex", factor=0.02, name="kindex_layerwise")
    sphere = twolayer_sweep("sphere")
    betas = {hp: lm_beta_sweep(hp) for hp in ("beta1", "beta2")}
    return {
        "lm_sweep": lm,
        "kappa": kappa,
        "kappa_failed": failed,
        "lm_transfer": analyze_transfer(lm, BOOTSTRAP),
        **{f"{hp}_sweep": sweep for hp, sweep in betas.items()},
        **{f"{hp}_transfer": analyze_transfer(sweep, BOOTSTRAP) for hp, sweep in betas.items()},
        **{f"{hp}_kappa": analyze_kappa(sweep) for hp, sweep in betas.items()},
        "kindex_sweep": kindex,
        "kindex_transfer": analyze_transfer(kindex, BOOTSTRAP),
        "layerwise_sweep": layerwise,
        "layerwise_transfer": analyze_transfer(layerwise, BOOTSTRAP),
        "sphere_sweep": sphere,
        "sphere_transfer": analyze_transfer(sphere, BOOTSTRAP),
        "rf": rf_study(RF_CONFIG),
    }


def inputs_for(figure_id: str, d: dict, failed: bool = False) -> dict[str, xr.Dataset]:
    kappa = d["kappa_failed"] if failed else d["kappa"]
    return {
        "fig02": {"sweep": d["kindex_sweep"], "transfer": d["kindex_transfer"]},
        "fig17": {
            "sweep": d["layerwise_sweep"],
            "transfer": d["layerwise_transfer"],
            "plain_sweep": d["kindex_sweep"],
            "plain_transfer": d["kindex_transfer"],
        },
        "fig04": {"rf": d["rf"]},
        "fig05": {"sweep": d["sphere_sweep"], "transfer": d["sphere_transfer"]},
        "fig08": {"kappa": kappa, "sweep": d["lm_sweep"]},
        "fig09": {"kappa": kappa, "sweep": d["lm_sweep"]},
        "fig10": {"kappa": kappa, "sweep": d["lm_sweep"]},
        "fig06": {"sweep": d["lm_sweep"], "transfer": d["lm_transfer"]},
        "fig12": {"kappa": kappa, "sweep": d["lm_sweep"]},
        "fig32": {"kappa": kappa, "sweep": d["lm_sweep"]},
        "fig18": {
            "sweep": d["beta1_sweep"],
            "transfer": d["beta1_transfer"],
            "adam_beta2_sweep": d["beta2_sweep"],
            "adam_beta2_transfer": d["beta2_transfer"],
        },
        "fig23": {"kappa": kappa, "adam_beta1_kappa": d["beta1_kappa"], "adam_beta2_kappa": d["beta2_kappa"]},
    }[figure_id]


SPECS = {spec.figure_id: spec for spec in catalogue.CATALOGUE}


def catalogue_module(figure_id: str):
    """The drawer module of a catalogue figure."""
    import importlib

    return importlib.import_module(f"hptransfer.figures.{SPECS[figure_id].module}")


def draw(figure_id: str, inputs: dict, settings: dict | None = None):
    """Draw a catalogue figure as its rule does: its drawer module, its defaults under ``settings``."""
    with figure_style():
        return catalogue_module(figure_id).draw(inputs, {**SPECS[figure_id].defaults, **(settings or {})})


def n_stars(ax) -> int:
    """Points drawn with the star marker (scatter collections, filled or hollow)."""
    marker = MarkerStyle("*")
    star = marker.get_path().transformed(marker.get_transform()).vertices
    return sum(
        len(c.get_offsets())
        for c in ax.collections
        if isinstance(c, PathCollection) and c.get_paths() and np.allclose(c.get_paths()[0].vertices, star)
    )


def curves(ax) -> list:
    """Drawn lines (not marker-only data points) with more than two points."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2 and line.get_linestyle() != "None"]


# --------------------------------------------------------------------------------- per figure


def test_fig02_one_panel_with_a_curve_and_star_per_width(datasets):
    sweep = datasets["kindex_sweep"]
    fig = draw("fig02", inputs_for("fig02", datasets))
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert len(curves(ax)) == sweep.sizes["width"]
    assert n_stars(ax) == sweep.sizes["width"]
    assert "MSE" in ax.get_ylabel()


def test_fig17_two_panels_plain_and_layerwise(datasets):
    fig = draw("fig17", inputs_for("fig17", datasets))
    axes = fig.get_axes()
    assert len(axes) == 2
    a, b = axes
    assert a.get_title().startswith("(a) kindex") and b.get_title().startswith("(b) kindex_layerwise")
    assert "/ 50" in b.get_title()
    for ax in axes:
        assert len(curves(ax)) == 4 and n_stars(ax) == 4
    assert a.get_shared_y_axes().joined(a, b)
    assert len(fig.legends) == 1


def test_fig04_risk_panel_and_three_gap_panels(datasets):
    rf = datasets["rf"]
    fig = draw("fig04", inputs_for("fig04", datasets))
    axes = fig.get_axes()
    assert len(axes) == 4
    risk, gaps = axes[0], axes[1:]
    shown = int(rf["in_curves"].sum())  # the finite curves plus ψ2 = ∞
    assert len(curves(risk)) == shown
    assert [line.get_linestyle() for line in curves(risk)][-1] == "--"  # ∞ dashed, last
    assert n_stars(risk) == shown
    labels = [t.get_text() for t in risk.get_legend().get_texts()]
    assert any(t.startswith("simulation") for t in labels)
    for ax, guide in zip(gaps, ("d/n", "d/n", "(d/n)²")):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(guide in t for t in texts) and any("fitted slope -" in t for t in texts)


def test_fig05_sweep_and_two_scaling_panels_with_fits(datasets):
    sweep, transfer = datasets["sphere_sweep"], datasets["sphere_transfer"]
    assert np.isfinite(float(transfer["fit_opt_alpha"])) and np.isfinite(float(transfer["lr_law_beta"]))
    fig = draw("fig05", inputs_for("fig05", datasets))
    axes = fig.get_axes()
    assert len(axes) == 3
    sweep_ax, loss_ax, lr_ax = axes
    assert sweep_ax.get_yscale() == "log" and sweep_ax.get_xscale() == "log"
    assert len(curves(sweep_ax)) == sweep.sizes["width"] and n_stars(sweep_ax) == sweep.sizes["width"]
    assert len(sweep_ax.collections) >= sweep.sizes["width"]  # the seed bands
    loss_text = loss_ax.get_legend().get_texts()[0].get_text()
    lr_text = lr_ax.get_legend().get_texts()[0].get_text()
    assert f"{float(transfer['fit_opt_alpha']):.2f}" in loss_text
    assert f"{float(transfer['lr_law_beta']):.3f}" in lr_text
    assert len(curves(loss_ax)) == 1 and len(curves(lr_ax)) == 1  # the fitted laws


@pytest.mark.parametrize("failed", [False, True])
def test_fig08_total_and_topk_curves(datasets, failed):
    kappa = datasets["kappa_failed" if failed else "kappa"]
    n_small = kappa.sizes["width"]
    fig = draw("fig08", inputs_for("fig08", datasets, failed))
    left, right = fig.get_axes()
    assert len(curves(left)) == n_small + 1  # every n < n_max plus n_max (∞)
    assert any("(∞)" in t.get_text() for t in left.get_legend().get_texts())
    assert n_stars(left) == n_small + 1
    ok = n_small - int(kappa["failed"].sum())
    styles = [line.get_linestyle() for line in curves(right)]
    assert styles.count("-") == ok and styles.count("--") == ok
    assert n_stars(right) == 2 * ok
    if failed:
        assert any("FAIL" in t.get_text() for t in right.get_legend().get_texts())
    assert left.get_shared_y_axes().joined(left, right)


@pytest.mark.parametrize("figure_id", ["fig08", "fig09", "fig10"])
def test_decomposition_figures_draw_when_algorithm1_failed_at_every_width(datasets, figure_id):
    kappa = datasets["kappa"].copy(deep=True)
    kappa["failed"][:] = True
    kappa["kappa"][:] = -1
    for name in ("phi_n_kappa", "phi_max_kappa", "residual_n", "residual_max"):
        kappa[name][:] = np.nan
    fig = draw(figure_id, {"kappa": kappa, "sweep": datasets["lm_sweep"]})
    fig.canvas.draw()  # log axes without data raised here
    texts = [
        t.get_text()
        for ax in fig.get_axes()
        for t in [*ax.texts, *(ax.get_legend().get_texts() if ax.get_legend() else [])]
    ]
    texts += [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert sum("FAIL" in t for t in texts) >= 1
    if figure_id == "fig10":  # a row of × per width, stacked so that none hides another
        rows = [ln for ln in fig.get_axes()[0].get_lines() if ln.get_marker() == "x"]
        assert len({float(ln.get_ydata()[0]) for ln in rows}) == kappa.sizes["width"] > 1
    findings = getattr(catalogue_module(figure_id), "findings", None)
    if findings:  # the caption says why there is nothing to read rather than saying nothing
        lines = findings({"kappa": kappa, "sweep": datasets["lm_sweep"]}, dict(SPECS[figure_id].defaults))
        assert any("fail" in line.lower() for line in lines), lines


def test_fig09_residuals_clipped_near_the_topk_minimisers(datasets):
    kappa = datasets["kappa"]
    fig = draw("fig09", inputs_for("fig09", datasets))
    left, right = fig.get_axes()
    for ax in (left, right):
        assert len(curves(ax)) == kappa.sizes["width"]
    lo, hi = left.get_xlim()
    grid = kappa["lr"].values
    assert lo > grid[0] * 0.99 or hi < grid[-1] * 1.01 or len(grid) <= 5
    # y-range at least as tall as the top-κ curves' range in the window (Fig 8 scale)
    assert np.diff(left.get_ylim())[0] > 0
    fig = draw("fig09", inputs_for("fig09", datasets), {"xlim": [2**-9.6, 2**-7.4]})
    lo, hi = fig.get_axes()[0].get_xlim()
    assert lo <= 2**-9.6 and hi >= 2**-7.4 and hi < 2**-7.0


@pytest.mark.parametrize("failed", [False, True])
def test_fig10_kappa_and_topk_profile(datasets, failed):
    kappa = datasets["kappa_failed" if failed else "kappa"]
    sweep = datasets["lm_sweep"]
    fig = draw("fig10", inputs_for("fig10", datasets, failed), {"lr": 2**-8.5, "k_max": 40})
    left, right = fig.get_axes()
    ok = kappa.sizes["width"] - int(kappa["failed"].sum())
    assert len([ln for ln in left.get_lines() if len(ln.get_xdata()) > 1 and ln.get_marker() == "o"]) == ok
    if failed:
        # a row of × per failed width below κ̂ = 0, each its own, under no curve; no negative tick
        rows = [ln for ln in left.get_lines() if ln.get_marker() == "x"]
        assert len(rows) == int(kappa["failed"].sum())
        heights = [set(np.asarray(ln.get_ydata(), float)) for ln in rows]
        assert all(len(h) == 1 and max(h) < 0 for h in heights) and len(set.union(*heights)) == len(rows)
        assert left.get_ylim()[0] < min(map(min, heights))
        assert min(left.get_yticks()) == 0
        assert any("FAIL" in t.get_text() for t in left.texts)
        assert any("FAIL" in t.get_text() for t in fig.legends[0].get_texts())
    profiles = curves(right)
    assert len(profiles) == sweep.sizes["width"]
    for line, n in zip(profiles, sweep["width"].values):
        assert np.max(line.get_xdata()) == min(int(n), 40)  # k runs to min(n, k_max)
    assert "0.00276" in right.get_title()  # the nearest grid point to 2^-8.5


def test_fig10_default_lr_is_the_reference_optimum(datasets):
    from hptransfer.figures.selection import chosen_hp_value

    sweep = datasets["lm_sweep"]
    fig = draw("fig10", inputs_for("fig10", datasets))
    assert f"{chosen_hp_value(sweep, {}):.3g}" in fig.get_axes()[1].get_title()


def test_fig12_one_profile_panel_with_a_curve_per_width(datasets):
    sweep = datasets["lm_sweep"]
    fig = draw("fig12", inputs_for("fig12", datasets), {"lr": 2**-8.5, "k_max": 40})
    (ax,) = fig.get_axes()
    profiles = curves(ax)
    assert len(profiles) == sweep.sizes["width"]
    for line, n in zip(profiles, sweep["width"].values):
        assert np.max(line.get_xdata()) == min(int(n), 40)
    assert ax.get_title() == "lm_syn: lr = 0.00276"  # one panel: no (a)
    assert len(fig.legends) == 1


def test_fig26_profiles_of_the_study_and_its_companion(datasets):
    other = {
        name: datasets[key].assign_attrs(study="lm_proportional")
        for name, key in (("kappa", "kappa"), ("sweep", "lm_sweep"))
    }
    inputs = {
        "kappa": datasets["kappa"],
        "sweep": datasets["lm_sweep"],
        "dion_proportional_kappa": other["kappa"],
        "dion_proportional_sweep": other["sweep"],
    }
    fig = draw("fig12", inputs)
    a, b = fig.get_axes()
    assert a.get_title().startswith("(a) lm_syn") and b.get_title().startswith("(b) lm_proportional")
    for ax in (a, b):
        assert len(curves(ax)) == datasets["lm_sweep"].sizes["width"]


def test_fig32_profiles_at_a_small_and_a_near_optimal_learning_rate(datasets):
    from hptransfer.figures.selection import chosen_hp_value

    sweep = datasets["lm_sweep"]
    grid = sweep["lr"].values
    fig = draw("fig32", inputs_for("fig32", datasets))
    a, b = fig.get_axes()
    assert a.get_title().endswith(f"lr = {grid[0]:.3g}")
    assert b.get_title().endswith(f"lr = {chosen_hp_value(sweep, {}):.3g}")
    assert len(curves(a)) == len(curves(b)) == sweep.sizes["width"]
    fig = draw("fig32", inputs_for("fig32", datasets), {"lr": [1e-9, 1.0]})
    a, b = fig.get_axes()
    assert a.get_title().endswith(f"lr = {grid[0]:.3g}") and b.get_title().endswith(f"lr = {grid[-1]:.3g}")


def test_fig18_beta_sweeps_plot_against_the_averaging_window(datasets):
    fig = draw("fig18", inputs_for("fig18", datasets))
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax, hp in zip(axes, ("beta1", "beta2")):
        sweep = datasets[f"{hp}_sweep"]
        assert ax.get_title().endswith(f"lm_{hp}: {hp} sweep")
        assert ax.get_xscale() == "log" and "(1-\\beta" in ax.get_xlabel()
        x = np.concatenate([line.get_xdata() for line in curves(ax)])
        assert x.min() >= 2**1.5 * 0.999 and x.max() <= 2**4.5 * 1.001  # (1-β)^-1, not β
        assert len(curves(ax)) == 2 * sweep.sizes["width"]  # seed means and interpolant
        assert n_stars(ax) == sweep.sizes["width"]
        stars = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if isinstance(c, PathCollection)])
        assert np.all(stars > 2**1.5 * 0.999)
    assert axes[0].get_title().startswith("(a)") and axes[1].get_title().startswith("(b)")


def test_fig23_kappa_for_the_learning_rate_and_both_beta_sweeps(datasets):
    fig = draw("fig23", inputs_for("fig23", datasets))
    axes = fig.get_axes()
    assert len(axes) == 3
    kappas = [datasets["kappa"], datasets["beta1_kappa"], datasets["beta2_kappa"]]
    for ax, kappa, label in zip(axes, kappas, ("(a) lm_syn", "(b) lm_beta1", "(c) lm_beta2")):
        assert ax.get_title().startswith(label)
        ok = kappa.sizes["width"] - int(kappa["failed"].sum())
        assert len([ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_marker() == "o"]) == ok
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[2])
    assert axes[0].get_ylim()[0] == 0 and axes[0].get_ylim()[1] >= max(float(k["kappa"].max()) for k in kappas)
    assert len(fig.legends) == 1


# ---------------------------------------------------------------------------- rendering, files

FIGURES = ("fig02", "fig17", "fig04", "fig05", "fig06", "fig08", "fig09", "fig10", "fig12", "fig18", "fig23", "fig32")


@pytest.mark.parametrize("figure_id", FIGURES)
def test_render_writes_identical_pdf_and_png(figure_id, datasets, tmp_path):
    spec = SPECS[figure_id]
    paths = {}
    for name, ds in inputs_for(figure_id, datasets).items():
        paths[name] = str(tmp_path / f"{name}.nc")
        write_dataset(ds, paths[name])
    out = []
    for i in range(2):
        pdf, png = tmp_path / f"{i}.pdf", tmp_path / f"{i}.png"
        render_figure(spec.module, paths, {**spec.defaults, "dpi": 60}, str(pdf), str(png))
        out.append((pdf.read_bytes(), png.read_bytes()))
    assert len(out[0][0]) > 5_000 and len(out[0][1]) > 5_000
    assert out[0] == out[1]
    assert out[0][1][:8] == b"\x89PNG\r\n\x1a\n" and out[0][0][:5] == b"%PDF-"


def test_saved_page_grows_to_hold_a_title_wider_than_the_figure(tmp_path):
    """Constrained layout moves axes, never text: a title wider than the figure used to be cut at the
    page's edges (Fig 7's run title). The saved page is cropped to what is drawn, so it holds it."""
    dpi = 50

    def saved_width(title: str) -> tuple[int, float]:
        with figure_style():
            fig, ax = new_figure(1, settings={"width_in": 2.0, "height_in": 2.0})
            ax.plot([0, 1], [0, 1])
            ax.set_title(title)
            fig.canvas.draw()
            title_px = ax.title.get_window_extent().width * dpi / fig.dpi
            pdf, png = tmp_path / "f.pdf", tmp_path / "f.png"
            save_figure(fig, str(pdf), str(png), dpi=dpi)
            plt.close(fig)
        return int.from_bytes(png.read_bytes()[16:20], "big"), title_px

    short, _ = saved_width("n = 16")
    wide, title_px = saved_width("n = 16, learning rate = 0.032, seed 0 (relative gap 0.045%)")
    assert title_px > 2.0 * dpi  # the title is wider than the 2-inch figure
    assert wide >= title_px > short


@pytest.mark.parametrize("failed", [False, True])
@pytest.mark.parametrize("figure_id", FIGURES)
def test_findings_of_every_drawer_run_on_its_inputs(figure_id, failed, datasets):
    """The report caption's statements (the drawer's ``findings``) compute on the same inputs as the
    figure, Algorithm 1 failures included, and are plain sentences."""
    spec = SPECS[figure_id]
    findings = getattr(catalogue_module(figure_id), "findings", None)
    if findings is None:
        pytest.skip(f"{spec.module} states no findings")
    lines = findings(inputs_for(figure_id, datasets, failed=failed), dict(spec.defaults))
    assert lines and all(isinstance(line, str) and line and "\n" not in line for line in lines), lines
    assert not any("nan" in line.split() for line in lines), lines


# ------------------------------------------------------------------------------------ catalogue


def _cfg(**studies) -> dict:
    return {"studies": studies, "figures": {}}


def test_catalogue_routes_kindex_studies_and_finds_the_companion():
    plain = {"kind": "twolayer", "task": "kindex", "second_layer_lr_factor": 1.0}
    layer = {"kind": "twolayer", "task": "kindex", "second_layer_lr_factor": 0.02}
    sphere = {"kind": "twolayer", "task": "sphere"}
    cfg = _cfg(sphere=sphere, kindex=plain, kindex_layerwise=layer)
    stems = catalogue.all_figures(cfg)
    assert {"fig02_kindex", "fig17_kindex_layerwise", "fig05_sphere"} <= set(stems)
    assert not {"fig02_kindex_layerwise", "fig17_kindex", "fig02_sphere", "fig05_kindex"} & set(stems)
    spec, study = stems["fig17_kindex_layerwise"]
    assert catalogue.companion_studies(cfg, spec, study) == {"plain": "kindex"}
    # no plain study enabled: the layer-wise figure is not requested, but its settings stay valid
    cfg = _cfg(kindex=dict(plain, enabled=False), kindex_layerwise=layer)
    assert "fig17_kindex_layerwise" not in catalogue.all_figures(cfg)
    assert "fig17_kindex_layerwise" in catalogue.all_figures(cfg, enabled_only=False)


def test_catalogue_decomposition_figures_need_lm_with_decomposition():
    lm = {"kind": "lm", "decomposition": {"enabled": True}}
    cfg = _cfg(a=lm, b={"kind": "lm", "decomposition": {"enabled": False}}, r={"kind": "rf_ridge"})
    stems = set(catalogue.all_figures(cfg))
    assert {"fig08_a", "fig09_a", "fig10_a", "fig04_r"} <= stems
    assert not {"fig08_b", "fig09_b", "fig10_b"} & stems


def test_every_catalogue_module_has_draw_and_caption():
    from pathlib import Path

    report = Path(__file__).resolve().parents[2] / "workflow" / "report"
    for spec in catalogue.CATALOGUE:
        assert callable(catalogue_module(spec.figure_id).draw)
        assert (report / f"{spec.figure_id}.rst").is_file(), spec.figure_id
    assert "workflow/hptransfer/figures/panels.py" in catalogue.plot_sources("layerwise_lr_sweeps")
    assert "workflow/hptransfer/figures/style.py" in catalogue.plot_sources("layerwise_lr_sweeps")


def test_drawers_import_only_shared_helpers():
    """A drawer module never imports another drawer, and no module reaches into another's private
    names: the shared pieces live in the helper modules (style, panels, selection, ...)."""
    import ast
    from pathlib import Path

    package = Path(catalogue.__file__).resolve().parent
    drawers = {spec.module for spec in catalogue.CATALOGUE}
    for drawer in drawers:
        sources = {Path(p).stem for p in catalogue.plot_sources(drawer)}
        assert not sources & drawers, (drawer, sources & drawers)
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert not [a.name for a in node.names if a.name.startswith("_")], (path.name, node.module)


# --------------------------------------------------------------- catalogue: LM figure families


def _preset(name: str) -> dict:
    from pathlib import Path

    from hptransfer.config.load import load_config, read_config_file

    # the catalogue reads a config's structure: the paper preset's corpora need not be here
    return load_config(read_config_file(Path(__file__).resolve().parents[2] / name), check_data=False)


def _figure_ids(stems: dict, study: str) -> set[str]:
    """The paper-numbered figures ``study`` gets (not rates, comparison or other extra figures)."""
    return {spec.figure_id for spec, owner in stems.values() if owner == study and spec.figure_id.startswith("fig")}


GENERIC_LM = {"fig01", "fig06", "fig07", "fig08", "fig09", "fig10"}
WORKSTATION_LM = {
    "llama_adam_lr": GENERIC_LM | {"fig23"},
    "llama_adam_beta1": {"fig18", "fig19", "fig20"},
    "llama_adam_beta2": {"fig21", "fig22"},
    "llama_muon_lr": {"fig11", "fig12"},
    "llama_dion_bounded": {"fig24", "fig26"},
    "llama_dion_proportional": {"fig25"},
    "gpt2_adam_lr": {"fig27", "fig28", "fig29", "fig30"},
    "gpt2_muon_lr": {"fig31", "fig32"},
}


@pytest.mark.parametrize("preset", ["workflow/presets/workstation.yaml", "workflow/presets/paper.yaml"])
def test_catalogue_gives_each_lm_study_the_figures_of_its_family(preset):
    cfg = _preset(preset)
    stems = catalogue.all_figures(cfg)
    for study, expected in WORKSTATION_LM.items():
        assert _figure_ids(stems, study) == expected, study
        modules = [spec.module for spec, owner in stems.values() if owner == study]
        assert len(modules) == len(set(modules)), study  # nothing drawn twice under two numbers
    numbered = [
        spec.figure_id for spec, owner in stems.values() if owner in WORKSTATION_LM and spec.figure_id.startswith("fig")
    ]
    paper = {f"fig{i:02d}" for i in (1, *range(6, 13), *range(18, 33))}
    assert sorted(numbered) == sorted(paper)  # each paper number once
    assert catalogue.companion_studies(cfg, stems["fig23_llama_adam_lr"][0], "llama_adam_lr") == {
        "adam_beta1": "llama_adam_beta1",
        "adam_beta2": "llama_adam_beta2",
    }
    assert catalogue.companion_studies(cfg, stems["fig26_llama_dion_bounded"][0], "llama_dion_bounded") == {
        "dion_proportional": "llama_dion_proportional"
    }


DEFAULT_NUMBERED = {
    "fig03_schematic",
    "fig04_rf_ridge",
    "fig05_sphere",
    "fig02_kindex",
    "fig17_kindex_layerwise",
    *(f"{f}_llama_adam_lr" for f in GENERIC_LM),
}
SMOKE_NUMBERED = {"fig03_schematic", "fig04_rf_ridge", "fig05_sphere", *(f"{f}_llama_adam_lr" for f in GENERIC_LM)}


@pytest.mark.parametrize(
    "preset, expected", [("config.yaml", DEFAULT_NUMBERED), ("workflow/presets/smoke.yaml", SMOKE_NUMBERED)]
)
def test_catalogue_default_and_smoke_paper_figures_are_unchanged(preset, expected):
    """The small presets' Llama-Adam LR study keeps exactly the generic paper figures (no Fig 23
    without β sweeps beside it)."""
    stems = catalogue.all_figures(_preset(preset))
    assert {stem for stem, (spec, _) in stems.items() if spec.figure_id.startswith("fig")} == expected


def _lm(block: str, optimizer: str, hp: str, **extra) -> dict:
    return {
        "kind": "lm",
        "hp": hp,
        "model": {"block": block},
        "optimizer": {"name": optimizer, **extra},
        "decomposition": {"enabled": True},
    }


@pytest.mark.parametrize(
    "study",
    [
        _lm("gpt2", "adam", "beta1"),
        _lm("llama", "sgd", "lr"),
        _lm("gpt2", "dion", "lr", rank_rule="bounded"),
        _lm("llama", "muon", "weight_decay"),
    ],
)
def test_catalogue_lm_study_of_no_paper_family_gets_the_generic_figures(study):
    assert _figure_ids(catalogue.all_figures(_cfg(mine=study)), "mine") == GENERIC_LM


def test_catalogue_classifies_by_the_study_block_not_the_name():
    cfg = _cfg(llama_adam_lr=_lm("llama", "muon", "lr"), anything=_lm("llama", "adamw", "lr"))
    stems = catalogue.all_figures(cfg)
    assert _figure_ids(stems, "llama_adam_lr") == {"fig11", "fig12"}
    assert _figure_ids(stems, "anything") == GENERIC_LM  # no β companions: no Fig 23


def test_catalogue_companions_resolve_in_order_and_skip_disabled_studies():
    lr, b1, b2 = _lm("llama", "adam", "lr"), _lm("llama", "adam", "beta1"), _lm("llama", "adam", "beta2")
    cfg = _cfg(b2=b2, lr=lr, b1=b1, other_b2=b2)
    spec, study = catalogue.all_figures(cfg)["fig23_lr"]
    assert catalogue.companion_studies(cfg, spec, study) == {"adam_beta1": "b1", "adam_beta2": "b2"}
    assert list(catalogue.companion_studies(cfg, spec, study)) == list(spec.companions)
    assert catalogue.companion_studies(cfg, catalogue.all_figures(cfg)["fig18_b1"][0], "b1") == {"adam_beta2": "b2"}
    # one owner per partial figure: the β2 studies are panels of fig18_b1/fig23_lr, not figures of their own
    assert not {"fig18_b2", "fig18_other_b2", "fig23_b1", "fig23_b2"} & set(catalogue.all_figures(cfg))
    # a disabled companion leaves the next that fits
    cfg = _cfg(b2=dict(b2, enabled=False), lr=lr, b1=b1, other_b2=b2)
    assert catalogue.companion_studies(cfg, spec, "lr") == {"adam_beta1": "b1", "adam_beta2": "other_b2"}


def _partial_figures(cfg: dict) -> dict[str, dict[str, str]]:
    """stem → companions drawn beside its owner, for the partial figures (18, 23, 26) of ``cfg``."""
    return {
        stem: catalogue.companion_studies(cfg, spec, owner)
        for stem, (spec, owner) in catalogue.all_figures(cfg).items()
        if spec.partial
    }


def test_catalogue_partial_figures_draw_the_panels_that_have_a_study():
    lr, b1, b2 = _lm("llama", "adam", "lr"), _lm("llama", "adam", "beta1"), _lm("llama", "adam", "beta2")
    # no β2 sweep: Fig 18 is the β1 panel alone and Fig 23 shows the LR and β1 panels
    assert _partial_figures(_cfg(lr=lr, b1=b1)) == {"fig18_b1": {}, "fig23_lr": {"adam_beta1": "b1"}}
    # no β1 sweep: the β2 study owns Fig 18; Fig 23's LR panel is Fig 10's, so β2 is drawn beside it
    assert _partial_figures(_cfg(b2=b2, lr=lr)) == {"fig18_b2": {}, "fig23_lr": {"adam_beta2": "b2"}}
    # the LR study alone: its κ̂ panel is already Fig 10, so there is no Fig 23
    assert _partial_figures(_cfg(lr=lr)) == {}
    # no LR study: the first β study owns Fig 23, in panel order (β1 before β2) whatever the config order
    assert _partial_figures(_cfg(b2=b2, b1=b1)) == {"fig18_b1": {"adam_beta2": "b2"}, "fig23_b1": {"adam_beta2": "b2"}}
    # two β2 studies and nothing else: the first listed owns both figures
    assert _partial_figures(_cfg(b2=b2, other_b2=b2)) == {"fig18_b2": {}, "fig23_b2": {}}
    # a disabled study draws no panel
    assert _partial_figures(_cfg(b2=b2, b1=dict(b1, enabled=False))) == {"fig18_b2": {}, "fig23_b2": {}}
    # settings of every figure a study could own stay valid, enabled or not
    assert {"fig18_b2", "fig23_b2"} <= set(catalogue.all_figures(_cfg(b1=b1, b2=b2), enabled_only=False))


def test_idle_figure_settings_name_the_figure_that_is_drawn_instead():
    lr, b1, b2 = _lm("llama", "adam", "lr"), _lm("llama", "adam", "beta1"), _lm("llama", "adam", "beta2")
    cfg = _cfg(lr=lr, b1=b1, b2=b2)
    cfg["figures"] = {"fig18_b2": {"dpi": 90}, "fig18_b1": {"dpi": 90}, "fig06_lr": {"dpi": 90}}
    assert catalogue.idle_figure_settings(cfg) == ["figures.fig18_b2: has no effect, it is drawn as fig18_b1"]
    # the same setting applies once the β1 study is off, and says nothing
    cfg["studies"]["b1"] = dict(b1, enabled=False)
    assert catalogue.idle_figure_settings(cfg) == []
    # Fig 23 of the LR study alone has no β panel beside it; settings of a disabled study stay quiet
    cfg = _cfg(lr=lr, b2=dict(b2, enabled=False))
    cfg["figures"] = {"fig23_lr": {"dpi": 90}, "fig18_b2": {"dpi": 90}}
    assert catalogue.idle_figure_settings(cfg) == [
        "figures.fig23_lr: has no effect, it needs a companion study this config does not enable"
    ]


def test_catalogue_partial_dion_profiles_and_strict_kindex_pair():
    bounded = _lm("llama", "dion", "lr", rank_rule="bounded")
    proportional = _lm("llama", "dion", "lr", rank_rule="proportional")
    assert _partial_figures(_cfg(p=proportional)) == {"fig26_p": {}}
    assert _partial_figures(_cfg(b=bounded)) == {"fig26_b": {}}
    assert _partial_figures(_cfg(p=proportional, b=bounded)) == {"fig26_b": {"dion_proportional": "p"}}
    # Fig 17 compares two k-index studies: without the plain one it is not drawn (the plain one
    # alone is Fig 2)
    plain = {"kind": "twolayer", "task": "kindex"}
    layer = {"kind": "twolayer", "task": "kindex", "second_layer_lr_factor": 0.02}
    assert not any(s.startswith("fig17") for s in catalogue.all_figures(_cfg(layer=layer)))
    assert not any(s.startswith("fig17") for s in catalogue.all_figures(_cfg(plain=plain)))


@pytest.mark.parametrize("n_max", [256.0, None])
def test_rates_gap_law_is_the_fitted_model_through_the_gaps(n_max):
    from hptransfer.figures.rates import gap_law

    widths = np.array([16.0, 32.0, 64.0, 128.0])
    shape = widths**-0.5 - (n_max**-0.5 if n_max else 0.0)
    fine, law = gap_law(widths, 2.0 * shape, 0.5, n_max)
    expected = 2.0 * (fine**-0.5 - (n_max**-0.5 if n_max else 0.0))
    np.testing.assert_allclose(law, expected, rtol=1e-12)
    assert fine[0] == widths[0] and np.isclose(fine[-1], widths[-1])


def test_rates_figure_draws_gaps_on_log2_widths_with_the_fitted_exponents(datasets):
    transfer = datasets["lm_transfer"]
    fig = draw("rates", {"transfer": transfer})
    axes = fig.get_axes()
    assert len(axes) == 3 and all(ax.xaxis.get_scale() == "log" for ax in axes)
    assert axes[0].xaxis.get_transform().base == 2
    texts = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert any(f"α = {float(transfer['alpha']):.2f}" in t for t in texts)
    assert transfer.attrs["infinity"] in fig._suptitle.get_text().replace("∞ = ", "")


def test_scaling_law_label_shows_the_exponent_and_its_standard_error():
    from hptransfer.figures.selection import fit_params

    transfer = xr.Dataset(
        {
            "fit_opt_L_inf": 3.1,
            "fit_opt_A": 2.0,
            "fit_opt_alpha": 0.74,
            "fit_opt_alpha_se": 0.05,
            "fit_opt_identified": True,
        }
    )
    fit = fit_params(transfer, "fit_opt", ("L_inf", "A", "alpha"))
    assert fit["alpha_se"] == 0.05 and np.isnan(fit["A_se"])
    assert scaling_law_label(fit) == r"L = 3.100 + 2·n$^{-0.74\pm0.05}$"
    # an exact fit (no degrees of freedom) has no standard error to show
    assert scaling_law_label(dict(fit, alpha_se=np.nan)) == r"L = 3.100 + 2·n$^{-0.74}$"
    assert scaling_law_label(dict(fit, identified=False)) == f"L: {UNIDENTIFIED}"


def test_study_inputs_split_own_and_companion_datasets_in_order():
    from hptransfer.figures.selection import study_inputs

    own, b1, b2 = (xr.Dataset(attrs={"who": w}) for w in ("own", "b1", "b2"))
    inputs = {
        "kappa": own,
        "sweep": own,
        "adam_beta1_kappa": b1,
        "adam_beta1_sweep": b1,
        "adam_beta2_kappa": b2,
        "adam_beta2_sweep": b2,
    }
    groups = study_inputs(inputs, ("kappa", "sweep"))
    assert [g["sweep"].attrs["who"] for g in groups] == ["own", "b1", "b2"]
    assert [g["kappa"].attrs["who"] for g in groups] == ["own", "b1", "b2"]
    assert study_inputs({"kappa": own}, ("kappa",)) == [{"kappa": own}]


# ------------------------------------------------------- one drawer, the difference in the catalogue


def test_figure_settings_are_the_catalogue_defaults_under_the_config():
    specs = {spec.figure_id: spec for spec in catalogue.CATALOGUE}
    cfg = {"figures": {"fig33_img": {"log_k": False, "dpi": 90}}}
    assert catalogue.figure_settings(cfg, specs["fig33"], "fig33_img") == {"log_k": False, "dpi": 90}
    assert catalogue.figure_settings(cfg, specs["fig33"], "fig33_other") == {"log_k": True}
    assert catalogue.figure_settings(cfg, specs["fig10"], "fig10_img") == {}
    # figures that draw another's drawer differently say how in the catalogue, not in a module of their own
    assert specs["fig33"].module == specs["fig10"].module
    assert specs["fig34"].module == specs["fig08"].module and specs["fig35"].module == specs["fig09"].module
    assert specs["fig32"].module == specs["fig12"].module and specs["fig13"].module == specs["fig06"].module


def test_fig33_draws_fig10_with_a_log2_k_axis(datasets):
    inputs = inputs_for("fig10", datasets)
    assert draw("fig33", inputs).get_axes()[1].get_xscale() == "log"
    assert draw("fig10", inputs).get_axes()[1].get_xscale() == "linear"
    assert draw("fig33", inputs, {"log_k": False}).get_axes()[1].get_xscale() == "linear"


@pytest.mark.parametrize("figure_id, all_widths", [("fig34", "fig08"), ("fig35", "fig09")])
def test_fig34_and_fig35_draw_a_subset_of_widths(datasets, figure_id, all_widths):
    from hptransfer.figures.selection import width_subset

    kappa = datasets["kappa"]
    widths = [int(w) for w in kappa["width"].values]
    subset = width_subset(kappa, {"widths": "ends_and_middle"})
    assert [int(w) for w in subset["width"].values] == sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    assert width_subset(kappa, {}) is kappa
    assert [int(w) for w in width_subset(kappa, {"widths": [widths[-1], 10**6]})["width"].values] == [widths[-1]]

    def labels(fig):
        return [t.get_text() for t in fig.get_axes()[0].get_legend().get_texts()]

    inputs = inputs_for("fig08", datasets)
    shown = labels(draw(figure_id, inputs, {"widths": [widths[0]]}))
    assert any(f"n = {widths[0]}" in t for t in shown)
    assert not any(f"n = {w}" in t for w in widths[1:] for t in shown)
    assert len(labels(draw(all_widths, inputs))) >= len(labels(draw(figure_id, inputs, {"widths": [widths[0]]})))
