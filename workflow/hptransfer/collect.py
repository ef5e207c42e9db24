"""All run datasets of a study → one sweep dataset with dims ([param,] width, <hp>, seed, …).

Per-run curves keep their own dims (``step``, ``eval_step``, ``k``, …); runs that are shorter (a
diverged run) or narrower (``k`` runs to each run's width) are padded with NaN, so
``sweep.phi_k.sel(width=64, lr=0.004)`` just works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from .io import TWOLAYER_LOSS_UNITS, describe, open_dataset
from .studies import kind_of

RUN_VARIABLES = (
    "final_loss_ema",
    "final_loss_iterate",
    "diverged",
    "linearization_gap",
    "loss_train",
    "loss_val_ema",
    "loss_val_iterate",
    "loss_linearized",
    "phi_topk",
    "phi_k",
    # sample-wise study (per validation example; the sample × component psi stays in run.nc)
    "val_loss_per_sample",
    "psi_total",
    "mci",
)


def collect(paths: list[str | Path], study: str, study_cfg: dict) -> xr.Dataset:
    """The sweep of a study from its run datasets, stacked by its kind's collector."""
    return COLLECTORS[kind_of(study_cfg).collector](paths, study, study_cfg)


def run_coordinates(ds: xr.Dataset) -> dict:
    return {
        "param": ds.attrs["parametrization"],
        "width": int(ds.attrs["width"]),
        "hp": float(ds.attrs["hp_value"]),
        "seed": int(ds.attrs["seed"]),
    }


def collect_study(paths: list[str | Path], study: str, study_cfg: dict) -> xr.Dataset:
    runs = [open_dataset(p) for p in paths]
    hp = study_cfg["hp"]
    lead = {
        "param": list(study_cfg["parametrizations"]),
        "width": sorted(int(w) for w in study_cfg["widths"]),
        hp: sorted(float(v) for v in study_cfg["grid"]),
        "seed": sorted(int(s) for s in study_cfg["seeds"]),
    }
    index = {run_key(r, hp): r for r in runs}
    missing = [k for k in _all_keys(lead, hp) if k not in index]
    if missing:
        raise ValueError(f"collect {study}: no run for {missing[:3]} (and {max(0, len(missing) - 3)} more)")
    data_vars = {}
    for name in RUN_VARIABLES:
        present = [r[name] for r in runs if name in r]
        if present:
            data_vars[name] = _stack(name, present[0], index, lead, hp)
    ds = xr.Dataset(data_vars)
    ds["diverged"] = ds["diverged"].astype(bool)
    depth = {w: int(next(r.attrs["depth"] for r in runs if int(r.attrs["width"]) == w)) for w in lead["width"]}
    ds = ds.assign_coords(depth=("width", [depth[w] for w in lead["width"]]))
    if len(lead["param"]) == 1 and not kind_of(study_cfg).keeps_param_dim:
        ds = ds.squeeze("param", drop=False)
    loss_units = next((r["loss_train"].attrs.get("units") for r in runs if "loss_train" in r), None)
    ds = described(ds, runs, loss_units)
    ds.attrs = {
        "study": study,
        "hp": hp,
        "metric": "final_loss_ema",
        "kind": study_cfg["kind"],
        "config": json.dumps(study_cfg, sort_keys=True, default=float),
    }
    step = study_cfg.get("analysis", {}).get("step")
    return ds if step is None else with_metric_at_step(ds, int(step))


def with_metric_at_step(sweep: xr.Dataset, step: int) -> xr.Dataset:
    """Make the EMA validation loss at ``step`` the metric every analysis and figure reads.

    The paper analyses GPT-2 + Adam at step 2860 of ≈3815 (its Figs 27-30). A run that diverged at
    any point counts as diverged, as it does for the final loss: its hyperparameter is not a choice
    one could train with to the end.
    """
    if step not in sweep["eval_step"].values:
        raise ValueError(
            f"analysis.step {step}: the runs recorded no EMA validation loss there "
            f"(recorded steps end at {int(sweep['eval_step'].max())}); list it in "
            "decomposition.analysis_steps"
        )
    loss = sweep["loss_val_ema"].sel(eval_step=step, drop=True)
    sweep["loss_ema_at_step"] = loss.where(~sweep["diverged"]).assign_attrs(
        long_name=f"validation loss of the EMA weights at step {step} (NaN if the run diverged)",
        units=sweep["loss_val_ema"].attrs.get("units", ""),
    )
    sweep.attrs.update(metric="loss_ema_at_step", analysis_step=step)
    return sweep


def described(sweep: xr.Dataset, runs: list[xr.Dataset], loss_units: str | None) -> xr.Dataset:
    """The sweep with each variable and coordinate described as its runs describe it, then, for what
    they leave out (runs written before every variable was described), as the contract does
    (:func:`hptransfer.io.describe`), so that old runs still collect into a described sweep."""
    sweep = sweep.copy()
    for name, var in sweep.variables.items():
        own = next((r.variables[name].attrs for r in runs if name in r.variables), {})
        for key in ("long_name", "units"):
            if own.get(key) and not var.attrs.get(key):
                var.attrs[key] = own[key]
    return describe(sweep, loss_units=loss_units)


def run_key(ds: xr.Dataset, hp: str) -> tuple:
    c = run_coordinates(ds)
    return (c["param"], c["width"], c["hp"], c["seed"])


def _all_keys(lead: dict, hp: str):
    for p in lead["param"]:
        for w in lead["width"]:
            for v in lead[hp]:
                for s in lead["seed"]:
                    yield (p, w, v, s)


def _stack(name: str, template: xr.DataArray, index: dict, lead: dict, hp: str) -> xr.DataArray:
    """One variable over all runs, per-run dims padded to the union of their coordinates."""
    runs = list(index.values())
    inner_coords = {d: _union_coord([r[d].values for r in runs if d in r.coords]) for d in template.dims}
    shape = [len(v) for v in lead.values()] + [len(c) for c in inner_coords.values()]
    fill = np.nan if template.dtype.kind == "f" else 0
    values = np.full(shape, fill, dtype=np.float64 if template.dtype.kind == "f" else template.dtype)
    for i, p in enumerate(lead["param"]):
        for j, w in enumerate(lead["width"]):
            for k, v in enumerate(lead[hp]):
                for m, s in enumerate(lead["seed"]):
                    run = index[(p, w, v, s)][name]
                    slot = tuple(np.searchsorted(inner_coords[d], run[d].values) for d in run.dims)
                    values[(i, j, k, m) + np.ix_(*slot)] = run.values
    coords = {**{d: v for d, v in lead.items()}, **inner_coords}
    return xr.DataArray(values, dims=list(lead) + list(template.dims), coords=coords, attrs=template.attrs)


def _union_coord(arrays: list[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate(arrays)) if arrays else np.array([])


def collect_batched(paths: list[str | Path], study: str, study_cfg: dict) -> xr.Dataset:
    """Per-width datasets of batched two-layer training (dims lr × seed) → sweep (width × lr × seed)."""
    parts = [open_dataset(p) for p in paths]
    parts.sort(key=lambda d: int(d.attrs["width"]))
    ds = xr.concat([p.expand_dims(width=[int(p.attrs["width"])]) for p in parts], dim="width", combine_attrs="drop")
    ds["diverged"] = ds["diverged"].astype(bool)
    ds = described(ds, parts, TWOLAYER_LOSS_UNITS.get(parts[0].attrs.get("loss", "")))
    ds.attrs = {
        "study": study,
        "hp": "lr",
        "metric": "final_loss_val",
        "kind": study_cfg["kind"],
        "task": study_cfg["task"],
        "parametrization": parts[0].attrs.get("parametrization", "mup"),
        "config": json.dumps(study_cfg, sort_keys=True, default=float),
    }
    return ds


# the registry names each kind's collector (hptransfer.studies), so the registry stays free of xarray
COLLECTORS = {"collect_study": collect_study, "collect_batched": collect_batched}
