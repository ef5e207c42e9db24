"""Parametrizations: the tables (SP, µP, adaptive, user tables; plain data), how a table is applied
to a model and its optimizer groups (:mod:`.apply`), and the coordinate check that tests it
(:mod:`.coordcheck`).

Nothing is imported here: :mod:`.tables` must stay importable without torch (Snakemake reads the
config on a login node), the rest needs it.
"""
