"""The Mean Component Index (paper Fig 14): (a) its histogram over the validation examples of the
reference run (log counts); (b) heatmaps of the mean overlap of the hardest and easiest examples
across widths (seed pairs averaged).

Settings: ``<hp>`` (e.g. ``lr``: the heatmaps' learning rate, nearest grid point; default the
reference run's), ``widths`` (heatmap widths; default all), ``bins`` (40)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .findings import overlap_level
from .selection import nearest_grid_value
from .style import new_figure


def chosen_lr(sw: xr.Dataset, settings: dict) -> float:
    """The LR of the overlap heatmaps: ``settings[hp]`` (nearest grid point), else the reference LR."""
    hp = sw.attrs.get("hp", "lr")
    return nearest_grid_value(sw, float(settings.get(hp, sw.attrs["reference_lr"])), hp)


def draw_histogram(ax, sw: xr.Dataset, bins: int = 40) -> None:
    mci = sw["mci_reference"].values
    mci = mci[np.isfinite(mci)]
    ax.hist(mci, bins=bins, color="tab:blue", alpha=0.8)
    ax.set_yscale("log")
    mean = float(np.mean(mci)) if mci.size else np.nan
    ax.axvline(mean, color="black", ls="--", lw=1, label=f"mean MCI = {mean:.2f}")
    ax.set_xlabel("mean component index")
    ax.set_ylabel("count")
    ax.legend()


def draw_overlap(ax, values: np.ndarray, widths, vmin: float, vmax: float, title: str):
    im = ax.imshow(values, vmin=vmin, vmax=vmax, cmap="viridis", origin="upper")
    labels = [str(int(w)) for w in widths]
    ax.set_xticks(range(len(widths)), labels, rotation=45)
    ax.set_yticks(range(len(widths)), labels)
    ax.set_xlabel("width")
    ax.set_ylabel("width")
    ax.grid(False)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if values[i, j] < (vmin + vmax) / 2 else "black",
                )
    ax.set_title(title)
    return im


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sw = inputs["samplewise"]
    hp = sw.attrs.get("hp", "lr")
    lr = chosen_lr(sw, settings)
    fig, axes = new_figure(3, settings=settings, width_per=4.0, height=3.6)
    draw_histogram(axes[0], sw, int(settings.get("bins", 40)))
    axes[0].set_title(f"(a) MCI, n = {sw.attrs['reference_width']}, {hp} = {sw.attrs['reference_lr']:g}")
    ov = sw[["overlap_hard", "overlap_easy"]].sel({hp: lr})
    if "widths" in settings:  # e.g. the paper's 128…4096 without n_max
        keep = [int(w) for w in ov["width_a"].values if int(w) in {int(v) for v in settings["widths"]}]
        ov = ov.sel(width_a=keep, width_b=keep)
    hard, easy = ov["overlap_hard"].values, ov["overlap_easy"].values
    both = np.concatenate([hard[np.isfinite(hard)], easy[np.isfinite(easy)]])
    vmin, vmax = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    widths = ov["width_a"].values
    pct = f"{100 * float(sw.attrs['overlap_size']) / float(sw.attrs['n_samples']):.0f}%"
    draw_overlap(axes[1], hard, widths, vmin, vmax, f"(b) hardest {pct}, {hp} = {lr:g}")
    im = draw_overlap(axes[2], easy, widths, vmin, vmax, f"easiest {pct}, {hp} = {lr:g}")
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="mean fraction overlap")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """The mean overlap across widths against chance (report caption)."""
    sw = inputs["samplewise"]
    return [overlap_level(sw, chosen_lr(sw, settings))]
