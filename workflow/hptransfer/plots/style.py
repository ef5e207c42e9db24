"""The one look of every figure: seaborn, viridis by width, log2 axes for swept hyperparameters,
stars at optima, seed spread as error bars, fitted laws in legends as "L = c + A·n^-α"."""
from __future__ import annotations

from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

HP_LABELS = {"lr": "learning rate", "beta1": r"$(1-\beta_1)^{-1}$", "beta2": r"$(1-\beta_2)^{-1}$",
             "momentum": "momentum", "weight_decay": "weight decay"}
STAR = dict(marker="*", s=180, color="red", edgecolor="black", linewidths=0.6, zorder=5)
EDGE_STAR = dict(marker="*", s=180, facecolor="none", edgecolor="red", linewidths=1.2, zorder=5)
RC = {"figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 11, "axes.labelsize": 10,
      "legend.fontsize": 8, "xtick.labelsize": 9, "ytick.labelsize": 9, "pdf.fonttype": 42,
      "svg.hashsalt": "hptransfer", "path.simplify": False}


@contextmanager
def figure_style():
    with sns.axes_style("whitegrid"), plt.rc_context(RC):
        yield


def width_colors(widths) -> dict:
    """Viridis by width: light/yellow for small, dark purple for large (paper convention)."""
    widths = sorted(widths)
    cmap = plt.get_cmap("viridis_r")
    pos = np.linspace(0.1, 0.95, len(widths)) if len(widths) > 1 else [0.5]
    return {w: cmap(p) for w, p in zip(widths, pos)}


def log2_axis(ax, axis: str = "x") -> None:
    """Log2 scale with ticks labelled 2^k (the paper's swept-hyperparameter axes)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"$2^{{{np.log2(v):.3g}}}$" if v > 0 else "")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


# legend text for a fit whose exponent sits on a bound (transfer.nc ``*_identified`` false)
UNIDENTIFIED = "no power law identified over these widths"


def scaling_law_label(fit: dict, what: str = "L") -> str:
    if not fit or not np.isfinite(fit.get("alpha", np.nan)):
        return f"{what}: fit unavailable"
    if not fit.get("identified", True):
        return f"{what}: {UNIDENTIFIED}"
    # the exponent's standard error, so that a fit the widths barely constrain reads as such
    se = fit.get("alpha_se", np.nan)
    spread = rf"\pm{se:.2g}" if np.isfinite(se) else ""
    return f"{what} = {fit['L_inf']:.3f} + {fit['A']:.3g}·n$^{{-{fit['alpha']:.2f}{spread}}}$"


def hp_label(hp: str) -> str:
    return HP_LABELS.get(hp, hp)


def new_figure(ncols: int = 1, nrows: int = 1, settings: dict | None = None, width_per: float = 4.2,
               height: float = 3.4, **kw):
    settings = settings or {}
    w = settings.get("width_in", width_per * ncols)
    h = settings.get("height_in", height * nrows)
    return plt.subplots(nrows, ncols, figsize=(w, h), constrained_layout=True, **kw)
