"""Synthetic sweep datasets for tests: the layout hptransfer.collect gives sweep.nc, from a planted
loss law instead of training runs.

The contract (docs/outputs.md, "sweep.nc"; :func:`hptransfer.collect.collect_study`):

* dims ``([param,] width, <hp>, seed, ...)``: ``param`` only for several schemes (a single scheme
  is a scalar ``param`` coordinate, as collect's squeeze leaves it); ``width`` and ``seed`` are
  int64 coordinates, ``<hp>`` (named by the ``hp`` attribute) holds the swept values;
* the metric (attribute ``metric``, default ``final_loss_ema``) is NaN where the bool ``diverged``
  flag is set;
* an optional ``depth`` coordinate along ``width``;
* attributes ``study``, ``hp``, ``metric``, ``kind`` and ``config`` (the study block as sorted
  JSON; analyses read e.g. ``model`` and ``optimizer`` from it).

Typical use::

    def bowl(n, lr):  # the optimum drifts as 2^-6 n^-0.1
        return (np.log2(lr) + 6 + 0.1 * np.log2(n)) ** 2 + 3.0

    sweep = make_sweep(bowl, widths=(32, 64, 128), grid=2.0 ** np.arange(-10, -2), seeds=3,
                       noise=1e-3)
    mark_diverged(sweep, width=2, lr=slice(-2, None))  # the widest width blows up at large lr
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = ["make_sweep", "mark_diverged"]

# a planted law: clean (seed-independent) loss from the width, shape (W, 1), and the swept hp
# values, shape (1, G); it returns an array broadcastable to (W, G)
Law = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_sweep(
    loss: Law | Mapping[str, Law] | np.ndarray | None = None,
    *,
    widths: Sequence[int],
    grid: Sequence[float],
    seeds: int | Sequence[int] = 3,
    hp: str = "lr",
    params: str | Sequence[str] | None = None,
    noise: float = 0.0,
    rng_seed: int = 0,
    diverged: np.ndarray | None = None,
    depths: Sequence[int] | None = None,
    metric: str = "final_loss_ema",
    variables: Mapping[str, tuple] | None = None,
    coords: Mapping[str, Sequence] | None = None,
    study: str = "toy",
    kind: str = "lm",
    config: Mapping | None = None,
) -> xr.Dataset:
    """A sweep dataset with a planted metric.

    ``loss``: the planted law (see :data:`Law`), the same for every scheme; or a mapping
    ``{param: law}`` (which also names the schemes); or an array with the sweep's leading shape
    ``([P,] W, G, S)`` (or without the seed axis), used as is; or None for no metric variable (a
    sweep that only carries ``variables``).

    ``seeds``: the number of seeds (ids 0..S-1) or the ids. ``params``: a list of schemes gives
    the ``param`` dimension; one name gives a scalar ``param`` coordinate.

    ``noise``: standard deviation of Gaussian noise added to every run, drawn in one call with the
    metric's full shape from ``np.random.default_rng(rng_seed)`` (so a test can reproduce it).

    ``diverged``: bool array broadcastable to the leading shape; those runs are flagged and their
    metric set to NaN (later: :func:`mark_diverged`).

    ``variables``: further variables as xarray ``(dims, values)`` tuples with their full dims,
    e.g. per-run curves ``{"phi_k": (("width", "lr", "seed", "analysis_step", "k"), phi)}``;
    ``coords`` gives their extra coordinates (``k`` defaults to 1..K, as collect numbers the
    directions). ``config`` is merged over a study block built from the arguments.
    """
    widths = np.asarray(widths, dtype=np.int64)
    grid = np.asarray(grid, dtype=np.float64)
    seeds = np.arange(seeds, dtype=np.int64) if np.isscalar(seeds) else np.asarray(seeds, np.int64)
    if isinstance(loss, Mapping):
        params = list(loss) if params is None else params
        if list(params) != list(loss):
            raise ValueError(f"params {params} do not match the laws' keys {list(loss)}")
    stacked = params is not None and not isinstance(params, str)
    lead = (("param",) if stacked else ()) + ("width", hp, "seed")
    shape = ((len(params),) if stacked else ()) + (widths.size, grid.size, seeds.size)

    data = {}
    flags = np.zeros(shape, dtype=bool)
    if diverged is not None:
        flags |= np.broadcast_to(np.asarray(diverged, dtype=bool), shape)
    if loss is not None:
        values = _planted(loss, params if stacked else None, widths, grid, shape)
        if noise:
            values = values + noise * np.random.default_rng(rng_seed).standard_normal(shape)
        data[metric] = (lead, np.where(flags, np.nan, values))
    data["diverged"] = (lead, flags)
    data.update(variables or {})

    coordinates = {"width": widths, hp: grid, "seed": seeds}
    if params is not None:
        coordinates["param"] = list(params) if stacked else params
    if depths is not None:
        coordinates["depth"] = ("width", np.asarray(depths, dtype=np.int64))
    coordinates.update(coords or {})
    ds = xr.Dataset(data, coords=coordinates)
    if "k" in ds.dims and "k" not in ds.coords:
        ds = ds.assign_coords(k=np.arange(1, ds.sizes["k"] + 1, dtype=np.int64))

    block = {
        "kind": kind,
        "hp": hp,
        "grid": grid.tolist(),
        "widths": widths.tolist(),
        "seeds": seeds.tolist(),
        "parametrizations": [params] if isinstance(params, str) else list(params or []),
    }
    block.update(config or {})
    ds.attrs = {
        "study": study,
        "hp": hp,
        "metric": metric,
        "kind": kind,
        "config": json.dumps(block, sort_keys=True, default=float),
    }
    return ds


def _planted(loss, params, widths, grid, shape) -> np.ndarray:
    """The clean metric, broadcast to the leading shape (seeds share it)."""
    if not callable(loss) and not isinstance(loss, Mapping):
        values = np.asarray(loss, dtype=np.float64)
        return np.broadcast_to(values if values.ndim == len(shape) else values[..., None], shape).copy()
    n, v = widths.astype(np.float64)[:, None], grid[None, :]
    grid_shape = (widths.size, grid.size)
    if params is None:
        clean = np.broadcast_to(loss(n, v), grid_shape)
    else:
        laws = loss if isinstance(loss, Mapping) else {p: loss for p in params}
        clean = np.stack([np.broadcast_to(laws[p](n, v), grid_shape) for p in params])
    return np.broadcast_to(clean[..., None], shape).astype(np.float64)


def mark_diverged(sweep: xr.Dataset, **index) -> xr.Dataset:
    """Flag the runs at positional ``index`` (as for ``isel``: ints, slices, bool masks) diverged
    and set their metric to NaN, as collect records a diverged run. Changes ``sweep`` in place
    and returns it."""
    sweep["diverged"][index] = True
    metric = sweep.attrs["metric"]
    if metric in sweep:
        sweep[metric][index] = np.nan
    return sweep
