"""Synthetic studies of paper.md §2 (random-features ridge, :mod:`.rf`) and §3 (the two-layer ReLU
nets' data, :mod:`.twolayer`)."""
