"""Synthetic studies of paper.md §2 (random-features ridge, :mod:`.rf`) and §3 (two-layer ReLU nets, :mod:`.twolayer`)."""
