"""Rates figure: a_n, b_n, c_n against width (log-log) with fitted slopes and the sqrt(a_n) reference
that separates fast from weak transfer (paper §1.3–1.5)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .style import new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    t = inputs["transfer"]
    widths = t["width"].values.astype(float)
    fig, axes = new_figure(3, settings=settings, width_per=3.4)
    panels = (("a_n", "loss gap $a_n$", "alpha"), ("b_n", "HP gap $b_n$", "beta"), ("c_n", "transfer gap $c_n$", None))
    for ax, (name, label, exponent) in zip(axes, panels):
        y = t[name].values
        ok = np.isfinite(y) & (y > 0)
        ax.loglog(widths[ok], y[ok], "o-", color="tab:blue", label=label)
        if exponent and np.isfinite(float(t[exponent])) and ok.sum() >= 2:
            e = float(t[exponent])
            ref = y[ok][0] * (widths[ok] / widths[ok][0]) ** (-e)
            ax.loglog(widths[ok], ref, ":", color="black", label=f"fit: n$^{{-{e:.2f}}}$")
        if name == "b_n" and np.isfinite(t["a_n"].values).any():
            a = t["a_n"].values
            okb = ok & np.isfinite(a) & (a > 0)
            if okb.any():
                ax.loglog(widths[okb], np.sqrt(a[okb]), "--", color="tab:red", label=r"$\sqrt{a_n}$")
        ax.set_xlabel("width n")
        ax.set_title(label)
        ax.legend()
    fig.suptitle(f"{t.attrs.get('study', '')}: verdict {str(t['verdict'].values)}")
    return fig
