"""Figures: the catalogue (:mod:`.catalogue`: which figure each study feeds, drawn by which module),
one drawer module per kind of figure, named by what it draws (``draw(inputs, settings) -> Figure``),
and the helpers the drawers share (drawers never import each other):

* :mod:`.style`: the look: matplotlib settings, figure sizes, colours, marker styles, labels;
* :mod:`.panels`: drawing on one Axes: axis coordinates and scales, stars, legends, shared panels;
* :mod:`.selection`: what a figure shows: chosen values, widths, studies, fits, seed statistics;
* :mod:`.decomposition_curves`: curves derived from the decomposition, smoothed, with optima;
* :mod:`.render`: draw a figure from dataset files and save it deterministically.
"""
