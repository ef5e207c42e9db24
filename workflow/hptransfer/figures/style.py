"""The one look of every figure, before anything is drawn: matplotlib settings and figure sizes,
colours (viridis by width, one colour per scheme), marker styles (stars at optima) and the words on
the figures (axis labels, width and panel labels, fitted laws as "L = c + A·n^-α").

Nothing here takes an Axes: drawing on one is :mod:`.panels`' job.
"""

from __future__ import annotations

from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
import xarray as xr  # noqa: E402

RC = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "pdf.fonttype": 42,
    "svg.hashsalt": "hptransfer",
    "path.simplify": False,
}


@contextmanager
def figure_style():
    with sns.axes_style("whitegrid"), plt.rc_context(RC):
        yield


def new_figure(
    ncols: int = 1, nrows: int = 1, settings: dict | None = None, width_per: float = 4.2, height: float = 3.4, **kw
):
    settings = settings or {}
    w = settings.get("width_in", width_per * ncols)
    h = settings.get("height_in", height * nrows)
    return plt.subplots(nrows, ncols, figsize=(w, h), constrained_layout=True, **kw)


# ------------------------------------------------------------------------------------- colours

# "n = ∞": the infinite-width limit of a schematic or a theory curve
INFINITY_COLOR = "#d62728"


def width_colors(widths) -> dict:
    """Viridis by width: light/yellow for small, dark purple for large (paper convention)."""
    widths = sorted(widths)
    cmap = plt.get_cmap("viridis_r")
    pos = np.linspace(0.1, 0.95, len(widths)) if len(widths) > 1 else [0.5]
    return {w: cmap(p) for w, p in zip(widths, pos)}


def shades(cmap: str, count: int) -> list:
    """``count`` shades of a sequential colormap, light (small n) to dark (large n)."""
    positions = np.linspace(0.45, 0.95, count) if count > 1 else np.full(count, 0.75)
    return list(plt.get_cmap(cmap)(positions))


SCHEME_COLORS = {"sp": "tab:red", "mup": "tab:blue", "adaptive": "tab:green"}
OTHER_SCHEME_COLORS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
SCHEME_MARKERS = {"sp": "s", "mup": "o", "adaptive": "^"}


def scheme_colors(params) -> dict:
    """One colour per parametrization scheme, shared by the compare_* figures: fixed colours for
    sp / mup / adaptive, then a cycle for user tables (in config order)."""
    others = iter(OTHER_SCHEME_COLORS * 4)
    return {str(p): SCHEME_COLORS.get(str(p)) or next(others) for p in params}


def scheme_marker(param) -> str:
    return SCHEME_MARKERS.get(str(param), "D")


# ------------------------------------------------------------------------------------- markers

STAR = dict(marker="*", s=180, color="red", edgecolor="black", linewidths=0.6, zorder=5)
EDGE_STAR = dict(marker="*", s=180, facecolor="none", edgecolor="red", linewidths=1.2, zorder=5)


# -------------------------------------------------------------------------------------- labels

HP_LABELS = {
    "lr": "learning rate",
    "beta1": r"$(1-\beta_1)^{-1}$",
    "beta2": r"$(1-\beta_2)^{-1}$",
    "momentum": "momentum",
    "weight_decay": "weight decay",
}
# loss axis of the two-layer sweeps, by task
TASK_LOSS_LABELS = {"kindex": "validation MSE", "sphere": "validation BCE"}


def hp_label(hp: str) -> str:
    return HP_LABELS.get(hp, hp)


def task_loss_label(sweep: xr.Dataset) -> str:
    """Loss axis of a two-layer sweep (its task's validation metric)."""
    return TASK_LOSS_LABELS.get(sweep.attrs.get("task", ""), "validation loss")


def ema_loss_label(sweep: xr.Dataset) -> str:
    """Loss axis of an LM (or image) sweep: the EMA validation loss, final or at ``analysis.step``."""
    step = sweep.attrs.get("analysis_step")
    return "final EMA validation loss" if step is None else f"EMA validation loss at step {int(step)}"


def width_label(width: int, n_max: int | None = None) -> str:
    return f"n = {int(width)}" + (" (∞)" if n_max is not None and int(width) == int(n_max) else "")


def panel_label(index: int, count: int = 2) -> str:
    """ "(a) ", "(b) ", … for the panels of a figure with more than one, "" otherwise."""
    return f"({chr(ord('a') + index)}) " if count > 1 else ""


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


def lr_law_label(law: dict) -> str:
    """Legend text for the learning-rate law log2 η* = D − B·n^-β (transfer.nc ``lr_law_*``)."""
    if not all(np.isfinite(law[k]) for k in ("B", "beta", "D")):
        return r"$\log_2\eta^*$: fit unavailable"
    if not law["identified"]:
        return r"$\log_2\eta^*$: " + UNIDENTIFIED
    return rf"$\log_2\eta^*$ = {law['D']:.2f} − {law['B']:.3g}·n$^{{-{law['beta']:.3f}}}$"
