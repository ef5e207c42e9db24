"""The validation examples of the reference run with the lowest (left) and highest (right) MCI, and
under each its per-example components ψ_ij against j (paper Fig 15)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .style import new_figure


def draw(inputs: dict[str, xr.Dataset], settings: dict):
    sw = inputs["samplewise"]
    n_ex = sw.sizes["rank"]
    fig, axes = new_figure(
        2 * n_ex, 2, settings=settings, width_per=1.7, height=1.9, gridspec_kw={"height_ratios": [1.2, 1]}
    )
    j = sw["component"].values
    psi = sw["example_psi"]
    lim = float(np.nanmax(np.abs(psi.values))) if np.isfinite(psi.values).any() else 1.0
    for s, side in enumerate(sw["side"].values):
        for r in range(n_ex):
            col = s * n_ex + r
            ax_img, ax_psi = axes[0, col], axes[1, col]
            ex = sw.isel(side=s, rank=r)
            if "example_image" in sw:
                img = ex["example_image"].values
                ax_img.imshow(
                    img[..., 0] if img.shape[-1] == 1 else img,
                    cmap="gray_r" if img.shape[-1] == 1 else None,
                    interpolation="nearest",
                    vmin=0,
                    vmax=1,
                )
            ax_img.set_xticks([])
            ax_img.set_yticks([])
            ax_img.grid(False)
            ax_img.set_title(f"MCI = {float(ex['example_mci']):.1f}\nlabel {int(ex['example_label'])}", fontsize=8)
            color = "tab:blue" if side == "lowest" else "tab:red"
            ax_psi.bar(j, ex["example_psi"].values, color=color, width=1.0)
            ax_psi.axhline(0, color="grey", lw=0.5)
            ax_psi.set_ylim(-1.05 * lim, 1.05 * lim)
            ax_psi.set_xlabel("j", fontsize=8)
            ax_psi.tick_params(labelsize=6)
            if col:
                ax_psi.set_yticklabels([])
            else:
                ax_psi.set_ylabel(r"$\psi_{ij}$")
    hp = sw.attrs.get("hp", "lr")
    fig.suptitle(
        f"{sw.attrs.get('study', '')}: lowest MCI (left, blue) and highest MCI (right, red), "
        f"n = {sw.attrs['reference_width']}, {hp} = {sw.attrs['reference_lr']:g}",
        fontsize=10,
    )
    return fig
