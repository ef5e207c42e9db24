"""Draw a figure module's figure from dataset files and save it as PDF and PNG, deterministically."""

from __future__ import annotations

import importlib
import io

import matplotlib.pyplot as plt

from ..io import open_dataset, write_bytes
from .style import figure_style

# No creation dates in the files, so the same data and code give the same bytes.
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "hptransfer"}
PNG_METADATA = {"Software": None}


def drawer(module: str):
    """The drawer module ``module`` of this package (its ``draw``, and its ``findings`` if any)."""
    return importlib.import_module(f"{__package__}.{module}")


def render_figure(module: str, dataset_paths: dict[str, str], settings: dict, pdf: str, png: str) -> None:
    draw = drawer(module).draw
    inputs = {name: open_dataset(path) for name, path in dataset_paths.items()}
    with figure_style():
        fig = draw(inputs, settings)
        save_figure(fig, pdf, png, dpi=settings.get("dpi", 200))
    plt.close(fig)


def save_figure(fig, pdf: str, png: str, dpi: int = 200) -> None:
    """Save ``fig`` as PDF and PNG. The page is cropped to what is drawn, so a title or label wider
    than the figure (constrained layout moves axes, never text) widens the page instead of being cut."""
    for path, fmt, meta in ((pdf, "pdf", PDF_METADATA), (png, "png", PNG_METADATA)):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, bbox_inches="tight", pad_inches=0.05)
        write_bytes(buf.getvalue(), path)
