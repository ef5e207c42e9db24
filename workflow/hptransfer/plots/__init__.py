"""Figures: one module per figure (``draw(inputs, settings) -> Figure``), one shared style."""
