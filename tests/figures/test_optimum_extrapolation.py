"""The advice figure (catalogue id ``advice``, drawer figures/optimum_extrapolation.py) on advice.nc
from the real analyses of planted sweeps: what each case draws, where the points sit, and
byte-identical files."""

from __future__ import annotations

import importlib

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from sweeps import make_sweep

from hptransfer.analysis import analyze_transfer
from hptransfer.analysis.advice import advise
from hptransfer.figures import catalogue
from hptransfer.figures.render import render_figure
from hptransfer.figures.style import figure_style
from hptransfer.io import write_dataset

QUICK = {"bootstrap": {"n": 60, "level": 0.9, "seed": 0}}
SPEC = next(spec for spec in catalogue.CATALOGUE if spec.figure_id == "advice")


def sweep(widths, params=None) -> xr.Dataset:
    """phi*_n = 2 + 3 n^-0.5 at nu*(n) = -6 - 6 n^-1 (fast transfer), a bowl in log2(lr)."""

    def loss(n, lr):
        return 2.0 + 3.0 * n**-0.5 + 0.5 * (np.log2(lr) + 6.0 + 6.0 / n) ** 2

    return make_sweep(loss, widths=widths, grid=2.0 ** np.arange(-9.0, -3.99, 0.25), seeds=3, noise=1e-4, params=params)


def inputs(widths=(32, 64, 128, 256, 512, 1024), targets=(4096, 16384), params=None) -> dict[str, xr.Dataset]:
    transfer = analyze_transfer(sweep(widths, params), QUICK)
    return {"transfer": transfer, "advice": advise(transfer, list(targets))}


def draw(datasets: dict) -> plt.Figure:
    with figure_style():
        return importlib.import_module(f"hptransfer.figures.{SPEC.module}").draw(datasets, dict(SPEC.defaults))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def diamonds(ax) -> np.ndarray:
    """(x, y) of the advised values: the diamond markers."""
    points = [
        np.column_stack([line.get_xdata(), line.get_ydata()]) for line in ax.get_lines() if line.get_marker() == "D"
    ]
    return np.concatenate(points) if points else np.zeros((0, 2))


def test_law_case_draws_the_measured_optima_the_law_its_band_and_the_advised_values():
    data = inputs()
    advice = data["advice"]
    assert str(advice["case"].values) == "law"
    fig = draw(data)
    optimum, cost = fig.get_axes()
    assert optimum.get_xscale() == "log" and optimum.get_yscale() == "log"
    # for a learning rate the plotted 2^nu is the value itself
    np.testing.assert_allclose(diamonds(optimum), np.column_stack([[4096, 16384], advice["hp_advised"].values]))
    styles = {line.get_linestyle() for line in optimum.get_lines() if len(line.get_xdata()) > 2}
    assert {"-", "--"} <= styles  # the law over the measured widths, its extrapolation beyond
    assert [c for c in optimum.collections if isinstance(c, PolyCollection)], "no interval band"
    measured = [line for line in optimum.get_lines() if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in measured) == 6
    assert "law identified" in optimum.get_title()
    assert cost.get_yscale() == "log"
    np.testing.assert_allclose(diamonds(cost)[:, 1], advice["suboptimality"].values)


def test_drift_case_draws_the_band_beyond_the_largest_width_only():
    data = inputs(widths=(32, 64, 128))
    assert str(data["advice"]["case"].values) == "drift"
    optimum, cost = draw(data).get_axes()
    (band,) = [c for c in optimum.collections if isinstance(c, PolyCollection)]
    assert band.get_paths()[0].vertices[:, 0].min() >= 128 * (1 - 1e-9)
    assert "drift band" in optimum.get_title()
    # an upper bound only: the open triangles
    assert any(line.get_marker() == "v" for line in cost.get_lines())


def test_refused_advice_is_a_note_not_a_number():
    data = inputs(widths=(64,))
    optimum, cost = draw(data).get_axes()
    assert len(diamonds(optimum)) == 0
    notes = " ".join(t.get_text() for t in optimum.texts).replace("\n", " ")
    assert "no advice" in notes and "one width" in notes
    assert "one width" in " ".join(t.get_text() for t in cost.texts).replace("\n", " ")


def test_one_row_per_parametrization():
    data = inputs(params=["mup", "sp"])
    fig = draw(data)
    assert len(fig.get_axes()) == 4
    assert "(mup)" in fig.get_axes()[0].get_title() and "(sp)" in fig.get_axes()[2].get_title()


def test_render_writes_identical_pdf_and_png(tmp_path):
    paths = {}
    for name, ds in inputs().items():
        paths[name] = str(tmp_path / f"{name}.nc")
        write_dataset(ds, paths[name])
    outputs = []
    for attempt in ("a", "b"):
        pdf, png = tmp_path / f"{attempt}.pdf", tmp_path / f"{attempt}.png"
        render_figure(SPEC.module, paths, {}, str(pdf), str(png))
        outputs.append((pdf.read_bytes(), png.read_bytes()))
    assert outputs[0] == outputs[1] and len(outputs[0][1]) > 1000


def test_catalogue_draws_it_for_every_study_with_a_summary():
    assert set(SPEC.kinds) == {"lm", "twolayer", "samplewise"} and SPEC.inputs == ("transfer", "advice")


def test_a_momentum_sweep_plots_the_averaging_window_and_labels_the_value():
    data = inputs()
    advice = data["advice"].assign_attrs(hp="beta1")
    beta = 1.0 - 2.0 ** -advice["nu_advised"].values  # what hp_value gives for beta1
    advice["hp_advised"] = ("target", beta)
    optimum, _ = draw({"transfer": data["transfer"], "advice": advice}).get_axes()
    np.testing.assert_allclose(diamonds(optimum)[:, 1], 2.0 ** advice["nu_advised"].values)
    assert {t.get_text() for t in optimum.texts} == {f"{b:.3g}" for b in beta}
