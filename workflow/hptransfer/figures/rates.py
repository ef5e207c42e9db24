"""Rates figure: a_n, b_n, c_n against width (log-log) with the fitted gap laws and the sqrt(a_n)
reference that separates fast from weak transfer (paper §1.3–1.5)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .findings import edge_optima
from .panels import log2_axis
from .style import new_figure


def gap_law(widths: np.ndarray, gaps: np.ndarray, exponent: float, n_max: float | None):
    """The fitted gap law through the measured gaps: A (n^-x - n_max^-x) where the largest width
    stands in for infinity (the model the rate was fitted with), A n^-x against fitted limits.

    The amplitude is the least-squares one in log space for the fitted exponent (as
    :func:`hptransfer.analysis.fits.fit_power` has it). Returns (n, law) on a fine grid over the
    measured widths.
    """

    def shape(n):
        return n ** (-exponent) - (n_max ** (-exponent) if n_max is not None else 0.0)

    log_amp = float(np.mean(np.log(gaps) - np.log(shape(widths))))
    fine = np.geomspace(widths.min(), widths.max(), 100)
    return fine, np.exp(log_amp) * shape(fine)


def _law_label(t: xr.Dataset, exponent: str, n_max: float | None) -> str:
    """ "fit A(n^-α − n_max^-α), α = 0.94 ± 0.05" (± the standard error, where the fit has one)."""
    e = float(t[exponent])
    se = float(t[f"{exponent}_se"]) if f"{exponent}_se" in t else np.nan
    x = {"alpha": "α", "beta": "β"}[exponent]
    law = f"A(n$^{{-{x}}}$ − {n_max:g}$^{{-{x}}}$)" if n_max is not None else f"A n$^{{-{x}}}$"
    spread = f" ± {se:.2g}" if np.isfinite(se) else ""
    return f"fit {law}, {x} = {e:.2f}{spread}"


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    t = inputs["transfer"]
    widths = t["width"].values.astype(float)
    # with infinity = n_max the gaps are measured against the largest width used in the fits
    used = t["used_in_fit"].values.astype(bool) if "used_in_fit" in t else np.ones(widths.size, bool)
    against_n_max = t.attrs.get("infinity") == "n_max"
    n_max = float(widths[used].max()) if against_n_max and used.any() else None
    fig, axes = new_figure(3, settings=settings, width_per=3.4)
    panels = (("a_n", "loss gap $a_n$", "alpha"), ("b_n", "HP gap $b_n$", "beta"), ("c_n", "transfer gap $c_n$", None))
    for ax, (name, label, exponent) in zip(axes, panels):
        y = t[name].values
        ok = np.isfinite(y) & (y > 0)
        ax.loglog(widths[ok], y[ok], "o-", color="tab:blue", label=label)
        if not ok.any():
            ax.text(
                0.5,
                0.5,
                "no gap to show: too few widths\nwith an interior optimum",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                color="0.35",
            )
        if exponent and np.isfinite(float(t[exponent])) and ok.sum() >= 2:
            fine, law = gap_law(widths[ok], y[ok], float(t[exponent]), n_max)
            ax.plot(fine, law, ":", color="black", label=_law_label(t, exponent, n_max))
        if name == "b_n" and np.isfinite(t["a_n"].values).any():
            a = t["a_n"].values
            okb = ok & np.isfinite(a) & (a > 0)
            if okb.any():
                ax.loglog(widths[okb], np.sqrt(a[okb]), "--", color="tab:red", label=r"$\sqrt{a_n}$")
        log2_axis(ax, "x")
        ax.set_xlim(widths.min() / 2**0.25, widths.max() * 2**0.25)
        ax.set_xlabel("width n")
        ax.set_title(label)
        if ok.any():
            ax.legend(fontsize=7.5)
    infinity = ("∞ = n_max" + (f" = {n_max:g}" if n_max is not None else "")) if against_n_max else "∞ = fitted limits"
    fig.suptitle(f"{t.attrs.get('study', '')}: verdict {str(t['verdict'].values)} ({infinity})")
    return fig


def findings(inputs: dict[str, xr.Dataset], settings: dict) -> list[str]:
    """Which widths the rates could use (report caption; the rates and verdict follow)."""
    t = inputs["transfer"]
    parts = [(None, t)] if "param" not in t.dims else [(str(p), t.sel(param=p)) for p in t["param"].values]
    return [(f"scheme {p}: " if p else "") + edge_optima(part) for p, part in parts]
